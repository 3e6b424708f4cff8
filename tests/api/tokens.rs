//! Every kind of bad access token gets the same 401.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{assert_error, spawn_app, TestApp, JWT_SECRET};

/// Claims like the server's, for the user behind `access`.
async fn valid_claims(app: &TestApp, access: &str) -> Value {
    let payload = access.split('.').nth(1).expect("payload");
    let claims: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("base64")).expect("json");
    assert_eq!(app.me(access).await.status(), StatusCode::OK);
    claims
}

fn sign(claims: &Value, secret: &str) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("sign")
}

async fn refused(app: &TestApp, token: &str) {
    assert_error(
        app.me(token).await,
        StatusCode::UNAUTHORIZED,
        "INVALID_TOKEN",
    )
    .await;
}

#[tokio::test]
async fn a_token_signed_with_our_secret_and_our_claims_is_accepted() {
    let app = spawn_app().await;
    let t = app.user("olga").await;
    let claims = valid_claims(&app, &t.access).await;
    // The forging helper itself is right: this proves the refusals below are about
    // the one thing each of them changes.
    assert_eq!(
        app.me(&sign(&claims, JWT_SECRET)).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn expired_forged_none_and_foreign_tokens_are_refused() {
    let app = spawn_app().await;
    let t = app.user("pat").await;
    let claims = valid_claims(&app, &t.access).await;
    let now = chrono::Utc::now().timestamp();

    let mut expired = claims.clone();
    expired["exp"] = json!(now - 60);
    expired["iat"] = json!(now - 400);
    expired["nbf"] = json!(now - 400);
    refused(&app, &sign(&expired, JWT_SECRET)).await;

    let mut future = claims.clone();
    future["nbf"] = json!(now + 120);
    refused(&app, &sign(&future, JWT_SECRET)).await;

    refused(
        &app,
        &sign(&claims, "another-secret-another-secret-0123456"),
    )
    .await;

    let mut audience = claims.clone();
    audience["aud"] = json!("some-other-service");
    refused(&app, &sign(&audience, JWT_SECRET)).await;

    let mut issuer = claims.clone();
    issuer["iss"] = json!("someone-else");
    refused(&app, &sign(&issuer, JWT_SECRET)).await;

    let mut typ = claims.clone();
    typ["typ"] = json!("refresh");
    refused(&app, &sign(&typ, JWT_SECRET)).await;

    for missing in ["exp", "nbf", "iat", "jti", "sub", "aud", "iss", "typ"] {
        let mut c = claims.clone();
        c.as_object_mut().expect("object").remove(missing);
        refused(&app, &sign(&c, JWT_SECRET)).await;
    }

    // alg: none, with and without a signature part.
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let body = URL_SAFE_NO_PAD.encode(claims.to_string());
    refused(&app, &format!("{header}.{body}.")).await;
    refused(&app, &format!("{header}.{body}")).await;

    // HS512 with the right secret: the algorithm is pinned.
    let hs512 = jsonwebtoken::encode(
        &Header::new(Algorithm::HS512),
        &claims,
        &EncodingKey::from_secret(JWT_SECRET.as_bytes()),
    )
    .expect("sign");
    refused(&app, &hs512).await;
}

#[tokio::test]
async fn refresh_tokens_and_garbage_are_not_access_tokens() {
    let app = spawn_app().await;
    let t = app.user("quinn").await;
    refused(&app, &t.refresh).await;
    refused(&app, "garbage").await;
    let res = app
        .client
        .get(app.url("/api/v1/auth/me"))
        .send()
        .await
        .expect("request");
    assert_error(res, StatusCode::UNAUTHORIZED, "INVALID_TOKEN").await;
    let res = app
        .client
        .get(app.url("/api/v1/auth/me"))
        .header("authorization", format!("Basic {}", t.access))
        .send()
        .await
        .expect("request");
    assert_error(res, StatusCode::UNAUTHORIZED, "INVALID_TOKEN").await;
}
