//! The web interface's needs of the store: the embedded S3 server lets pages from the
//! configured origins PUT through presigned URLs (CORS), and no other origin.

use reqwest::{Method, StatusCode};

use coffer::storage::embedded::EmbeddedS3;

use crate::helpers::TempDir;

#[tokio::test]
async fn the_embedded_store_answers_cors_for_the_web_origins_only() {
    let dir = TempDir(std::env::temp_dir().join(format!("coffer-cors-{}", uuid::Uuid::new_v4())));
    let page = "http://files.lab:8080";
    let store = EmbeddedS3::start(&dir.0, 0, vec![page.to_owned()])
        .await
        .expect("the embedded store");
    let url = format!("{}/coffer/some/key", store.endpoint());
    let client = reqwest::Client::new();
    let preflight = |origin: &'static str| {
        client
            .request(Method::OPTIONS, &url)
            .header("origin", origin)
            .header("access-control-request-method", "PUT")
            .header(
                "access-control-request-headers",
                "content-type,x-amz-checksum-sha256",
            )
            .send()
    };
    let res = preflight(page).await.expect("a preflight");
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let h = res.headers();
    assert_eq!(h["access-control-allow-origin"], page);
    assert!(h["access-control-allow-methods"]
        .to_str()
        .expect("ascii")
        .contains("PUT"));
    assert_eq!(
        h["access-control-allow-headers"],
        "content-type,x-amz-checksum-sha256"
    );
    assert_eq!(h["access-control-expose-headers"], "ETag");

    // Another origin gets no grant: its script cannot use the store.
    let res = preflight("http://evil.example").await.expect("a preflight");
    assert!(res.headers().get("access-control-allow-origin").is_none());
    assert!(res.headers().get("access-control-allow-methods").is_none());

    // A request itself (here refused: no signature) carries the grant for the page only.
    let res = client
        .get(&url)
        .header("origin", page)
        .send()
        .await
        .expect("a GET");
    assert!(res.status().is_client_error());
    assert_eq!(res.headers()["access-control-allow-origin"], page);
    let res = client
        .get(&url)
        .header("origin", "http://evil.example")
        .send()
        .await
        .expect("a GET");
    assert!(res.headers().get("access-control-allow-origin").is_none());
}
