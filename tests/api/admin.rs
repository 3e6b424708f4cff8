//! Administration: bootstrap, the admin-only API, disabling, sessions, mass assignment
//! and the audit log of a whole session.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::{assert_error, pattern, spawn_app_with, tokens_of, TestApp, Tokens, PASSWORD};

const ADMIN_PASSWORD: &str = "the admin's own long passphrase";

pub(crate) async fn app_with_admin() -> (TestApp, Tokens) {
    let app = spawn_app_with(|s| {
        s.bootstrap_admin_username = Some("root-admin".into());
        s.bootstrap_admin_password = Some(ADMIN_PASSWORD.to_owned().into());
    })
    .await;
    let res = app.login("root-admin", ADMIN_PASSWORD).await;
    assert_eq!(res.status(), StatusCode::OK);
    let admin = tokens_of(res).await;
    (app, admin)
}

pub(crate) async fn send(
    app: &TestApp,
    method: Method,
    path: &str,
    access: Option<&str>,
    body: Option<Value>,
) -> reqwest::Response {
    let mut req = app.client.request(method, app.url(path));
    if let Some(a) = access {
        req = req.bearer_auth(a);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    req.send().await.expect("request")
}

pub(crate) async fn user_id(app: &TestApp, access: &str) -> String {
    app.me(access).await.json::<Value>().await.expect("json")["id"]
        .as_str()
        .expect("id")
        .to_owned()
}

#[tokio::test]
async fn the_bootstrap_admin_exists_and_only_admins_reach_the_admin_api() {
    let (app, admin) = app_with_admin().await;
    let me: Value = app.me(&admin.access).await.json().await.expect("json");
    assert_eq!(me["role"], "admin");
    let alice = app.user("alice").await;
    let alice_id = user_id(&app, &alice.access).await;
    let paths = [
        (Method::GET, "/api/v1/admin/users".to_owned()),
        (Method::GET, format!("/api/v1/admin/users/{alice_id}")),
        (Method::PATCH, format!("/api/v1/admin/users/{alice_id}")),
        (
            Method::GET,
            format!("/api/v1/admin/users/{alice_id}/sessions"),
        ),
        (
            Method::DELETE,
            format!("/api/v1/admin/users/{alice_id}/sessions"),
        ),
        (Method::GET, "/api/v1/admin/audit".to_owned()),
        (Method::GET, "/api/v1/admin/stats".to_owned()),
        (Method::GET, "/api/v1/admin/settings".to_owned()),
        (Method::PATCH, "/api/v1/admin/settings".to_owned()),
        (Method::DELETE, format!("/api/v1/admin/users/{alice_id}")),
    ];
    for (method, path) in &paths {
        let body = (*method == Method::PATCH).then(|| json!({"quota_bytes": 1}));
        assert_error(
            send(
                &app,
                method.clone(),
                path,
                Some(&alice.access),
                body.clone(),
            )
            .await,
            StatusCode::FORBIDDEN,
            "ADMIN_ONLY",
        )
        .await;
        assert_eq!(
            send(&app, method.clone(), path, None, body).await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    // Listing, searching and paging.
    app.user("alicia").await;
    app.user("bob").await;
    let page: Value = app
        .get_auth("/api/v1/admin/users?q=ALI&limit=1", &admin.access)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(page["items"][0]["username"], "alice");
    let cursor = page["next_cursor"].as_str().expect("more");
    let next: Value = app
        .get_auth(
            &format!("/api/v1/admin/users?q=ali&limit=1&cursor={cursor}"),
            &admin.access,
        )
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(next["items"][0]["username"], "alicia");
    assert!(next["next_cursor"].is_null());
    let one: Value = app
        .get_auth(&format!("/api/v1/admin/users/{alice_id}"), &admin.access)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(one["used_bytes"], 0);
    assert_eq!(one["disabled"], false);
    assert_eq!(
        app.get_auth(
            &format!("/api/v1/admin/users/{}", Uuid::new_v4()),
            &admin.access
        )
        .await
        .status(),
        StatusCode::NOT_FOUND
    );
    // An admin cannot lock themselves out.
    let admin_id = user_id(&app, &admin.access).await;
    let res = send(
        &app,
        Method::PATCH,
        &format!("/api/v1/admin/users/{admin_id}"),
        Some(&admin.access),
        Some(json!({"disabled": true})),
    )
    .await;
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "INVALID_REQUEST").await;
    // Promotion takes effect on the next request.
    let res = send(
        &app,
        Method::PATCH,
        &format!("/api/v1/admin/users/{alice_id}"),
        Some(&admin.access),
        Some(json!({"role": "admin"})),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        app.get_auth("/api/v1/admin/users", &alice.access)
            .await
            .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn quota_changes_apply_and_disabling_ends_every_session_at_once() {
    let (app, admin) = app_with_admin().await;
    let alice = app.user("alice").await;
    let second = tokens_of(app.login("alice", PASSWORD).await).await;
    let id = user_id(&app, &alice.access).await;
    let res = send(
        &app,
        Method::PATCH,
        &format!("/api/v1/admin/users/{id}"),
        Some(&admin.access),
        Some(json!({"quota_bytes": 1000, "quota_objects": 2})),
    )
    .await;
    let body: Value = res.json().await.expect("json");
    assert_eq!(
        (body["quota_bytes"].clone(), body["quota_objects"].clone()),
        (json!(1000), json!(2))
    );
    assert_eq!(app.usage(&alice.access).await.quota_bytes, 1000);
    let res = app
        .start_upload(&alice.access, &json!({"name": "big.bin", "size": 1001}))
        .await;
    assert_error(res, StatusCode::PAYLOAD_TOO_LARGE, "QUOTA_EXCEEDED").await;
    app.upload(
        &alice.access,
        "fits.bin",
        &pattern(1000, 1),
        "application/octet-stream",
    )
    .await;

    // Sessions: two logins, one ended by the admin.
    let sessions: Value = app
        .get_auth(&format!("/api/v1/admin/users/{id}/sessions"), &admin.access)
        .await
        .json()
        .await
        .expect("json");
    let items = sessions["items"].as_array().expect("items");
    assert_eq!(items.len(), 2);
    assert!(items.iter().all(|s| s["active"] == true));
    let newest = items[0]["id"].as_str().expect("id");
    let res = send(
        &app,
        Method::DELETE,
        &format!("/api/v1/admin/users/{id}/sessions/{newest}"),
        Some(&admin.access),
        None,
    )
    .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_error(
        app.refresh(&second.refresh).await,
        StatusCode::UNAUTHORIZED,
        "INVALID_REFRESH_TOKEN",
    )
    .await;
    assert_eq!(
        app.refresh(&alice.refresh).await.status(),
        StatusCode::OK,
        "the other session lives"
    );

    let res = send(
        &app,
        Method::PATCH,
        &format!("/api/v1/admin/users/{id}"),
        Some(&admin.access),
        Some(json!({"disabled": true})),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_error(
        app.me(&alice.access).await,
        StatusCode::UNAUTHORIZED,
        "INVALID_TOKEN",
    )
    .await;
    assert_error(
        app.login("alice", PASSWORD).await,
        StatusCode::FORBIDDEN,
        "ACCOUNT_DISABLED",
    )
    .await;
    // Bad changes.
    for body in [
        json!({"role": "root"}),
        json!({"quota_bytes": -1}),
        json!({"used_bytes": 0}),
    ] {
        let res = send(
            &app,
            Method::PATCH,
            &format!("/api/v1/admin/users/{id}"),
            Some(&admin.access),
            Some(body.clone()),
        )
        .await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    }
}

#[tokio::test]
async fn no_user_facing_endpoint_lets_users_change_their_role_quota_usage_or_flag() {
    let (app, admin) = app_with_admin().await;
    let alice = app.user("alice").await;
    let id = user_id(&app, &alice.access).await;
    let file = app
        .upload(&alice.access, "a.txt", b"abc", "text/plain")
        .await;
    let fields = [
        ("role", json!("admin")),
        ("quota_bytes", json!(i64::MAX)),
        ("quota_objects", json!(i64::MAX)),
        ("used_bytes", json!(0)),
        ("used_objects", json!(0)),
        ("reserved_bytes", json!(0)),
        ("disabled", json!(false)),
    ];
    let endpoints: Vec<(Method, String, Value)> = vec![
        (
            Method::POST,
            "/api/v1/auth/register".into(),
            json!({"username": "mallory", "password": PASSWORD}),
        ),
        (
            Method::POST,
            "/api/v1/auth/login".into(),
            json!({"username": "alice", "password": PASSWORD}),
        ),
        (
            Method::POST,
            "/api/v1/auth/refresh".into(),
            json!({"refresh_token": alice.refresh}),
        ),
        (
            Method::POST,
            "/api/v1/auth/password".into(),
            json!({"current_password": PASSWORD, "new_password": "another fine passphrase"}),
        ),
        (
            Method::POST,
            "/api/v1/uploads".into(),
            json!({"name": "x.bin", "size": 1}),
        ),
        (
            Method::POST,
            "/api/v1/folders".into(),
            json!({"name": "dir"}),
        ),
        (
            Method::PATCH,
            format!("/api/v1/files/{file}"),
            json!({"name": "b.txt"}),
        ),
        (
            Method::POST,
            format!("/api/v1/files/{file}/copy"),
            json!({}),
        ),
        (
            Method::POST,
            format!("/api/v1/files/{file}/links"),
            json!({}),
        ),
        (
            Method::POST,
            "/api/v1/archives".into(),
            json!({"ids": [file]}),
        ),
    ];
    for (method, path, base) in &endpoints {
        for (field, value) in &fields {
            let mut body = base.clone();
            body[*field] = value.clone();
            let res = send(&app, method.clone(), path, Some(&alice.access), Some(body)).await;
            assert_eq!(
                res.status(),
                StatusCode::UNPROCESSABLE_ENTITY,
                "{method} {path} with {field}"
            );
        }
    }
    let after: Value = app
        .get_auth(&format!("/api/v1/admin/users/{id}"), &admin.access)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(after["role"], "user");
    assert_eq!(after["quota_bytes"], 10i64 * 1024 * 1024 * 1024);
    assert_eq!(after["used_bytes"], 3);
    assert_eq!(after["disabled"], false);
    // Still the same session: nothing above went through.
    assert_eq!(app.me(&alice.access).await.status(), StatusCode::OK);
}

/// The admin audit API's events for `query` once the writer has stored every event
/// recorded so far; at least `n` of them.
async fn audit(app: &TestApp, admin: &str, query: &str, n: usize) -> Vec<Value> {
    app.app_state.audit.flush().await;
    let page: Value = app
        .get_auth(&format!("/api/v1/admin/audit?limit=1000&{query}"), admin)
        .await
        .json()
        .await
        .expect("json");
    let items = page["items"].as_array().expect("items").clone();
    assert!(items.len() >= n, "fewer than {n} audit events for {query}");
    items
}

#[tokio::test]
async fn the_audit_log_shows_a_whole_session_in_order_with_request_ids() {
    let (app, admin) = app_with_admin().await;
    let res = send(
        &app,
        Method::POST,
        "/api/v1/auth/register",
        None,
        Some(json!({"username": "carol", "password": PASSWORD})),
    )
    .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let mut ids = vec![res.headers()["x-request-id"]
        .to_str()
        .expect("id")
        .to_owned()];
    let res = app.login("carol", PASSWORD).await;
    ids.push(
        res.headers()["x-request-id"]
            .to_str()
            .expect("id")
            .to_owned(),
    );
    let carol = tokens_of(res).await;
    assert_error(
        app.login("carol", "not the password").await,
        StatusCode::UNAUTHORIZED,
        "INVALID_CREDENTIALS",
    )
    .await;
    let file = app
        .upload(&carol.access, "notes.txt", b"some notes", "text/plain")
        .await;
    let got = app.download(&carol.access, &file).await;
    assert_eq!(got.bytes().await.expect("bytes").as_ref(), b"some notes");
    app.user("dave").await;
    let res = app
        .post_auth(
            &format!("/api/v1/files/{file}/shares"),
            &carol.access,
            &json!({"username": "dave", "permission": "read"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let carol_id = user_id(&app, &carol.access).await;
    let res = send(
        &app,
        Method::PATCH,
        &format!("/api/v1/admin/users/{carol_id}"),
        Some(&admin.access),
        Some(json!({"disabled": true})),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);

    let by_carol = audit(&app, &admin.access, &format!("actor_id={carol_id}"), 5).await;
    let actions: Vec<&str> = by_carol
        .iter()
        .map(|e| e["action"].as_str().expect("action"))
        .collect();
    assert_eq!(
        actions,
        [
            "auth.register",
            "auth.login",
            "presign.upload",
            "presign.download",
            "share.created"
        ]
    );
    assert_eq!(by_carol[0]["request_id"], ids[0].as_str());
    assert_eq!(by_carol[1]["request_id"], ids[1].as_str());
    assert!(by_carol
        .iter()
        .all(|e| e["request_id"].is_string() && e["ip"].is_string() && e["outcome"] == "ok"));
    // The whole log, in order: carol's actions, then her account disabled by the admin.
    let target = format!("user:{carol_id}");
    // The writer keeps order: once the last event is stored, all before it are.
    let disabled = audit(
        &app,
        &admin.access,
        &format!("target={target}&action=admin.user_updated"),
        1,
    )
    .await;
    let all = audit(&app, &admin.access, "", 1).await;
    let about_carol: Vec<&str> = all
        .iter()
        .filter(|e| e["actor_id"] == carol_id.as_str() || e["target"] == target.as_str())
        .map(|e| e["action"].as_str().expect("action"))
        .collect();
    assert_eq!(
        about_carol,
        [
            "auth.register",
            "auth.login",
            "presign.upload",
            "presign.download",
            "share.created",
            "admin.user_updated"
        ]
    );
    assert_eq!(disabled[0]["actor_name"], "root-admin");
    assert_eq!(disabled[0]["detail"]["disabled"], true);
    assert!(disabled[0]["request_id"].is_string());
    let failed = audit(&app, &admin.access, "action=auth.login&outcome=denied", 1).await;
    assert_eq!(failed[0]["detail"]["username"], "carol");
    assert_eq!(failed[0]["detail"]["error_code"], "INVALID_CREDENTIALS");
    // Paging by cursor walks the same events.
    let first: Value = app
        .get_auth(
            &format!("/api/v1/admin/audit?actor_id={carol_id}&limit=2"),
            &admin.access,
        )
        .await
        .json()
        .await
        .expect("json");
    let cursor = first["next_cursor"].as_str().expect("cursor");
    let rest: Value = app
        .get_auth(
            &format!("/api/v1/admin/audit?actor_id={carol_id}&limit=1000&cursor={cursor}"),
            &admin.access,
        )
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(rest["items"][0]["id"], by_carol[2]["id"]);
}

#[tokio::test]
async fn the_audit_log_is_read_by_time_range() {
    let (app, admin) = app_with_admin().await;
    app.user("erin").await;
    let stamp = || {
        chrono::Utc::now()
            .format("%Y-%m-%dT%H:%M:%S%.6fZ")
            .to_string()
    };
    let pause = || tokio::time::sleep(std::time::Duration::from_millis(30));
    let start = stamp();
    pause().await;
    assert_eq!(app.login("erin", PASSWORD).await.status(), StatusCode::OK);
    pause().await;
    let middle = stamp();
    pause().await;
    assert_eq!(app.login("erin", PASSWORD).await.status(), StatusCode::OK);
    pause().await;
    let end = stamp();
    let ids = |events: Vec<Value>| {
        events
            .iter()
            .filter(|e| e["actor_name"] == "erin")
            .map(|e| e["id"].as_str().expect("id").to_owned())
            .collect::<Vec<_>>()
    };
    let both = ids(audit(
        &app,
        &admin.access,
        &format!("action=auth.login&since={start}&until={end}"),
        2,
    )
    .await);
    assert_eq!(both.len(), 2, "both sign-ins lie in the range");
    let before = ids(audit(
        &app,
        &admin.access,
        &format!("action=auth.login&since={start}&until={middle}"),
        1,
    )
    .await);
    assert_eq!(
        before,
        both[..1],
        "until is exclusive of what came after it"
    );
    let after = ids(audit(
        &app,
        &admin.access,
        &format!("action=auth.login&since={middle}"),
        1,
    )
    .await);
    assert_eq!(after, both[1..], "since leaves out what came before it");
    let later = ids(audit(
        &app,
        &admin.access,
        &format!("action=auth.login&since={end}"),
        0,
    )
    .await);
    assert!(later.is_empty(), "nothing after the end");
}
