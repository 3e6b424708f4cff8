//! Bad input gets the documented error shape; HTTP hygiene headers are everywhere.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{assert_error, spawn_app, spawn_app_with};

#[tokio::test]
async fn malformed_and_mistyped_json_get_the_error_shape() {
    let app = spawn_app().await;
    let post = |body: &'static str, ctype: &'static str| {
        app.client
            .post(app.url("/api/v1/auth/login"))
            .header("content-type", ctype)
            .body(body)
            .send()
    };
    assert_error(
        post("{not json", "application/json")
            .await
            .expect("request"),
        StatusCode::BAD_REQUEST,
        "MALFORMED_JSON",
    )
    .await;
    assert_error(
        post("", "application/json").await.expect("request"),
        StatusCode::BAD_REQUEST,
        "MALFORMED_JSON",
    )
    .await;
    assert_error(
        post(r#"{"username": 5, "password": []}"#, "application/json")
            .await
            .expect("request"),
        StatusCode::UNPROCESSABLE_ENTITY,
        "INVALID_BODY",
    )
    .await;
    assert_error(
        post(r#"{"username": "a"}"#, "application/json")
            .await
            .expect("request"),
        StatusCode::UNPROCESSABLE_ENTITY,
        "INVALID_BODY",
    )
    .await;
    assert_error(
        post(r#"{"username": "a", "password": "b"}"#, "text/plain")
            .await
            .expect("request"),
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "UNSUPPORTED_MEDIA_TYPE",
    )
    .await;
    let res = app
        .client
        .post(app.url("/api/v1/auth/refresh"))
        .header("content-type", "application/json")
        .body(r#"{"refresh_token": "#)
        .send()
        .await
        .expect("request");
    assert_error(res, StatusCode::BAD_REQUEST, "MALFORMED_JSON").await;
}

#[tokio::test]
async fn oversized_bodies_are_refused_with_413() {
    let app = spawn_app_with(|s| s.max_body_bytes = 1024).await;
    let big = "x".repeat(4096);
    let res = app
        .post_json(
            "/api/v1/auth/register",
            &json!({"username": "big", "password": big}),
        )
        .await;
    assert_error(res, StatusCode::PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE").await;
}

#[tokio::test]
async fn unknown_routes_and_methods_get_json_404() {
    let app = spawn_app().await;
    let res = app
        .client
        .get(app.url("/api/v1/nothing-here"))
        .send()
        .await
        .expect("request");
    assert_error(res, StatusCode::NOT_FOUND, "NOT_FOUND").await;
    let res = app
        .client
        .delete(app.url("/api/v1/auth/me"))
        .send()
        .await
        .expect("request");
    assert_error(res, StatusCode::NOT_FOUND, "NOT_FOUND").await;
}

#[tokio::test]
async fn responses_carry_security_headers_and_the_request_id() {
    let app = spawn_app().await;
    let res = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", "trace-me-123")
        .send()
        .await
        .expect("request");
    let h = res.headers();
    assert_eq!(h["x-request-id"], "trace-me-123");
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["referrer-policy"], "no-referrer");
    assert!(h["content-security-policy"]
        .to_str()
        .expect("ascii")
        .contains("frame-ancestors 'none'"));

    let res = app
        .client
        .get(app.url("/api/v1/nothing"))
        .send()
        .await
        .expect("request");
    let generated = res.headers()["x-request-id"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(
        uuid::Uuid::parse_str(&generated).is_ok(),
        "a fresh id is generated: {generated}"
    );
    assert_eq!(
        res.headers()["x-content-type-options"],
        "nosniff",
        "errors get the headers too"
    );

    let res = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", "bad id with spaces")
        .send()
        .await
        .expect("request");
    assert_ne!(res.headers()["x-request-id"], "bad id with spaces");
}

#[tokio::test]
async fn cors_is_closed_by_default_and_opens_for_listed_origins() {
    let preflight = |app: &crate::helpers::TestApp, origin: &str| {
        app.client
            .request(reqwest::Method::OPTIONS, app.url("/api/v1/auth/me"))
            .header("origin", origin.to_owned())
            .header("access-control-request-method", "GET")
            .send()
    };
    let closed = spawn_app().await;
    let res = preflight(&closed, "https://app.example.org")
        .await
        .expect("request");
    assert!(res.headers().get("access-control-allow-origin").is_none());

    let open = spawn_app_with(|s| s.cors_origins = vec!["https://app.example.org".into()]).await;
    let res = preflight(&open, "https://app.example.org")
        .await
        .expect("request");
    assert_eq!(
        res.headers()["access-control-allow-origin"],
        "https://app.example.org"
    );
    let res = preflight(&open, "https://evil.example.org")
        .await
        .expect("request");
    assert!(res.headers().get("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn health_and_readiness() {
    let app = spawn_app().await;
    let res = app
        .client
        .get(app.url("/healthz"))
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), StatusCode::OK);
    let res = app
        .client
        .get(app.url("/readyz"))
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), StatusCode::OK);
    let body: serde_json::Value = res.json().await.expect("json");
    assert_eq!(
        body,
        json!({"status": "ok", "database": true, "object_store": true})
    );
}

/// `/readyz` of an app that is not ready: asserts the 503, returns the body.
async fn not_ready(app: &crate::helpers::TestApp) -> serde_json::Value {
    let res = app
        .client
        .get(app.url("/readyz"))
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    res.json().await.expect("json")
}

#[tokio::test]
async fn readiness_fails_when_the_store_is_unreachable() {
    // An external endpoint on a port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let app = spawn_app_with(|s| {
        s.s3.endpoint = Some(format!("http://127.0.0.1:{port}"));
        s.s3.access_key = Some("key".to_owned().into());
        s.s3.secret_key = Some("secret".to_owned().into());
    })
    .await;
    let body = not_ready(&app).await;
    assert_eq!(body["object_store"], false);
    assert_eq!(body["database"], true);
}

#[tokio::test]
async fn a_store_refusing_the_servers_own_requests_is_a_500_not_a_retry() {
    // `a` has a working store; `b` reaches the same store and bucket with a wrong secret.
    let a = spawn_app().await;
    let alice = a.user("alice").await;
    let started = a.started(&alice.access, "x.bin", 4, "text/plain").await;
    let put = reqwest::Url::parse(started.body["put"]["url"].as_str().expect("url")).expect("url");
    let endpoint = format!(
        "{}://{}:{}",
        put.scheme(),
        put.host_str().expect("host"),
        put.port_or_known_default().expect("port")
    );
    let bucket = put
        .path_segments()
        .and_then(|mut s| s.next())
        .expect("path-style bucket")
        .to_owned();
    let credential = put
        .query_pairs()
        .find(|(k, _)| k == "X-Amz-Credential")
        .expect("credential")
        .1
        .into_owned();
    let parts: Vec<&str> = credential.split('/').collect();
    let (access_key, region) = (parts[0].to_owned(), parts[2].to_owned());
    let b = spawn_app_with(|s| {
        s.s3.endpoint = Some(endpoint);
        s.s3.bucket = bucket;
        s.s3.region = region;
        s.s3.access_key = Some(access_key.into());
        s.s3.secret_key = Some("not the secret".to_owned().into());
    })
    .await;

    let bob = b.user("bob").await;
    let started = b.started(&bob.access, "y.bin", 4, "text/plain").await;
    let res = b
        .post_auth(
            &format!("/api/v1/uploads/{}/complete", started.upload_id),
            &bob.access,
            &json!({}),
        )
        .await;
    assert!(
        res.headers().get("retry-after").is_none(),
        "nothing to retry"
    );
    assert_error(res, StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL_ERROR").await;

    let body = not_ready(&b).await;
    assert_eq!(body["object_store"], false);
}
