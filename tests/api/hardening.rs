//! Hardening found by probing as an adversarial client: slow bodies, deceptive names,
//! forged forwarding headers, over-long tokens, files readable by others, and an audit
//! log that must not lose events under load.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::helpers::{assert_error, spawn_app, spawn_app_with, JWT_SECRET};

#[tokio::test]
async fn a_body_that_stops_arriving_answers_408_and_frees_the_connection() {
    let app = spawn_app_with(|s| s.body_read_timeout = Duration::from_secs(1)).await;
    let addr = app.address.trim_start_matches("http://").to_owned();
    let mut conn = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect");
    let head = "POST /api/v1/auth/login HTTP/1.1\r\nHost: coffer\r\n\
                Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"user";
    conn.write_all(head.as_bytes()).await.expect("write");
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), async {
        let mut buf = [0u8; 4096];
        loop {
            let n = conn.read(&mut buf).await.expect("read");
            answer.extend_from_slice(&buf[..n]);
            if n == 0 || String::from_utf8_lossy(&answer).contains("BODY_TIMEOUT") {
                break;
            }
        }
    })
    .await;
    assert!(read.is_ok(), "no answer within 10 s");
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("\"error_code\":\"BODY_TIMEOUT\""), "{text}");
}

#[tokio::test]
async fn names_are_one_spelling_and_cannot_hide_what_they_are() {
    let app = spawn_app().await;
    let t = app.user("names").await;
    let composed = app
        .post_auth("/api/v1/folders", &t.access, &json!({"name": "caf\u{e9}"}))
        .await;
    assert_eq!(composed.status(), StatusCode::CREATED);
    let decomposed = app
        .post_auth(
            "/api/v1/folders",
            &t.access,
            &json!({"name": "cafe\u{301}"}),
        )
        .await;
    assert_error(decomposed, StatusCode::CONFLICT, "NAME_TAKEN").await;
    for name in [
        "invoice\u{202E}fdp.exe",
        "zero\u{200B}width.txt",
        "\u{FEFF}x",
    ] {
        let res = app
            .start_upload(&t.access, &json!({"name": name, "size": 1}))
            .await;
        assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "INVALID_NAME").await;
    }
}

async fn link_url(app: &crate::helpers::TestApp, access: &str, file: &str) -> String {
    let res = app
        .client
        .post(app.url(&format!("/api/v1/files/{file}/links")))
        .bearer_auth(access)
        .header("x-forwarded-host", "evil.example")
        .header("x-forwarded-proto", "https")
        .header("forwarded", "host=evil.example;proto=https")
        .json(&json!({}))
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), StatusCode::CREATED);
    res.json::<Value>().await.expect("json")["url"]
        .as_str()
        .expect("url")
        .to_owned()
}

#[tokio::test]
async fn forwarding_headers_shape_links_only_from_trusted_proxies() {
    let app = spawn_app().await;
    let t = app.user("linker").await;
    let file = app.upload(&t.access, "a.txt", b"a", "text/plain").await;
    let url = link_url(&app, &t.access, &file).await;
    assert!(url.starts_with(&format!("{}/s/", app.address)), "{url}");

    let proxied =
        spawn_app_with(|s| s.trusted_proxies = vec!["127.0.0.1/32".parse().expect("net")]).await;
    let t = proxied.user("linker").await;
    let file = proxied.upload(&t.access, "a.txt", b"a", "text/plain").await;
    let url = link_url(&proxied, &t.access, &file).await;
    assert!(url.starts_with("https://evil.example/s/"), "{url}");
}

#[tokio::test]
async fn correctly_signed_access_tokens_that_live_too_long_are_refused() {
    use jsonwebtoken::{encode, EncodingKey, Header};
    let app = spawn_app().await;
    let t = app.user("forger").await;
    let me: Value = app.me(&t.access).await.json().await.expect("json");
    let payload = t.access.split('.').nth(1).expect("payload");
    let claims: Value = serde_json::from_slice(
        &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, payload)
            .expect("base64"),
    )
    .expect("claims");
    let mut long = claims.clone();
    long["exp"] = json!(claims["iat"].as_i64().expect("iat") + 30 * 86_400);
    let forged = encode(
        &Header::default(),
        &long,
        &EncodingKey::from_secret(JWT_SECRET.as_bytes()),
    )
    .expect("sign");
    assert_error(
        app.me(&forged).await,
        StatusCode::UNAUTHORIZED,
        "INVALID_TOKEN",
    )
    .await;
    // The same claims with the normal lifetime still work: only the lifetime differs.
    let honest = encode(
        &Header::default(),
        &claims,
        &EncodingKey::from_secret(JWT_SECRET.as_bytes()),
    )
    .expect("sign");
    let res = app.me(&honest).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.json::<Value>().await.expect("json")["id"], me["id"]);
}

#[cfg(unix)]
#[tokio::test]
async fn the_data_directory_and_the_database_file_are_private() {
    use std::os::unix::fs::PermissionsExt as _;
    let base = std::env::temp_dir().join(format!("coffer-perms-{}", uuid::Uuid::new_v4()));
    let data = base.join("nested").join("data");
    let db = data.join("coffer.db");
    let (data2, db2) = (data.clone(), db.clone());
    let sqlite = std::env::var("COFFER_TEST_DATABASE_URL").map_or(true, |v| v.is_empty());
    let _app = spawn_app_with(move |s| {
        s.data_dir = data2;
        if s.is_sqlite() {
            s.database_url = format!("sqlite://{}?mode=rwc", db2.display()).into();
        }
    })
    .await;
    let mode =
        |p: &std::path::Path| std::fs::metadata(p).expect("stat").permissions().mode() & 0o777;
    assert_eq!(mode(&data), 0o700, "data directory");
    assert_eq!(mode(&base.join("nested")), 0o700, "created parents too");
    if sqlite {
        assert_eq!(mode(&db), 0o600, "database file");
    }
    let _ = std::fs::remove_dir_all(&base);
}

#[tokio::test]
async fn no_audit_event_is_lost_when_the_writer_falls_behind() {
    // A backlog of 2 events: nearly every request finds it full and must wait.
    let app = spawn_app_with(|s| s.audit_backlog = 2).await;
    let t = app.user("auditee").await;
    let file = app.upload(&t.access, "a.txt", b"a", "text/plain").await;
    let downloads = 200;
    let path = format!("/api/v1/files/{file}/download");
    let answers =
        futures::future::join_all((0..downloads).map(|_| app.get_auth(&path, &t.access))).await;
    assert!(answers.iter().all(|r| r.status() == StatusCode::OK));
    app.app_state.audit.flush().await;
    let stored = count_events(&app, "presign.download").await;
    assert_eq!(stored, downloads, "one event per download");
    assert_eq!(app.app_state.audit.dropped(), 0);
    let (waits, _) = app.app_state.audit.waits();
    assert!(waits > 0, "the test did fill the backlog");
    let metrics = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("scrape")
        .text()
        .await
        .expect("text");
    assert!(
        metrics.contains("coffer_audit_events_dropped_total 0\n"),
        "{metrics}"
    );
    assert!(metrics.contains(&format!("coffer_audit_waits_total {waits}\n")));
}

async fn count_events(app: &crate::helpers::TestApp, action: &str) -> usize {
    use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
    coffer::entity::audit_events::Entity::find()
        .filter(coffer::entity::audit_events::Column::Action.eq(action))
        .count(&app.app_state.db)
        .await
        .expect("count") as usize
}
