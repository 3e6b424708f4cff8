//! Device login (RFC 8628): the happy path, each of the RFC's poll errors, `slow_down`
//! growth, single use, codes stored hashed, guessing throttled per user and per IP, the
//! admin's switch, and the `/device` page.

use chrono::{Duration, Utc};
use coffer::entity::device_codes;
use reqwest::{Method, StatusCode};
use sea_orm::sea_query::Expr;
use sea_orm::EntityTrait;
use serde_json::{json, Value};

use crate::admin::{app_with_admin, send};
use crate::helpers::{assert_error, raw_client, spawn_app, spawn_app_with, TestApp};

async fn start(app: &TestApp) -> Value {
    let res = app
        .post_json(
            "/api/v1/auth/device",
            &json!({"client_name": "coffer 0.1", "host": "login01.cluster-a"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK, "device start");
    res.json().await.expect("json")
}

/// One poll: the status and the body.
async fn poll(app: &TestApp, device_code: &str) -> (StatusCode, Value) {
    let res = app
        .post_json(
            "/api/v1/auth/device/token",
            &json!({"device_code": device_code, "grant_type": "urn:ietf:params:oauth:grant-type:device_code"}),
        )
        .await;
    let status = res.status();
    (status, res.json().await.expect("json"))
}

/// Polls as a well-behaved device would, after the interval: the last poll is moved an
/// hour back first (as an operator could), so the test need not sleep.
async fn poll_later(app: &TestApp, device_code: &str) -> (StatusCode, Value) {
    device_codes::Entity::update_many()
        .col_expr(
            device_codes::Column::LastPollAt,
            Expr::value(Utc::now() - Duration::hours(1)),
        )
        .exec(&app.app_state.db)
        .await
        .expect("rewind");
    poll(app, device_code).await
}

async fn assert_poll_error(got: (StatusCode, Value), error: &str) {
    let (status, body) = got;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"], error, "{body}");
    assert_eq!(body["error_code"], error.to_ascii_uppercase());
    assert!(body["error_description"]
        .as_str()
        .is_some_and(|d| !d.is_empty()));
}

fn code_path(started: &Value, verb: &str) -> String {
    let code = started["user_code"].as_str().expect("user code");
    match verb {
        "" => format!("/api/v1/auth/device/{code}"),
        v => format!("/api/v1/auth/device/{code}/{v}"),
    }
}

async fn intervals(app: &TestApp) -> Vec<i32> {
    device_codes::Entity::find()
        .all(&app.app_state.db)
        .await
        .expect("rows")
        .iter()
        .map(|r| r.interval_secs)
        .collect()
}

#[tokio::test]
async fn a_device_signs_in_once_after_the_user_approves() {
    let (app, admin) = app_with_admin().await;
    let alice = app.user("alice").await;
    let started = start(&app).await;
    let user_code = started["user_code"].as_str().expect("code");
    let alphabet = "BCDFGHJKLMNPQRSTVWXZ";
    assert_eq!(user_code.len(), 9);
    assert_eq!(&user_code[4..5], "-");
    assert!(user_code
        .chars()
        .filter(|c| *c != '-')
        .all(|c| alphabet.contains(c)));
    assert_eq!(started["expires_in"], 600);
    assert_eq!(started["interval"], 5);
    let uri = started["verification_uri"].as_str().expect("uri");
    assert_eq!(uri, app.url("/device"));
    assert_eq!(
        started["verification_uri_complete"],
        format!("{uri}?code={user_code}")
    );
    let device_code = started["device_code"].as_str().expect("device code");
    // Only hashes are stored.
    let rows = device_codes::Entity::find()
        .all(&app.app_state.db)
        .await
        .expect("rows");
    assert_eq!(rows.len(), 1);
    let row = format!("{:?}", rows[0]);
    assert!(!row.contains(device_code) && !row.contains(&user_code.replace('-', "")));

    assert_poll_error(poll(&app, device_code).await, "authorization_pending").await;
    // Looking at the request shows what asks, and approves nothing.
    let res = app.get_auth(&code_path(&started, ""), &alice.access).await;
    assert_eq!(res.status(), StatusCode::OK);
    let shown: Value = res.json().await.expect("json");
    assert_eq!(shown["client_name"], "coffer 0.1");
    assert_eq!(shown["client_host"], "login01.cluster-a");
    assert_eq!(shown["client_ip"], "127.0.0.1");
    assert_eq!(shown["state"], "pending");
    assert!(shown["requested_at"].is_string());
    // Lower case, without the dash: the same code.
    let typed = user_code.replace('-', "").to_lowercase();
    let res = app
        .get_auth(&format!("/api/v1/auth/device/{typed}"), &alice.access)
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_poll_error(poll_later(&app, device_code).await, "authorization_pending").await;

    let res = app
        .post_auth(&code_path(&started, "approve"), &alice.access, &json!({}))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let approved: Value = res.json().await.expect("json");
    assert_eq!(approved["state"], "approved");
    let (status, tokens) = poll_later(&app, device_code).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    assert_eq!(tokens["token_type"], "Bearer");
    let access = tokens["access_token"].as_str().expect("access");
    let me: Value = app.me(access).await.json().await.expect("me");
    assert_eq!(me["username"], "alice");
    let refreshed = app
        .refresh(tokens["refresh_token"].as_str().expect("refresh"))
        .await;
    assert_eq!(refreshed.status(), StatusCode::OK, "a normal session");
    // Single use.
    assert_poll_error(poll_later(&app, device_code).await, "invalid_grant").await;
    let res = app
        .post_auth(&code_path(&started, "deny"), &alice.access, &json!({}))
        .await;
    assert_error(res, StatusCode::CONFLICT, "DEVICE_CODE_DECIDED").await;
    // Unknown device codes are refused alike.
    assert_poll_error(poll(&app, "not-a-code").await, "invalid_grant").await;

    // Every step is audited.
    app.app_state.audit.flush().await;
    for action in ["device.request", "device.approve", "device.redeem"] {
        let res = app
            .get_auth(
                &format!("/api/v1/admin/audit?action={action}"),
                &admin.access,
            )
            .await;
        let body: Value = res.json().await.expect("audit");
        let items = body["items"].as_array().expect("items");
        assert_eq!(items.len(), 1, "{action}: {body}");
        if action != "device.request" {
            assert_eq!(items[0]["actor_name"], "alice", "{action}");
        }
    }
}

#[tokio::test]
async fn polls_get_each_rfc_error_and_polling_too_fast_slows_the_device_down() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let started = start(&app).await;
    let device_code = started["device_code"].as_str().expect("code");
    assert_poll_error(poll(&app, device_code).await, "authorization_pending").await;
    assert_eq!(intervals(&app).await, [5]);
    assert_poll_error(poll(&app, device_code).await, "slow_down").await;
    assert_eq!(intervals(&app).await, [10], "5 s longer");
    assert_poll_error(poll(&app, device_code).await, "slow_down").await;
    assert_eq!(intervals(&app).await, [15], "5 s longer again");
    assert_poll_error(poll_later(&app, device_code).await, "authorization_pending").await;
    assert_eq!(intervals(&app).await, [15], "the longer interval stays");

    let res = app
        .post_auth(&code_path(&started, "deny"), &alice.access, &json!({}))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_poll_error(poll_later(&app, device_code).await, "access_denied").await;
    let res = app
        .post_auth(&code_path(&started, "approve"), &alice.access, &json!({}))
        .await;
    assert_error(res, StatusCode::CONFLICT, "DEVICE_CODE_DECIDED").await;
    assert_poll_error(poll_later(&app, device_code).await, "access_denied").await;

    // An expired code: the device hears `expired_token`, the user finds nothing.
    let late = start(&app).await;
    device_codes::Entity::update_many()
        .col_expr(
            device_codes::Column::ExpiresAt,
            Expr::value(Utc::now() - Duration::seconds(1)),
        )
        .exec(&app.app_state.db)
        .await
        .expect("expire");
    let late_code = late["device_code"].as_str().expect("code");
    assert_poll_error(poll(&app, late_code).await, "expired_token").await;
    let res = app.get_auth(&code_path(&late, ""), &alice.access).await;
    assert_error(res, StatusCode::NOT_FOUND, "NOT_FOUND").await;
    let res = app
        .post_auth(&code_path(&late, "approve"), &alice.access, &json!({}))
        .await;
    assert_error(res, StatusCode::NOT_FOUND, "NOT_FOUND").await;
    // A wrong grant type, and bad starts.
    let res = app
        .post_json(
            "/api/v1/auth/device/token",
            &json!({"device_code": late_code, "grant_type": "password"}),
        )
        .await;
    assert_poll_error(
        (res.status(), res.json().await.expect("json")),
        "unsupported_grant_type",
    )
    .await;
    for body in [
        json!({"client_name": "", "host": "h"}),
        json!({"client_name": "c", "host": "x".repeat(256)}),
        json!({"client_name": "c\u{7}", "host": "h"}),
        json!({"client_name": "c"}),
    ] {
        let res = app.post_json("/api/v1/auth/device", &body).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    }
}

#[tokio::test]
async fn user_codes_cannot_be_guessed_and_only_sessions_decide() {
    let app = spawn_app_with(|s| {
        s.trusted_proxies = vec!["127.0.0.1/32".parse().expect("net")];
    })
    .await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let look = |access: String, ip: &'static str, code: &'static str| {
        let app = &app;
        async move {
            app.client
                .get(app.url(&format!("/api/v1/auth/device/{code}")))
                .bearer_auth(access)
                .header("x-forwarded-for", ip)
                .send()
                .await
                .expect("look")
                .status()
        }
    };
    // Per user: ten tries, from ever new addresses, then 429.
    let addresses = [
        "10.0.0.1",
        "10.0.0.2",
        "10.0.0.3",
        "10.0.0.4",
        "10.0.0.5",
        "10.0.0.6",
        "10.0.0.7",
        "10.0.0.8",
        "10.0.0.9",
        "10.0.0.10",
        "10.0.0.11",
    ];
    for ip in &addresses[..10] {
        assert_eq!(
            look(alice.access.clone(), ip, "BCDF-GHJK").await,
            StatusCode::NOT_FOUND
        );
    }
    assert_eq!(
        look(alice.access.clone(), addresses[10], "BCDF-GHJK").await,
        StatusCode::TOO_MANY_REQUESTS,
        "per user"
    );
    // Per address: another user from one address, ten tries, then 429.
    for _ in 0..10 {
        assert_eq!(
            look(bob.access.clone(), "10.9.9.9", "BCDF-GHJL").await,
            StatusCode::NOT_FOUND
        );
    }
    let carol = app.user("carol").await;
    assert_eq!(
        look(carol.access.clone(), "10.9.9.9", "BCDF-GHJL").await,
        StatusCode::TOO_MANY_REQUESTS,
        "per address"
    );

    // An API token never approves (or even looks).
    let started = start(&app).await;
    let res = app
        .post_auth(
            "/api/v1/tokens",
            &carol.access,
            &json!({"name": "t", "scopes": ["files:read", "files:write"], "expires_at": (Utc::now() + Duration::days(1)).to_rfc3339()}),
        )
        .await;
    let token: Value = res.json().await.expect("token");
    let token = token["token"].as_str().expect("secret");
    let res = app
        .post_auth(&code_path(&started, "approve"), token, &json!({}))
        .await;
    assert_error(res, StatusCode::FORBIDDEN, "TOKEN_SCOPE").await;
    let res = send(&app, Method::GET, &code_path(&started, ""), None, None).await;
    assert_error(res, StatusCode::UNAUTHORIZED, "INVALID_TOKEN").await;
    let (status, _) = poll(&app, started["device_code"].as_str().expect("code")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "still pending");
}

#[tokio::test]
async fn an_admin_turns_device_login_off() {
    let (app, admin) = app_with_admin().await;
    let started = start(&app).await;
    let res = send(
        &app,
        Method::PATCH,
        "/api/v1/admin/settings",
        Some(&admin.access),
        Some(json!({"device_login_enabled": false})),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = app
        .post_json(
            "/api/v1/auth/device",
            &json!({"client_name": "c", "host": "h"}),
        )
        .await;
    assert_error(res, StatusCode::FORBIDDEN, "DEVICE_LOGIN_DISABLED").await;
    let res = app
        .post_json(
            "/api/v1/auth/device/token",
            &json!({"device_code": started["device_code"]}),
        )
        .await;
    assert_error(res, StatusCode::FORBIDDEN, "DEVICE_LOGIN_DISABLED").await;
    let res = app.get_auth(&code_path(&started, ""), &admin.access).await;
    assert_error(res, StatusCode::FORBIDDEN, "DEVICE_LOGIN_DISABLED").await;
}

#[tokio::test]
async fn the_device_page_is_served_with_a_strict_policy_and_no_inline_script() {
    let app = spawn_app().await;
    let res = raw_client()
        .get(app.url("/device?code=BCDF-GHJK"))
        .send()
        .await
        .expect("page");
    assert_eq!(res.status(), StatusCode::OK);
    let csp = res
        .headers()
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .expect("a CSP")
        .to_owned();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe"),
        "{csp}"
    );
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    let html = res.text().await.expect("html");
    assert!(html.contains(r#"<script type="module" src="/device.js"></script>"#));
    assert_eq!(html.matches("<script").count(), 1, "no inline script");
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "nothing from elsewhere"
    );
    for (path, kind) in [
        ("/device.js", "text/javascript"),
        ("/device.css", "text/css"),
    ] {
        let res = raw_client().get(app.url(path)).send().await.expect("asset");
        assert_eq!(res.status(), StatusCode::OK);
        let ct = res.headers()["content-type"]
            .to_str()
            .expect("type")
            .to_owned();
        assert!(ct.starts_with(kind), "{path}: {ct}");
        let body = res.text().await.expect("body");
        assert!(!body.contains("innerHTML"), "{path}: names are set as text");
    }
}
