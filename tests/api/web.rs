//! The web interface's needs of the store: the embedded S3 server lets pages from the
//! configured origins PUT through presigned URLs (CORS), and no other origin.

use reqwest::{Method, StatusCode};

use coffer::storage::embedded::EmbeddedS3;

use crate::helpers::{spawn_app_with, TempDir};

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

/// Whichever store the suite runs on (embedded, or Garage, whose bucket rule cofferd
/// sets at start-up), a page from a web origin may PUT through a presigned URL.
#[tokio::test]
async fn the_store_lets_the_web_origins_put_through_presigned_urls() {
    let page = "http://pages.example:8080";
    let app = spawn_app_with(|s| s.web_origins = vec![page.to_owned()]).await;
    let t = app.user("wendy").await;
    let body = b"from a browser".to_vec();
    let started = app
        .started(&t.access, "page.txt", body.len(), "text/plain")
        .await;
    let put = &started.body["put"];
    let url = put["url"].as_str().expect("a PUT URL");
    let client = reqwest::Client::new();
    let preflight = |origin: &'static str| {
        client
            .request(Method::OPTIONS, url)
            .header("origin", origin)
            .header("access-control-request-method", "PUT")
            .header("access-control-request-headers", "content-type")
            .send()
    };
    let res = preflight(page).await.expect("a preflight");
    assert!(res.status().is_success(), "{}", res.status());
    assert_eq!(res.headers()["access-control-allow-origin"], page);
    // Another origin's preflight is refused (Garage answers 403, and puts `*` on its
    // error answers, which a browser does not take as a grant) or granted nothing.
    let res = preflight("http://evil.example").await.expect("a preflight");
    assert!(
        !res.status().is_success() || res.headers().get("access-control-allow-origin").is_none(),
        "{} {:?}",
        res.status(),
        res.headers()
    );

    // The PUT itself, as the page sends it: the grant and the ETag are readable.
    let mut req = client.put(url).header("origin", page).body(body.clone());
    for (k, v) in put["headers"].as_object().expect("headers") {
        if k != "Content-Length" {
            req = req.header(k.as_str(), v.as_str().expect("a value"));
        }
    }
    let res = req.send().await.expect("the PUT");
    assert!(res.status().is_success(), "{}", res.status());
    assert_eq!(res.headers()["access-control-allow-origin"], page);
    assert!(res
        .headers()
        .get("access-control-expose-headers")
        .is_some_and(|v| v
            .to_str()
            .unwrap_or_default()
            .to_ascii_lowercase()
            .contains("etag")));
    let done = app
        .post_auth(
            &format!("/api/v1/uploads/{}/complete", started.upload_id),
            &t.access,
            &serde_json::json!({}),
        )
        .await;
    assert_eq!(done.status(), StatusCode::OK);
    let file: serde_json::Value = done.json().await.expect("json");
    let got = app
        .download(&t.access, file["id"].as_str().expect("id"))
        .await
        .bytes()
        .await
        .expect("bytes");
    assert_eq!(got.as_ref(), body.as_slice());
}
