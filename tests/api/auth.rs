//! Accounts, login, refresh rotation and revocation.

use reqwest::StatusCode;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{json, Value};

use crate::helpers::{assert_error, spawn_app, spawn_app_with, tokens_of, PASSWORD};

#[tokio::test]
async fn register_login_me_round_trip() {
    let app = spawn_app().await;
    let res = app
        .post_json(
            "/api/v1/auth/register",
            &json!({"username": "Alice", "password": PASSWORD, "email": "alice@example.org"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let created: Value = res.json().await.expect("json");
    assert_eq!(
        created["username"], "alice",
        "usernames are stored lower-cased"
    );
    assert!(created.get("password_hash").is_none());

    let res = app.login("ALICE", PASSWORD).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let body: Value = res.json().await.expect("json");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 300);
    let access = body["access_token"].as_str().expect("access token");

    let me: Value = app.me(access).await.json().await.expect("json");
    assert_eq!(me["id"], created["id"]);
    assert_eq!(me["email"], "alice@example.org");
    assert_eq!(me["role"], "user");
}

#[tokio::test]
async fn register_refuses_taken_usernames_case_insensitively() {
    let app = spawn_app().await;
    assert_eq!(
        app.register("bob", PASSWORD).await.status(),
        StatusCode::CREATED
    );
    assert_error(
        app.register("BOB", PASSWORD).await,
        StatusCode::CONFLICT,
        "USERNAME_TAKEN",
    )
    .await;
}

#[tokio::test]
async fn register_refuses_invalid_usernames_and_weak_passwords() {
    let app = spawn_app().await;
    for name in ["ab", "white space", "slash/name", "émile", &"x".repeat(65)] {
        assert_error(
            app.register(name, PASSWORD).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "INVALID_USERNAME",
        )
        .await;
    }
    for pw in ["short", "password123", "Qwertyuiop", &"y".repeat(1025)] {
        assert_error(
            app.register("carol", pw).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "WEAK_PASSWORD",
        )
        .await;
    }
    let res = app
        .post_json(
            "/api/v1/auth/register",
            &json!({"username": "carol", "password": PASSWORD, "email": "nope"}),
        )
        .await;
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "INVALID_EMAIL").await;
    // Nothing was half-written: the name is still free.
    assert_eq!(
        app.register("carol", PASSWORD).await.status(),
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn register_refuses_fields_a_user_may_not_set() {
    let app = spawn_app().await;
    let res = app
        .post_json(
            "/api/v1/auth/register",
            &json!({"username": "mallory", "password": PASSWORD, "role": "admin"}),
        )
        .await;
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "INVALID_BODY").await;
}

#[tokio::test]
async fn registration_can_be_closed() {
    let options = |app: &crate::helpers::TestApp| {
        let res = app.client.get(app.url("/api/v1/auth/options")).send();
        async move {
            let res = res.await.expect("options");
            assert_eq!(res.status(), StatusCode::OK);
            res.json::<Value>().await.expect("json")
        }
    };
    let open = spawn_app().await;
    assert_eq!(
        options(&open).await,
        json!({"registration_open": true, "device_login_enabled": true})
    );
    let app = spawn_app_with(|s| s.registration_open = false).await;
    assert_eq!(options(&app).await["registration_open"], false);
    assert_error(
        app.register("dave", PASSWORD).await,
        StatusCode::FORBIDDEN,
        "REGISTRATION_CLOSED",
    )
    .await;
}

#[tokio::test]
async fn wrong_password_and_unknown_user_get_the_same_answer() {
    let app = spawn_app().await;
    app.user("erin").await;
    let wrong = assert_error(
        app.login("erin", "not the password").await,
        StatusCode::UNAUTHORIZED,
        "INVALID_CREDENTIALS",
    )
    .await;
    let unknown = assert_error(
        app.login("nobody", PASSWORD).await,
        StatusCode::UNAUTHORIZED,
        "INVALID_CREDENTIALS",
    )
    .await;
    let invalid_name = assert_error(
        app.login("x", PASSWORD).await,
        StatusCode::UNAUTHORIZED,
        "INVALID_CREDENTIALS",
    )
    .await;
    assert_eq!(wrong, unknown);
    assert_eq!(wrong, invalid_name);
}

#[tokio::test]
async fn refresh_rotates_and_reuse_revokes_the_family() {
    let app = spawn_app().await;
    let first = app.user("frank").await;

    let res = app.refresh(&first.refresh).await;
    assert_eq!(res.status(), StatusCode::OK);
    let second = tokens_of(res).await;
    assert_ne!(second.refresh, first.refresh, "refresh tokens rotate");
    assert_eq!(app.me(&second.access).await.status(), StatusCode::OK);

    // The rotated-out token is presented again: the whole family dies.
    assert_error(
        app.refresh(&first.refresh).await,
        StatusCode::UNAUTHORIZED,
        "REFRESH_TOKEN_REUSED",
    )
    .await;
    assert_error(
        app.refresh(&second.refresh).await,
        StatusCode::UNAUTHORIZED,
        "INVALID_REFRESH_TOKEN",
    )
    .await;

    // Other sessions are untouched.
    let other = tokens_of(app.login("frank", PASSWORD).await).await;
    assert_eq!(app.refresh(&other.refresh).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn concurrent_refreshes_of_one_token_let_exactly_one_through() {
    let app = spawn_app().await;
    let tokens = app.user("grace").await;
    let attempts = (0..8).map(|_| app.refresh(&tokens.refresh));
    let statuses: Vec<StatusCode> = futures::future::join_all(attempts)
        .await
        .into_iter()
        .map(|r| r.status())
        .collect();
    let ok = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    assert_eq!(ok, 1, "exactly one refresh succeeds: {statuses:?}");
    assert!(
        statuses
            .iter()
            .all(|s| *s == StatusCode::OK || *s == StatusCode::UNAUTHORIZED),
        "{statuses:?}"
    );
}

#[tokio::test]
async fn unknown_and_garbage_refresh_tokens_are_refused() {
    let app = spawn_app().await;
    assert_error(
        app.refresh("not-a-token").await,
        StatusCode::UNAUTHORIZED,
        "INVALID_REFRESH_TOKEN",
    )
    .await;
    let res = app
        .client
        .post(app.url("/api/v1/auth/refresh"))
        .send()
        .await
        .expect("request");
    assert_error(res, StatusCode::UNAUTHORIZED, "INVALID_REFRESH_TOKEN").await;
}

#[tokio::test]
async fn expired_refresh_token_is_refused() {
    let app = spawn_app_with(|s| s.refresh_token_ttl = std::time::Duration::from_secs(1)).await;
    let tokens = app.user("heidi").await;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_error(
        app.refresh(&tokens.refresh).await,
        StatusCode::UNAUTHORIZED,
        "REFRESH_TOKEN_EXPIRED",
    )
    .await;
}

#[tokio::test]
async fn logout_revokes_the_session_family() {
    let app = spawn_app().await;
    let a = app.user("ivan").await;
    let b = tokens_of(app.login("ivan", PASSWORD).await).await;
    let res = app
        .post_auth("/api/v1/auth/logout", &a.access, &json!({}))
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_error(
        app.refresh(&a.refresh).await,
        StatusCode::UNAUTHORIZED,
        "INVALID_REFRESH_TOKEN",
    )
    .await;
    assert_eq!(
        app.refresh(&b.refresh).await.status(),
        StatusCode::OK,
        "other sessions survive"
    );
}

#[tokio::test]
async fn logout_all_ends_every_access_and_refresh_token_at_once() {
    let app = spawn_app().await;
    let a = app.user("judy").await;
    let b = tokens_of(app.login("judy", PASSWORD).await).await;
    let res = app
        .post_auth("/api/v1/auth/logout-all", &a.access, &json!({}))
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    for t in [&a, &b] {
        app.assert_session_ended(t).await;
    }
    // A login right after (same second) works.
    let fresh = tokens_of(app.login("judy", PASSWORD).await).await;
    assert_eq!(app.me(&fresh.access).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn password_change_revokes_everything_and_swaps_the_password() {
    let app = spawn_app().await;
    let t = app.user("ken").await;
    let new_pw = "another long passphrase";
    let res = app
        .post_auth(
            "/api/v1/auth/password",
            &t.access,
            &json!({"current_password": "wrong one!", "new_password": new_pw}),
        )
        .await;
    assert_error(res, StatusCode::UNAUTHORIZED, "INVALID_CREDENTIALS").await;
    let res = app
        .post_auth(
            "/api/v1/auth/password",
            &t.access,
            &json!({"current_password": PASSWORD, "new_password": "password1"}),
        )
        .await;
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "WEAK_PASSWORD").await;
    assert_eq!(
        app.me(&t.access).await.status(),
        StatusCode::OK,
        "failed changes revoke nothing"
    );

    let res = app
        .post_auth(
            "/api/v1/auth/password",
            &t.access,
            &json!({"current_password": PASSWORD, "new_password": new_pw}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    app.assert_session_ended(&t).await;
    assert_error(
        app.login("ken", PASSWORD).await,
        StatusCode::UNAUTHORIZED,
        "INVALID_CREDENTIALS",
    )
    .await;
    assert_eq!(app.login("ken", new_pw).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn disabled_accounts_lose_their_tokens_and_cannot_log_in() {
    use coffer::entity::users;
    let app = spawn_app().await;
    let t = app.user("leo").await;
    users::Entity::update_many()
        .col_expr(users::Column::Disabled, Expr::value(true))
        .filter(users::Column::Username.eq("leo"))
        .exec(&app.app_state.db)
        .await
        .expect("disable");
    assert_error(
        app.me(&t.access).await,
        StatusCode::UNAUTHORIZED,
        "INVALID_TOKEN",
    )
    .await;
    assert_error(
        app.login("leo", PASSWORD).await,
        StatusCode::FORBIDDEN,
        "ACCOUNT_DISABLED",
    )
    .await;
    assert_error(
        app.refresh(&t.refresh).await,
        StatusCode::FORBIDDEN,
        "ACCOUNT_DISABLED",
    )
    .await;
}

#[tokio::test]
async fn hashing_beyond_its_bound_answers_503_with_retry_after() {
    let app = spawn_app_with(|s| s.max_concurrent_hashes = 1).await;
    app.user("mia").await;
    let logins = (0..16).map(|_| app.login("mia", PASSWORD));
    let results = futures::future::join_all(logins).await;
    let mut busy = 0;
    for res in results {
        match res.status() {
            StatusCode::OK => {}
            StatusCode::SERVICE_UNAVAILABLE => {
                assert!(res.headers().contains_key("retry-after"));
                assert_error(res, StatusCode::SERVICE_UNAVAILABLE, "AUTH_BUSY").await;
                busy += 1;
            }
            other => panic!("unexpected status {other}"),
        }
    }
    assert!(
        busy > 0,
        "16 concurrent logins with one hashing slot: some must be refused"
    );
}

fn set_cookies(res: &reqwest::Response) -> Vec<String> {
    res.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok().map(str::to_owned))
        .collect()
}

fn cookie_value(cookies: &[String], name: &str) -> Option<String> {
    cookies
        .iter()
        .find(|c| c.starts_with(&format!("{name}=")))
        .and_then(|c| c.split(';').next())
        .map(|kv| kv[name.len() + 1..].to_owned())
}

#[tokio::test]
async fn cookie_mode_sets_strict_cookies_and_renews_near_expiry() {
    // Renew whenever less than 10 minutes are left: always, with 5-minute tokens.
    let app =
        spawn_app_with(|s| s.cookie_refresh_before = std::time::Duration::from_secs(600)).await;
    app.user("nina").await;
    let res = app
        .post_json(
            "/api/v1/auth/login",
            &json!({"username": "nina", "password": PASSWORD, "cookie": true}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let cookies = set_cookies(&res);
    let body: Value = res.json().await.expect("json");
    assert_eq!(body["token_type"], "cookie");
    assert!(body.get("access_token").is_none() && body.get("refresh_token").is_none());
    for name in ["coffer_access", "coffer_refresh"] {
        let c = cookies
            .iter()
            .find(|c| c.starts_with(name))
            .expect("cookie set");
        for attr in ["HttpOnly", "Secure", "SameSite=Strict"] {
            assert!(c.contains(attr), "{name} lacks {attr}: {c}");
        }
    }
    let access = cookie_value(&cookies, "coffer_access").expect("access cookie");
    let refresh = cookie_value(&cookies, "coffer_refresh").expect("refresh cookie");

    let res = app
        .client
        .get(app.url("/api/v1/auth/me"))
        .header("cookie", format!("coffer_access={access}"))
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), StatusCode::OK);
    let renewed = cookie_value(&set_cookies(&res), "coffer_access").expect("renewed access cookie");
    let res = app
        .client
        .get(app.url("/api/v1/auth/me"))
        .header("cookie", format!("coffer_access={renewed}"))
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), StatusCode::OK, "the renewed cookie works");

    let res = app
        .client
        .post(app.url("/api/v1/auth/refresh"))
        .header("cookie", format!("coffer_refresh={refresh}"))
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), StatusCode::OK);
    assert!(cookie_value(&set_cookies(&res), "coffer_refresh").is_some_and(|r| r != refresh));
}

#[tokio::test]
async fn a_change_signed_in_by_cookie_needs_the_csrf_header() {
    let app = spawn_app().await;
    app.register("oscar", PASSWORD).await;
    let res = app
        .post_json(
            "/api/v1/auth/login",
            &json!({"username": "oscar", "password": PASSWORD, "cookie": true}),
        )
        .await;
    let access = cookie_value(&set_cookies(&res), "coffer_access").expect("access cookie");
    let cookie = format!("coffer_access={access}");
    let create = |csrf: bool, name: &'static str| {
        let mut req = app
            .client
            .post(app.url("/api/v1/folders"))
            .header("cookie", &cookie)
            .json(&json!({ "name": name }));
        if csrf {
            req = req.header("x-coffer-csrf", "1");
        }
        req.send()
    };
    // Without the header a change is refused, and nothing is made.
    let res = create(false, "forged").await.expect("request");
    assert_error(res, StatusCode::FORBIDDEN, "CSRF_HEADER_REQUIRED").await;
    let res = create(true, "mine").await.expect("request");
    assert_eq!(res.status(), StatusCode::CREATED);
    // Reading needs no header; neither does a bearer token, which no other site holds.
    let listing: Value = app
        .client
        .get(app.url("/api/v1/folders/root/items"))
        .header("cookie", &cookie)
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    let names: Vec<&str> = listing["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["name"].as_str().expect("name"))
        .collect();
    assert_eq!(names, ["mine"]);
    let tokens = app.user("pia").await;
    let res = app
        .post_auth("/api/v1/folders", &tokens.access, &json!({"name": "fine"}))
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
}
