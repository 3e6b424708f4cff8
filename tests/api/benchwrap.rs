//! The benchwrap client's protocol under `/api`, played as the deployed client sends it.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{assert_error, captured_logs, spawn_app, TestApp};

const SECRET_PASSWORD: &str = "benchwrap passphrase 4242";

/// The pair a sign-in answered, checked for its shape.
async fn pair(res: reqwest::Response, status: StatusCode) -> (String, String) {
    assert_eq!(res.status(), status);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let body: Value = res.json().await.expect("json");
    let access = body["access"].as_str().expect("access").to_owned();
    let refresh = body["refresh"].as_str().expect("refresh").to_owned();
    (access, refresh)
}

/// What the client reads from an access token: its payload, decoded without checking.
fn payload(access: &str) -> Value {
    let middle = access.split('.').nth(1).expect("a JWT");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(middle).expect("base64url")).expect("json")
}

async fn post(app: &TestApp, path: &str) -> reqwest::Response {
    app.client
        .post(app.url(path))
        .send()
        .await
        .expect("request")
}

async fn me(app: &TestApp, access: &str) -> Value {
    let res = app.me(access).await;
    assert_eq!(res.status(), StatusCode::OK);
    res.json().await.expect("json")
}

#[tokio::test]
async fn the_client_registers_signs_in_and_refreshes_as_it_always_did() {
    let app = spawn_app().await;
    // The health probe.
    let res = app
        .client
        .get(app.url("/api/"))
        .send()
        .await
        .expect("probe");
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.expect("json");
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));

    // Register (JSON): signed in at once; the payload names the user.
    let res = app
        .post_json(
            "/api/auth/register",
            &json!({"username": "hpc-ada", "password": SECRET_PASSWORD}),
        )
        .await;
    let (access, _) = pair(res, StatusCode::CREATED).await;
    assert_eq!(payload(&access)["username"], "hpc-ada");
    assert_eq!(me(&app, &access).await["username"], "hpc-ada");
    // The name again, and invalid input.
    let res = app
        .post_json(
            "/api/auth/register",
            &json!({"username": "HPC-ada", "password": SECRET_PASSWORD}),
        )
        .await;
    assert_error(res, StatusCode::CONFLICT, "USERNAME_TAKEN").await;
    let res = app
        .post_json(
            "/api/auth/register",
            &json!({"username": "x", "password": SECRET_PASSWORD}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let res = app
        .post_json(
            "/api/auth/register",
            &json!({"username": "hpc-bob", "password": "short"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let res = app
        .post_json("/api/auth/register", &json!({"username": "hpc-bob"}))
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);

    // Sign in the way the client does: the password in the query string.
    let query = format!(
        "/api/auth/password?u=hpc-ada&p={}",
        SECRET_PASSWORD.replace(' ', "+")
    );
    let (access, refresh) = pair(post(&app, &query).await, StatusCode::OK).await;
    assert_eq!(payload(&access)["username"], "hpc-ada");
    assert_eq!(me(&app, &access).await["username"], "hpc-ada");
    // The same fields as a form and as JSON.
    let res = app
        .client
        .post(app.url("/api/auth/password"))
        .form(&[("u", "hpc-ada"), ("p", SECRET_PASSWORD)])
        .send()
        .await
        .expect("form");
    pair(res, StatusCode::OK).await;
    let res = app
        .post_json(
            "/api/auth/password",
            &json!({"u": "hpc-ada", "p": SECRET_PASSWORD}),
        )
        .await;
    pair(res, StatusCode::OK).await;
    // Wrong credentials and missing fields.
    let res = post(&app, "/api/auth/password?u=hpc-ada&p=wrong+password+1").await;
    let body = assert_error(res, StatusCode::UNAUTHORIZED, "INVALID_CREDENTIALS").await;
    assert!(body["detail"].is_string(), "errors carry detail: {body}");
    let res = post(&app, "/api/auth/password?u=hpc-ada").await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let res = post(&app, "/api/auth/password").await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);

    // Refresh: a new pair; the old refresh token is spent, and presenting it again
    // ends the session (reuse detection), the new one included.
    let (access2, refresh2) = pair(
        post(&app, &format!("/api/auth/refresh?rid={refresh}")).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(payload(&access2)["username"], "hpc-ada");
    assert_eq!(me(&app, &access2).await["username"], "hpc-ada");
    let res = post(&app, &format!("/api/auth/refresh?rid={refresh}")).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let res = post(&app, &format!("/api/auth/refresh?rid={refresh2}")).await;
    assert_eq!(
        res.status(),
        StatusCode::UNAUTHORIZED,
        "the family was revoked"
    );
    // The field as a form body works too (a fresh session).
    let (_, refresh3) = pair(post(&app, &query).await, StatusCode::OK).await;
    let res = app
        .client
        .post(app.url("/api/auth/refresh"))
        .form(&[("rid", refresh3.as_str())])
        .send()
        .await
        .expect("form");
    pair(res, StatusCode::OK).await;

    // Neither the password nor a refresh token reached a log line.
    let logs = captured_logs();
    assert!(!logs.is_empty());
    for secret in [
        SECRET_PASSWORD,
        "benchwrap+passphrase",
        &refresh,
        &refresh2,
        &refresh3,
    ] {
        assert!(!logs.contains(secret), "a secret in the logs");
    }
}
