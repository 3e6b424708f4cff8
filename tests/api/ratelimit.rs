//! Rate limits: per client IP on credential endpoints, per user elsewhere.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{assert_error, spawn_app_with, PASSWORD};
use coffer::config::RateLimit;

#[tokio::test]
async fn auth_endpoints_are_limited_per_ip_with_retry_after() {
    let app = spawn_app_with(|s| {
        s.rate_limit_auth = RateLimit {
            per_minute: 1,
            burst: 3,
        }
    })
    .await;
    for _ in 0..3 {
        assert_eq!(
            app.login("nobody", PASSWORD).await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    let res = app.login("nobody", PASSWORD).await;
    let retry: u64 = res.headers()["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!((1..=60).contains(&retry), "retry-after {retry}");
    assert_error(res, StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED").await;
    // register and refresh share the per-IP budget.
    assert_error(
        app.register("someone", PASSWORD).await,
        StatusCode::TOO_MANY_REQUESTS,
        "RATE_LIMITED",
    )
    .await;
    assert_error(
        app.refresh("x").await,
        StatusCode::TOO_MANY_REQUESTS,
        "RATE_LIMITED",
    )
    .await;
}

async fn login_from(app: &crate::helpers::TestApp, forwarded: &str) -> StatusCode {
    app.client
        .post(app.url("/api/v1/auth/login"))
        .header("x-forwarded-for", forwarded)
        .json(&json!({"username": "nobody", "password": PASSWORD}))
        .send()
        .await
        .expect("request")
        .status()
}

#[tokio::test]
async fn forwarded_for_is_ignored_unless_the_peer_is_a_trusted_proxy() {
    let untrusted = spawn_app_with(|s| {
        s.rate_limit_auth = RateLimit {
            per_minute: 1,
            burst: 2,
        }
    })
    .await;
    assert_eq!(
        login_from(&untrusted, "203.0.113.1").await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        login_from(&untrusted, "203.0.113.2").await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        login_from(&untrusted, "203.0.113.3").await,
        StatusCode::TOO_MANY_REQUESTS,
        "spoofed X-Forwarded-For must not buy a fresh budget"
    );

    let trusted = spawn_app_with(|s| {
        s.rate_limit_auth = RateLimit {
            per_minute: 1,
            burst: 2,
        };
        s.trusted_proxies = vec!["127.0.0.1/32".parse().expect("net")];
    })
    .await;
    for client in ["203.0.113.1", "203.0.113.2", "203.0.113.3"] {
        assert_eq!(
            login_from(&trusted, client).await,
            StatusCode::UNAUTHORIZED,
            "{client} has its own budget"
        );
        assert_eq!(login_from(&trusted, client).await, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(
        login_from(&trusted, "203.0.113.1").await,
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[tokio::test]
async fn authenticated_requests_are_limited_per_user() {
    let app = spawn_app_with(|s| {
        s.rate_limit_user = RateLimit {
            per_minute: 1,
            burst: 5,
        }
    })
    .await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    for _ in 0..5 {
        assert_eq!(app.me(&alice.access).await.status(), StatusCode::OK);
    }
    let res = app.me(&alice.access).await;
    assert!(res.headers().contains_key("retry-after"));
    assert_error(res, StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED").await;
    assert_eq!(
        app.me(&bob.access).await.status(),
        StatusCode::OK,
        "limits are per user"
    );
}

#[tokio::test]
async fn unknown_api_tokens_count_against_the_ip_like_failed_logins() {
    let app = spawn_app_with(|s| {
        s.rate_limit_auth = RateLimit {
            per_minute: 1,
            burst: 5,
        }
    })
    .await;
    let alice = app.user("alice").await; // register and login: 2 of the 5
    let expires = (chrono::Utc::now() + chrono::Duration::days(1)).to_rfc3339();
    let res = app
        .post_auth(
            "/api/v1/tokens",
            &alice.access,
            &json!({"name": "job", "scopes": ["files:read"], "expires_at": expires}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let body: serde_json::Value = res.json().await.expect("json");
    let token = body["token"].as_str().expect("token").to_owned();
    for _ in 0..10 {
        assert_eq!(
            app.me(&token).await.status(),
            StatusCode::OK,
            "valid uses are free"
        );
    }
    let guess = format!("cft_{}", "x".repeat(43));
    for _ in 0..3 {
        assert_error(
            app.me(&guess).await,
            StatusCode::UNAUTHORIZED,
            "INVALID_TOKEN",
        )
        .await;
    }
    assert_error(
        app.me(&guess).await,
        StatusCode::TOO_MANY_REQUESTS,
        "RATE_LIMITED",
    )
    .await;
    assert_error(
        app.login("alice", PASSWORD).await,
        StatusCode::TOO_MANY_REQUESTS,
        "RATE_LIMITED",
    )
    .await;
    assert_eq!(
        app.me(&token).await.status(),
        StatusCode::OK,
        "the real token still works"
    );
}
