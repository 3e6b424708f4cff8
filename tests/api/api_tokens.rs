//! Scoped API tokens: shown once, stored hashed, each scope allowed and refused, never
//! accepted where only a session may act, revoked at once on every replica, and dying
//! with password changes, disabled accounts and deleted users.

use chrono::{Duration, Utc};
use coffer::auth::api_tokens::dto::{AdminTokenList, ApiTokenList, CreatedTokenResponse};
use coffer::entity::api_tokens;
use reqwest::{Method, StatusCode};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{json, Value};

use crate::admin::{app_with_admin, send, user_id};
use crate::helpers::{assert_error, spawn_app, TestApp, PASSWORD};

fn days(n: i64) -> String {
    (Utc::now() + Duration::days(n)).to_rfc3339()
}

/// Creates a token with `scopes` for the session `access`; returns the created token.
async fn create(app: &TestApp, access: &str, name: &str, scopes: &[&str]) -> CreatedTokenResponse {
    let res = app
        .post_auth(
            "/api/v1/tokens",
            access,
            &json!({"name": name, "scopes": scopes, "expires_at": days(30)}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED, "create token {name}");
    res.json().await.expect("a created token")
}

async fn list(app: &TestApp, access: &str) -> ApiTokenList {
    let res = app.get_auth("/api/v1/tokens", access).await;
    assert_eq!(res.status(), StatusCode::OK);
    res.json().await.expect("a token list")
}

async fn audit_via(app: &TestApp, admin: &str, action: &str) -> Vec<Value> {
    app.app_state.audit.flush().await;
    let res = app
        .get_auth(&format!("/api/v1/admin/audit?action={action}"), admin)
        .await;
    let body: Value = res.json().await.expect("audit json");
    body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|e| e["via"].clone())
        .collect()
}

#[tokio::test]
async fn a_token_is_shown_once_listed_without_its_secret_and_revoked_at_once() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let created = create(&app, &alice.access, "ci", &["files:read"]).await;
    let secret = &created.token;
    assert!(secret.starts_with("cft_"), "recognisable prefix: {secret}");
    assert_eq!(secret.len(), 4 + 43, "cft_ and 256 bits in base64url");
    assert_eq!(created.info.name, "ci");
    // Only a hash is stored.
    let row = api_tokens::Entity::find_by_id(created.info.id)
        .one(&app.app_state.db)
        .await
        .expect("query")
        .expect("row");
    assert_ne!(row.token_hash, *secret);
    assert!(
        !row.token_hash.contains(&secret[4..]),
        "no part of the secret stored"
    );

    let res = app.get_auth("/api/v1/tokens", &alice.access).await;
    let raw = res.text().await.expect("body");
    assert!(
        !raw.contains(secret.as_str()),
        "the list never shows the secret"
    );
    let listed: ApiTokenList = serde_json::from_str(&raw).expect("list");
    assert_eq!(listed.items.len(), 1);
    assert_eq!(listed.items[0].id, created.info.id);
    assert!(!listed.items[0].expired);

    let me: Value = app.me(secret).await.json().await.expect("me");
    assert_eq!(me["username"], "alice", "GET /auth/me accepts any token");

    // Bob cannot see or revoke Alice's token.
    let bob = app.user("bob").await;
    assert!(list(&app, &bob.access).await.items.is_empty());
    let path = format!("/api/v1/tokens/{}", created.info.id);
    let res = app
        .client
        .delete(app.url(&path))
        .bearer_auth(&bob.access)
        .send()
        .await
        .expect("delete");
    assert_error(res, StatusCode::NOT_FOUND, "NOT_FOUND").await;
    assert_eq!(app.me(secret).await.status(), StatusCode::OK);

    let res = app
        .client
        .delete(app.url(&path))
        .bearer_auth(&alice.access)
        .send()
        .await
        .expect("delete");
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_error(
        app.me(secret).await,
        StatusCode::UNAUTHORIZED,
        "INVALID_TOKEN",
    )
    .await;
    let res = app
        .client
        .delete(app.url(&path))
        .bearer_auth(&alice.access)
        .send()
        .await
        .expect("delete");
    assert_error(res, StatusCode::NOT_FOUND, "NOT_FOUND").await;
    assert!(list(&app, &alice.access).await.items.is_empty());

    // Guessing: a well-formed but unknown token, and garbage after the prefix.
    let unknown = format!("cft_{}", "A".repeat(43));
    assert_error(
        app.me(&unknown).await,
        StatusCode::UNAUTHORIZED,
        "INVALID_TOKEN",
    )
    .await;
    assert_error(
        app.me("cft_").await,
        StatusCode::UNAUTHORIZED,
        "INVALID_TOKEN",
    )
    .await;
}

#[tokio::test]
async fn each_scope_allows_its_operations_and_refuses_the_rest() {
    let (app, admin) = app_with_admin().await;
    let alice = app.user("alice").await;
    app.user("bob").await;
    let bytes = b"results of job 4242".to_vec();
    let file = app
        .upload(&alice.access, "out.csv", &bytes, "text/csv")
        .await;
    let read = create(&app, &alice.access, "reader", &["files:read"])
        .await
        .token;
    let write = create(&app, &alice.access, "writer", &["files:write"])
        .await
        .token;
    let share = create(&app, &alice.access, "sharer", &["shares:write"])
        .await
        .token;
    let jobs = create(&app, &alice.access, "jobs", &["jobs:write"])
        .await
        .token;
    let scope = |res| assert_error(res, StatusCode::FORBIDDEN, "TOKEN_SCOPE");

    // files:read: metadata, listing, usage and the download (used, bytes compared).
    assert_eq!(
        app.get_auth(&format!("/api/v1/files/{file}"), &read)
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        app.get_auth("/api/v1/me/usage", &read).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        app.get_auth("/api/v1/shared-with-me", &read).await.status(),
        StatusCode::OK
    );
    let got = app.download(&read, &file).await;
    assert_eq!(got.bytes().await.expect("bytes").to_vec(), bytes);
    scope(
        app.start_upload(&read, &json!({"name": "x", "size": 1}))
            .await,
    )
    .await;
    scope(
        app.post_auth("/api/v1/folders", &read, &json!({"name": "f"}))
            .await,
    )
    .await;
    scope(
        app.post_auth(
            &format!("/api/v1/files/{file}/shares"),
            &read,
            &json!({"username": "bob", "permission": "read"}),
        )
        .await,
    )
    .await;

    // files:write: a whole upload, a folder, a delete; but no reading.
    let written = app.upload(&write, "second.csv", b"more", "text/csv").await;
    let res = app
        .post_auth("/api/v1/folders", &write, &json!({"name": "runs"}))
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    scope(
        app.get_auth(&format!("/api/v1/files/{written}/download"), &write)
            .await,
    )
    .await;
    scope(
        app.get_auth(&format!("/api/v1/files/{written}"), &write)
            .await,
    )
    .await;
    scope(
        app.post_auth(&format!("/api/v1/files/{file}/links"), &write, &json!({}))
            .await,
    )
    .await;
    let res = app
        .client
        .delete(app.url(&format!("/api/v1/files/{written}")))
        .bearer_auth(&write)
        .send()
        .await
        .expect("delete");
    assert_eq!(res.status(), StatusCode::NO_CONTENT);

    // shares:write: sharing, and nothing else.
    let res = app
        .post_auth(
            &format!("/api/v1/files/{file}/shares"),
            &share,
            &json!({"username": "bob", "permission": "read"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_eq!(
        app.get_auth(&format!("/api/v1/files/{file}/shares"), &share)
            .await
            .status(),
        StatusCode::OK
    );
    scope(app.get_auth(&format!("/api/v1/files/{file}"), &share).await).await;
    scope(
        app.start_upload(&share, &json!({"name": "y", "size": 1}))
            .await,
    )
    .await;

    // jobs:write alone reaches none of the file API.
    scope(app.get_auth(&format!("/api/v1/files/{file}"), &jobs).await).await;
    scope(app.get_auth("/api/v1/me/usage", &jobs).await).await;
    assert_eq!(app.me(&jobs).await.status(), StatusCode::OK);

    // Every use is attributed to its token in the audit log; sessions carry no `via`.
    let writer_id = list(&app, &alice.access)
        .await
        .items
        .into_iter()
        .find(|t| t.name == "writer")
        .expect("writer")
        .id;
    let via = audit_via(&app, &admin.access, "presign.upload").await;
    assert!(
        via.contains(&json!(format!("token:{writer_id}"))),
        "upload by the token: {via:?}"
    );
    assert!(via.contains(&Value::Null), "upload by the session: {via:?}");
}

#[tokio::test]
async fn session_only_endpoints_refuse_every_token() {
    let (app, admin) = app_with_admin().await;
    let all = ["files:read", "files:write", "shares:write", "jobs:write"];
    let token = create(&app, &admin.access, "everything", &all).await;
    let id = token.info.id;
    let cases: Vec<(Method, String, Option<Value>)> = vec![
        (
            Method::POST,
            "/api/v1/tokens".into(),
            Some(json!({"name": "t", "scopes": ["files:read"], "expires_at": days(1)})),
        ),
        (Method::GET, "/api/v1/tokens".into(), None),
        (Method::DELETE, format!("/api/v1/tokens/{id}"), None),
        (
            Method::POST,
            "/api/v1/auth/password".into(),
            Some(json!({"current_password": "x", "new_password": "a new long passphrase"})),
        ),
        (Method::POST, "/api/v1/auth/logout".into(), None),
        (Method::POST, "/api/v1/auth/logout-all".into(), None),
        (Method::GET, "/api/v1/admin/users".into(), None),
        (Method::GET, "/api/v1/admin/tokens".into(), None),
        (Method::DELETE, format!("/api/v1/admin/tokens/{id}"), None),
        (
            Method::PATCH,
            "/api/v1/admin/settings".into(),
            Some(json!({"registration_open": false})),
        ),
    ];
    for (method, path, body) in cases {
        let res = send(&app, method.clone(), &path, Some(&token.token), body).await;
        let body = assert_error(res, StatusCode::FORBIDDEN, "TOKEN_SCOPE").await;
        assert!(
            body["detail"]
                .as_str()
                .is_some_and(|d| d.contains("sign in")),
            "{method} {path}: {body}"
        );
    }
    // Nothing of the above happened.
    assert_eq!(list(&app, &admin.access).await.items.len(), 1);
    assert_eq!(app.me(&admin.access).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn revocation_holds_on_the_next_request_on_another_replica_and_expiry_ends_a_token() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let token = create(&app, &alice.access, "job", &["files:read"]).await;
    let replica = app.replica().await;
    let me_on = |base: String, t: String| {
        let client = app.client.clone();
        async move {
            client
                .get(format!("{base}/api/v1/auth/me"))
                .bearer_auth(t)
                .send()
                .await
                .expect("me")
                .status()
        }
    };
    assert_eq!(
        me_on(replica.clone(), token.token.clone()).await,
        StatusCode::OK
    );
    let res = app
        .client
        .delete(app.url(&format!("/api/v1/tokens/{}", token.info.id)))
        .bearer_auth(&alice.access)
        .send()
        .await
        .expect("revoke");
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        me_on(replica.clone(), token.token.clone()).await,
        StatusCode::UNAUTHORIZED,
        "revoked on the other replica at once"
    );

    let later = create(&app, &alice.access, "short", &["files:read"]).await;
    assert_eq!(app.me(&later.token).await.status(), StatusCode::OK);
    // The token expires by an edit made straight in the database (as the clock would
    // do it); this replica hears of it through the database as any other would (on
    // PostgreSQL, the trigger's announcement, which arrives a moment after the commit).
    let tokens = app.app_state.auth.api_tokens();
    let before = tokens.stamp().await;
    api_tokens::Entity::update_many()
        .col_expr(
            api_tokens::Column::ExpiresAt,
            Expr::value(Utc::now() - Duration::seconds(1)),
        )
        .filter(api_tokens::Column::Id.eq(later.info.id))
        .exec(&app.app_state.db)
        .await
        .expect("expire");
    tokens.settle(before).await;
    assert_error(
        app.me(&later.token).await,
        StatusCode::UNAUTHORIZED,
        "INVALID_TOKEN",
    )
    .await;
    let listed = list(&app, &alice.access).await;
    assert!(
        listed
            .items
            .iter()
            .any(|t| t.id == later.info.id && t.expired),
        "listed as expired"
    );
    // The next creation clears expired tokens.
    create(&app, &alice.access, "next", &["files:read"]).await;
    assert!(list(&app, &alice.access)
        .await
        .items
        .iter()
        .all(|t| t.id != later.info.id));
}

#[tokio::test]
async fn tokens_die_on_password_change_when_disabled_and_with_their_user() {
    let (app, admin) = app_with_admin().await;
    let alice = app.user("alice").await;
    let first = create(&app, &alice.access, "a", &["files:read"])
        .await
        .token;
    let res = app
        .post_auth(
            "/api/v1/auth/password",
            &alice.access,
            &json!({"current_password": PASSWORD, "new_password": "another long passphrase"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_error(
        app.me(&first).await,
        StatusCode::UNAUTHORIZED,
        "INVALID_TOKEN",
    )
    .await;

    let res = app.login("alice", "another long passphrase").await;
    let alice = crate::helpers::tokens_of(res).await;
    let second = create(&app, &alice.access, "b", &["files:read"])
        .await
        .token;
    let alice_id = user_id(&app, &alice.access).await;
    let path = format!("/api/v1/admin/users/{alice_id}");
    let res = send(
        &app,
        Method::PATCH,
        &path,
        Some(&admin.access),
        Some(json!({"disabled": true})),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_error(
        app.me(&second).await,
        StatusCode::UNAUTHORIZED,
        "INVALID_TOKEN",
    )
    .await;
    let res = send(
        &app,
        Method::PATCH,
        &path,
        Some(&admin.access),
        Some(json!({"disabled": false})),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_error(
        app.me(&second).await,
        StatusCode::UNAUTHORIZED,
        "INVALID_TOKEN",
    )
    .await;

    let res = app.login("alice", "another long passphrase").await;
    let alice = crate::helpers::tokens_of(res).await;
    create(&app, &alice.access, "c", &["files:read"]).await;
    let res = send(&app, Method::DELETE, &path, Some(&admin.access), None).await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let left = api_tokens::Entity::find()
        .count(&app.app_state.db)
        .await
        .expect("count");
    assert_eq!(left, 0, "no token outlives its user");
}

#[tokio::test]
async fn token_requests_are_checked() {
    let (app, admin) = app_with_admin().await;
    let alice = app.user("alice").await;
    let bad = [
        (
            json!({"name": "t", "scopes": ["files:read"]}),
            "expiry required",
        ),
        (
            json!({"name": "t", "scopes": ["files:read"], "expires_at": days(-1)}),
            "expiry in the past",
        ),
        (
            json!({"name": "t", "scopes": ["files:read"], "expires_at": days(91)}),
            "beyond 90 days",
        ),
        (
            json!({"name": "t", "scopes": [], "expires_at": days(1)}),
            "no scope",
        ),
        (
            json!({"name": "t", "scopes": ["admin:all"], "expires_at": days(1)}),
            "unknown scope",
        ),
        (
            json!({"name": " ", "scopes": ["files:read"], "expires_at": days(1)}),
            "blank name",
        ),
        (
            json!({"name": "x".repeat(101), "scopes": ["files:read"], "expires_at": days(1)}),
            "long name",
        ),
        (
            json!({"name": "t", "scopes": ["files:read"], "expires_at": days(1), "admin": true}),
            "unknown field",
        ),
    ];
    for (body, why) in bad {
        let res = app.post_auth("/api/v1/tokens", &alice.access, &body).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "{why}");
    }
    let res = app
        .post_auth(
            "/api/v1/tokens",
            &alice.access,
            &json!({"name": "t", "scopes": ["files:read"], "expires_at": days(89)}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED, "89 days");
    // The limit is a runtime setting.
    let res = send(
        &app,
        Method::PATCH,
        "/api/v1/admin/settings",
        Some(&admin.access),
        Some(json!({"api_token_max_days": 10})),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = app
        .post_auth(
            "/api/v1/tokens",
            &alice.access,
            &json!({"name": "t", "scopes": ["files:read"], "expires_at": days(11)}),
        )
        .await;
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "INVALID_REQUEST").await;
    assert_eq!(
        list(&app, &alice.access).await.items.len(),
        1,
        "nothing half-made"
    );
}

#[tokio::test]
async fn admins_list_and_revoke_anyones_tokens_and_last_use_is_recorded() {
    let (app, admin) = app_with_admin().await;
    let alice = app.user("alice").await;
    let token = create(&app, &alice.access, "cluster", &["files:read"]).await;
    assert_eq!(app.me(&token.token).await.status(), StatusCode::OK);
    // The last use is written in the background, once a minute at most.
    let mut used = None;
    for _ in 0..50 {
        let item = list(&app, &alice.access).await.items.remove(0);
        if item.last_used_at.is_some() {
            used = Some(item);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let used = used.expect("last use recorded");
    assert_eq!(used.last_used_ip.as_deref(), Some("127.0.0.1"));

    let alice_id = user_id(&app, &alice.access).await;
    let res = app
        .get_auth(
            &format!("/api/v1/admin/tokens?user_id={alice_id}"),
            &admin.access,
        )
        .await;
    let page: AdminTokenList = res.json().await.expect("admin list");
    assert_eq!(page.items.len(), 1);
    assert_eq!(page.items[0].id, token.info.id);
    assert_eq!(page.items[0].user_id.to_string(), alice_id);
    let res = send(
        &app,
        Method::DELETE,
        &format!("/api/v1/admin/tokens/{}", token.info.id),
        Some(&admin.access),
        None,
    )
    .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_error(
        app.me(&token.token).await,
        StatusCode::UNAUTHORIZED,
        "INVALID_TOKEN",
    )
    .await;
    let res = send(
        &app,
        Method::DELETE,
        &format!("/api/v1/admin/tokens/{}", token.info.id),
        Some(&admin.access),
        None,
    )
    .await;
    assert_error(res, StatusCode::NOT_FOUND, "NOT_FOUND").await;
    assert_eq!(
        audit_via(&app, &admin.access, "admin.token_revoked")
            .await
            .len(),
        1
    );
    // Users cannot reach the admin list.
    let res = app.get_auth("/api/v1/admin/tokens", &alice.access).await;
    assert_error(res, StatusCode::FORBIDDEN, "ADMIN_ONLY").await;
}
