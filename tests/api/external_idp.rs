//! An external identity provider, played by a small HTTP server in the harness: good
//! answers (accounts created just in time with the admin's defaults, the group mapped
//! to a role), a wrong password, a slow provider, a provider that is down (the circuit
//! breaker, local accounts still working) and a malformed answer; field ownership
//! across logins; signed requests; rate limits before forwarding; no password in logs.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use coffer::auth::external::sign;
use reqwest::{Method, StatusCode};
use sea_orm::EntityTrait;
use serde_json::{json, Value};

use crate::admin::send;
use crate::helpers::{assert_error, captured_logs, spawn_app_with, tokens_of, TestApp, Tokens};

const SECRET: &str = "the provider's shared secret, 32+ bytes long";
const ADMIN_PASSWORD: &str = "the local admin's own passphrase";

/// How the provider behaves.
#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Good,
    Slow,
    Down,
    Malformed,
}

/// The identity service: its users (name → password and identity), its mode, and what
/// it received.
struct Idp {
    mode: Mutex<Mode>,
    users: Mutex<HashMap<String, (String, Value)>>,
    calls: AtomicUsize,
    bad_signatures: AtomicUsize,
    last_body: Mutex<Value>,
}

impl Idp {
    fn set(&self, mode: Mode) {
        *self.mode.lock().expect("mode") = mode;
    }

    fn add(&self, username: &str, password: &str, identity: Value) {
        self.users
            .lock()
            .expect("users")
            .insert(username.to_owned(), (password.to_owned(), identity));
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

async fn answer(idp: web::Data<Arc<Idp>>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    idp.calls.fetch_add(1, Ordering::SeqCst);
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let timestamp = header("x-coffer-timestamp");
    let fresh = timestamp
        .parse::<i64>()
        .is_ok_and(|t| (chrono::Utc::now().timestamp() - t).abs() < 60);
    let expected = format!("sha256={}", sign(SECRET.as_bytes(), &timestamp, &body));
    if !fresh || header("x-coffer-signature") != expected {
        idp.bad_signatures.fetch_add(1, Ordering::SeqCst);
        return HttpResponse::BadRequest().finish();
    }
    let request: Value = serde_json::from_slice(&body).unwrap_or_default();
    *idp.last_body.lock().expect("body") = request.clone();
    let mode = *idp.mode.lock().expect("mode");
    match mode {
        Mode::Down => return HttpResponse::InternalServerError().finish(),
        Mode::Malformed => return HttpResponse::Ok().body("{\"subject\": 42,"),
        Mode::Slow => tokio::time::sleep(Duration::from_secs(3)).await,
        Mode::Good => {}
    }
    let username = request["username"].as_str().unwrap_or_default();
    let users = idp.users.lock().expect("users");
    match users.get(username) {
        Some((password, identity)) if request["password"] == password.as_str() => {
            HttpResponse::Ok().json(identity)
        }
        _ => HttpResponse::Unauthorized().finish(),
    }
}

/// Starts the provider on a free port; its URL.
async fn start_idp() -> (Arc<Idp>, String) {
    let idp = Arc::new(Idp {
        mode: Mutex::new(Mode::Good),
        users: Mutex::new(HashMap::new()),
        calls: AtomicUsize::new(0),
        bad_signatures: AtomicUsize::new(0),
        last_body: Mutex::new(Value::Null),
    });
    let data = web::Data::new(idp.clone());
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .route("/check", web::post().to(answer))
    })
    .workers(1)
    .bind(("127.0.0.1", 0))
    .expect("bind");
    let port = server.addrs()[0].port();
    tokio::spawn(server.run());
    (idp, format!("http://127.0.0.1:{port}/check"))
}

/// Coffer with the provider, a local admin, and settings for quick tests.
async fn app_with_idp(
    configure: impl FnOnce(&mut coffer::config::Settings),
) -> (TestApp, Arc<Idp>, Tokens) {
    let (idp, url) = start_idp().await;
    let app = spawn_app_with(|s| {
        s.bootstrap_admin_username = Some("root-admin".into());
        s.bootstrap_admin_password = Some(ADMIN_PASSWORD.to_owned().into());
        s.auth_external.url = Some(url);
        s.auth_external.secret = Some(SECRET.to_owned().into());
        s.auth_external.timeout = Duration::from_millis(400);
        s.auth_external.breaker_failures = 2;
        s.auth_external.breaker_open = Duration::from_millis(1500);
        s.auth_external.admin_groups = vec!["hpc-admins".into()];
        configure(s);
    })
    .await;
    let admin = tokens_of(app.login("root-admin", ADMIN_PASSWORD).await).await;
    (app, idp, admin)
}

async fn me(app: &TestApp, tokens: &Tokens) -> Value {
    app.me(&tokens.access).await.json().await.expect("me")
}

async fn admin_view(app: &TestApp, admin: &Tokens, id: &str) -> Value {
    app.get_auth(&format!("/api/v1/admin/users/{id}"), &admin.access)
        .await
        .json()
        .await
        .expect("user")
}

#[tokio::test]
async fn the_provider_vouches_and_accounts_are_created_with_the_admins_defaults() {
    let (app, idp, admin) = app_with_idp(|_| {}).await;
    let res = send(
        &app,
        Method::PATCH,
        "/api/v1/admin/settings",
        Some(&admin.access),
        Some(json!({"default_quota_bytes": 12_345, "default_quota_objects": 67})),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    idp.add(
        "carol",
        "carol's upstream password",
        json!({"subject": "uid-1001", "username": "carol", "email": "carol@uni.example", "groups": ["physics"]}),
    );
    idp.add(
        "dave",
        "dave's upstream password",
        json!({"subject": "uid-1002", "username": "dave", "email": null, "groups": ["hpc-admins"]}),
    );

    let res = app.login("carol", "carol's upstream password").await;
    assert_eq!(res.status(), StatusCode::OK);
    let carol = tokens_of(res).await;
    let who = me(&app, &carol).await;
    assert_eq!(who["username"], "carol");
    assert_eq!(who["email"], "carol@uni.example");
    assert_eq!(who["role"], "user");
    let view = admin_view(&app, &admin, who["id"].as_str().expect("id")).await;
    assert_eq!(view["quota_bytes"], 12_345, "the admin's default quota");
    assert_eq!(view["quota_objects"], 67);
    // The request was signed (the double checks) and carried the client's address.
    assert_eq!(idp.bad_signatures.load(Ordering::SeqCst), 0);
    let sent = idp.last_body.lock().expect("body").clone();
    assert_eq!(sent["username"], "carol");
    assert_eq!(sent["client_ip"], "127.0.0.1");
    // The group mapping makes dave an admin.
    let dave = tokens_of(app.login("dave", "dave's upstream password").await).await;
    assert_eq!(me(&app, &dave).await["role"], "admin");

    // A wrong password, and a name the provider does not know.
    let res = app.login("carol", "not carol's password").await;
    assert_error(res, StatusCode::UNAUTHORIZED, "INVALID_CREDENTIALS").await;
    let res = app.login("nobody", "whatever password").await;
    assert_error(res, StatusCode::UNAUTHORIZED, "INVALID_CREDENTIALS").await;
    // A local account is never forwarded, even with a wrong password.
    let calls = idp.calls();
    let res = app.login("root-admin", "wrong local password").await;
    assert_error(res, StatusCode::UNAUTHORIZED, "INVALID_CREDENTIALS").await;
    assert_eq!(idp.calls(), calls, "local accounts stay local");
    // The upstream password is stored nowhere and logged nowhere.
    let logs = captured_logs();
    assert!(!logs.contains("carol's upstream password") && !logs.contains("not carol's password"));
    let rows = coffer::entity::users::Entity::find()
        .all(&app.app_state.db)
        .await
        .expect("users");
    assert!(rows
        .iter()
        .all(|u| !u.password_hash.contains("upstream password")));
}

#[tokio::test]
async fn later_logins_update_only_what_the_provider_owns() {
    let (app, idp, admin) = app_with_idp(|_| {}).await;
    idp.add(
        "erin",
        "erin's upstream password",
        json!({"subject": "uid-7", "username": "erin", "email": "erin@old.example", "groups": ["hpc-admins"]}),
    );
    let erin = tokens_of(app.login("erin", "erin's upstream password").await).await;
    let id = me(&app, &erin).await["id"].as_str().expect("id").to_owned();
    let file = app
        .upload(&erin.access, "results.csv", b"1,2", "text/csv")
        .await;
    // The admin changes role and quota, and disables then re-enables the account.
    let patch = |body: Value| {
        let app = &app;
        let admin = admin.access.clone();
        let id = id.clone();
        async move {
            let res = send(
                app,
                Method::PATCH,
                &format!("/api/v1/admin/users/{id}"),
                Some(&admin),
                Some(body),
            )
            .await;
            assert_eq!(res.status(), StatusCode::OK);
        }
    };
    patch(json!({"role": "user", "quota_bytes": 999_999})).await;
    patch(json!({"disabled": true})).await;
    let res = app.login("erin", "erin's upstream password").await;
    assert_error(res, StatusCode::FORBIDDEN, "ACCOUNT_DISABLED").await;
    patch(json!({"disabled": false})).await;

    // Upstream, erin is renamed and changes email; the subject stays.
    idp.add(
        "erin.k",
        "erin's upstream password",
        json!({"subject": "uid-7", "username": "erin.k", "email": "erin@new.example", "groups": ["hpc-admins"]}),
    );
    let renamed = tokens_of(app.login("erin.k", "erin's upstream password").await).await;
    let who = me(&app, &renamed).await;
    assert_eq!(who["id"], id.as_str(), "the same account");
    assert_eq!(who["username"], "erin.k");
    assert_eq!(who["email"], "erin@new.example");
    assert_eq!(who["role"], "user", "the admin's role stays");
    let view = admin_view(&app, &admin, &id).await;
    assert_eq!(view["quota_bytes"], 999_999, "the admin's quota stays");
    assert_eq!(view["disabled"], false);
    let res = app
        .get_auth(&format!("/api/v1/files/{file}"), &renamed.access)
        .await;
    assert_eq!(res.status(), StatusCode::OK, "the files stay");
    // The old name is free again for nobody's benefit: it is not a local account.
    let res = app.login("erin", "erin's upstream password").await;
    assert_eq!(
        res.status(),
        StatusCode::OK,
        "the provider still vouches for the old name"
    );
    assert_eq!(me(&app, &tokens_of(res).await).await["username"], "erin");
}

#[tokio::test]
async fn a_failing_provider_trips_the_breaker_and_local_accounts_keep_working() {
    let (app, idp, _admin) = app_with_idp(|_| {}).await;
    idp.add(
        "frank",
        "frank's upstream password",
        json!({"subject": "uid-9", "username": "frank", "email": null, "groups": []}),
    );
    let local = app.user("localuser").await;
    assert_eq!(app.me(&local.access).await.status(), StatusCode::OK);

    for mode in [Mode::Down, Mode::Malformed] {
        idp.set(mode);
        let res = app.login("frank", "frank's upstream password").await;
        assert_error(
            res,
            StatusCode::SERVICE_UNAVAILABLE,
            "IDENTITY_PROVIDER_UNAVAILABLE",
        )
        .await;
    }
    // Two failures in a row: the breaker is open, nothing is forwarded.
    idp.set(Mode::Good);
    let calls = idp.calls();
    let res = app.login("frank", "frank's upstream password").await;
    assert_error(
        res,
        StatusCode::SERVICE_UNAVAILABLE,
        "IDENTITY_PROVIDER_UNAVAILABLE",
    )
    .await;
    assert_eq!(idp.calls(), calls, "not forwarded while open");
    // Local accounts sign in meanwhile.
    assert_eq!(
        app.login("localuser", crate::helpers::PASSWORD)
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        app.login("root-admin", ADMIN_PASSWORD).await.status(),
        StatusCode::OK
    );
    // Once the breaker closes, logins are forwarded again.
    tokio::time::sleep(Duration::from_millis(1600)).await;
    let res = app.login("frank", "frank's upstream password").await;
    assert_eq!(res.status(), StatusCode::OK);

    // A slow provider: refused after the timeout, not after its 3 s.
    idp.set(Mode::Slow);
    let started = std::time::Instant::now();
    let res = app.login("frank", "frank's upstream password").await;
    assert_error(
        res,
        StatusCode::SERVICE_UNAVAILABLE,
        "IDENTITY_PROVIDER_UNAVAILABLE",
    )
    .await;
    assert!(
        started.elapsed() < Duration::from_millis(2500),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn login_rate_limits_apply_before_anything_is_forwarded() {
    let (app, idp, _admin) = app_with_idp(|s| {
        s.rate_limit_auth.per_minute = 1;
        s.rate_limit_auth.burst = 4;
    })
    .await;
    // The admin's login took one; three more reach the provider, then 429.
    for _ in 0..3 {
        let res = app.login("mallory", "guess").await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
    let calls = idp.calls();
    assert_eq!(calls, 3);
    let res = app.login("mallory", "guess").await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(idp.calls(), calls, "a throttled login is not forwarded");
}
