//! Logs: one line per request with its id, user, route, status and latency; never a
//! password or a token.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{captured_logs, spawn_app, tokens_of};

#[tokio::test]
async fn passwords_and_tokens_never_reach_the_logs() {
    let app = spawn_app().await;
    let password = "unmistakable-secret-pass-4711";
    let res = app
        .post_json(
            "/api/v1/auth/register",
            &json!({"username": "logcheck", "password": password}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let t = tokens_of(app.login("logcheck", password).await).await;
    // A failed login and a failed refresh too: errors are where secrets tend to leak.
    app.login("logcheck", "wrong-unmistakable-password-99")
        .await;
    let rotated = tokens_of(app.refresh(&t.refresh).await).await;
    app.refresh(&t.refresh).await; // reuse: logged as a security event
    assert_eq!(app.me(&rotated.access).await.status(), StatusCode::OK);
    app.me("forged.token.value-unmistakable").await;
    // An API token: created, used where it may and where it may not, revoked, used again.
    let expires = (chrono::Utc::now() + chrono::Duration::days(1)).to_rfc3339();
    let res = app
        .post_auth(
            "/api/v1/tokens",
            &rotated.access,
            &json!({"name": "log check", "scopes": ["files:read"], "expires_at": expires}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let created: Value = res.json().await.expect("json");
    let api_token = created["token"].as_str().expect("token").to_owned();
    assert_eq!(app.me(&api_token).await.status(), StatusCode::OK);
    let res = app.get_auth("/api/v1/tokens", &api_token).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let path = format!("/api/v1/tokens/{}", created["id"].as_str().expect("id"));
    let res = app
        .client
        .delete(app.url(&path))
        .bearer_auth(&rotated.access)
        .send()
        .await
        .expect("revoke");
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.me(&api_token).await.status(), StatusCode::UNAUTHORIZED);
    app.me("cft_unmistakable-guess").await;

    let logs = captured_logs();
    assert!(
        logs.contains("logcheck") || logs.contains("request finished"),
        "logs were captured"
    );
    for secret in [
        password,
        "wrong-unmistakable-password-99",
        &t.access,
        &t.refresh,
        &rotated.access,
        &rotated.refresh,
        "forged.token.value-unmistakable",
        &api_token,
        &api_token[4..],
        "cft_unmistakable-guess",
    ] {
        assert!(!logs.contains(secret), "a secret leaked into the logs");
    }
    assert!(
        logs.contains("refresh token reused"),
        "reuse is logged as a security event"
    );
}

#[tokio::test]
async fn every_request_is_logged_with_id_user_route_status_and_latency() {
    let app = spawn_app().await;
    let t = app.user("traced").await;
    let request_id = format!("req-{}", uuid::Uuid::new_v4());
    let res = app
        .client
        .get(app.url("/api/v1/auth/me"))
        .bearer_auth(&t.access)
        .header("x-request-id", &request_id)
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), StatusCode::OK);
    let me: Value = res.json().await.expect("json");

    let logs = captured_logs();
    let line: Value = logs
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|l| {
            l["span"]["request_id"] == request_id.as_str() && l["message"] == "request finished"
        })
        .expect("a finished-request line with our id");
    assert_eq!(line["span"]["route"], "/api/v1/auth/me");
    assert_eq!(line["span"]["method"], "GET");
    assert_eq!(line["span"]["user_id"], me["id"]);
    assert_eq!(line["status"], 200);
    assert!(line["latency_ms"].as_f64().is_some());
}

#[tokio::test]
async fn presigned_urls_never_reach_the_logs() {
    let app = spawn_app().await;
    let t = app.user("urlcheck").await;
    let started = app
        .started(&t.access, "logged.bin", 5, "application/octet-stream")
        .await;
    let put_url = started.body["put"]["url"].as_str().expect("url").to_owned();
    assert!(
        crate::helpers::put_presigned(&started.body["put"], b"hello".to_vec())
            .await
            .status()
            .is_success()
    );
    let res = app
        .post_auth(
            &format!("/api/v1/uploads/{}/complete", started.upload_id),
            &t.access,
            &json!({}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = app
        .get_auth(
            &format!("/api/v1/files/{}/download", started.file_id),
            &t.access,
        )
        .await;
    let get_url = res.json::<Value>().await.expect("json")["url"]
        .as_str()
        .expect("url")
        .to_owned();
    let res = app
        .get_auth(
            &format!("/api/v1/files/{}/download?redirect=true", started.file_id),
            &t.access,
        )
        .await;
    let redirect = res.headers()["location"]
        .to_str()
        .expect("ascii")
        .to_owned();

    let logs = captured_logs();
    assert!(
        logs.contains("download URL issued"),
        "presigns are logged as events"
    );
    for url in [&put_url, &get_url, &redirect] {
        let signature = url.split("X-Amz-Signature=").nth(1).expect("signed URL");
        assert!(
            !logs.contains(signature),
            "a presigned URL signature leaked into the logs: {:?}",
            logs.lines()
                .filter(|l| l.contains(signature))
                .map(|l| &l[..l.len().min(400)])
                .collect::<Vec<_>>()
        );
        assert!(!logs.contains(url.as_str()));
    }
}
