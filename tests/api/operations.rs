//! What an operator runs the service with: runtime settings, statistics, deleting a user
//! (with the worker's purge of their objects) and `/metrics`.

use std::collections::{BTreeMap, HashMap};

use reqwest::{Method, StatusCode};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::admin::{app_with_admin, send, user_id};
use crate::helpers::{
    assert_error, folder, pattern, put_presigned, raw_client, server_errors, spawn_app,
    spawn_app_with, upload_into, TestApp, PASSWORD,
};

async fn json_of(res: reqwest::Response) -> Value {
    res.json().await.expect("json")
}

async fn settings(app: &TestApp, access: &str) -> Value {
    let res = app.get_auth("/api/v1/admin/settings", access).await;
    assert_eq!(res.status(), StatusCode::OK);
    json_of(res).await
}

async fn patch_settings(app: &TestApp, access: &str, body: Value) -> reqwest::Response {
    send(
        app,
        Method::PATCH,
        "/api/v1/admin/settings",
        Some(access),
        Some(body),
    )
    .await
}

/// `X-Amz-Expires` of a presigned URL.
fn expires(url: &str) -> u64 {
    let url = reqwest::Url::parse(url).expect("url");
    let v = url
        .query_pairs()
        .find(|(k, _)| k == "X-Amz-Expires")
        .map(|(_, v)| v.parse().expect("number"));
    v.expect("X-Amz-Expires")
}

#[tokio::test]
async fn runtime_settings_are_stored_and_apply_on_the_next_request() {
    let (app, admin) = app_with_admin().await;
    let alice = app.user("alice").await;
    let before = settings(&app, &admin.access).await;
    assert_eq!(
        before,
        json!({
            "registration_open": true,
            "default_role": "user",
            "default_quota_bytes": 10_737_418_240_i64,
            "default_quota_objects": 100_000,
            "allowed_content_types": [],
            "max_upload_bytes": 5_497_558_138_880_i64,
            "presign_ttl_seconds": 600,
            "api_token_max_days": 90,
            "device_login_enabled": true,
            "trash_retention_days": 0,
            "tier_schedule": "0 0 * * *",
            "tier_time_zone": "UTC",
            "tier_min_age_seconds": 3600,
            "tier_min_size_bytes": 0,
            "tier_users": [],
            "tier_concurrency": 4,
            "tier_bandwidth_bytes_per_second": 0,
            "tier_max_bytes_per_run": 0,
            "tier_release_primary": false,
            "tier_release_grace_seconds": 86_400,
            "tier_release_max_percent": 10,
            "lifecycle_rules": [],
        })
    );

    // Refused changes change nothing.
    for bad in [
        json!({"presign_ttl_seconds": 0}),
        json!({"presign_ttl_seconds": 604_801}),
        json!({"max_upload_bytes": 0}),
        json!({"default_role": "root"}),
        json!({"default_quota_bytes": -1}),
        json!({"allowed_content_types": ["text"]}),
        json!({"allowed_content_types": ["*/*"]}),
        json!({"registration_open": "no"}),
        json!({"multipart_threshold": 1}),
        json!({"api_token_max_days": 0}),
        json!({"api_token_max_days": 3651}),
        json!({"trash_retention_days": 3651}),
        json!({"tier_schedule": "at midnight"}),
        json!({"tier_time_zone": "Europe/Atlantis"}),
        json!({"tier_concurrency": 0}),
        json!({"tier_release_max_percent": 101}),
    ] {
        let res = patch_settings(&app, &admin.access, bad.clone()).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
    }
    assert_error(
        patch_settings(&app, &alice.access, json!({"registration_open": false})).await,
        StatusCode::FORBIDDEN,
        "ADMIN_ONLY",
    )
    .await;
    assert_eq!(settings(&app, &admin.access).await, before);

    let res = patch_settings(
        &app,
        &admin.access,
        json!({
            "registration_open": false,
            "default_quota_bytes": 5000,
            "default_quota_objects": 3,
            "allowed_content_types": ["Text/*", "application/json"],
            "max_upload_bytes": 100,
            "presign_ttl_seconds": 120,
        }),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let after = json_of(res).await;
    assert_eq!(
        after["allowed_content_types"],
        json!(["application/json", "text/*"])
    );
    assert_eq!(after["presign_ttl_seconds"], 120);
    assert_eq!(settings(&app, &admin.access).await, after);

    // The very next requests follow them.
    assert_error(
        app.register("bob", PASSWORD).await,
        StatusCode::FORBIDDEN,
        "REGISTRATION_CLOSED",
    )
    .await;
    let (app_ref, access) = (&app, alice.access.as_str());
    let start = |body: Value| async move { app_ref.start_upload(access, &body).await };
    assert_error(
        start(json!({"name": "a.zip", "size": 10, "content_type": "application/zip"})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "CONTENT_TYPE_NOT_ALLOWED",
    )
    .await;
    assert_error(
        start(json!({"name": "big.txt", "size": 101, "content_type": "text/plain"})).await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "UPLOAD_TOO_LARGE",
    )
    .await;
    let bytes = pattern(100, 7);
    let started = app
        .started(&alice.access, "ok.txt", 100, "text/plain")
        .await;
    assert_eq!(
        expires(started.body["put"]["url"].as_str().expect("url")),
        120
    );
    assert!(put_presigned(&started.body["put"], bytes.clone())
        .await
        .status()
        .is_success());
    let res = app
        .post_auth(
            &format!("/api/v1/uploads/{}/complete", started.upload_id),
            &alice.access,
            &json!({}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK, "{}", server_errors());
    let link: Value = json_of(
        app.get_auth(
            &format!("/api/v1/files/{}/download", started.file_id),
            &alice.access,
        )
        .await,
    )
    .await;
    assert_eq!(expires(link["url"].as_str().expect("url")), 120);
    let got = raw_client()
        .get(link["url"].as_str().expect("url"))
        .send()
        .await
        .expect("GET");
    assert_eq!(got.bytes().await.expect("body").to_vec(), bytes);

    // New accounts get the new defaults, including the role.
    let res = patch_settings(
        &app,
        &admin.access,
        json!({"registration_open": true, "default_role": "admin"}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let carol = app.user("carol").await;
    let usage = app.usage(&carol.access).await;
    assert_eq!((usage.quota_bytes, usage.quota_objects), (5000, 3));
    assert_eq!(json_of(app.me(&carol.access).await).await["role"], "admin");

    // Stored in the database: another process reading it sees the same.
    let other = coffer::runtime::Runtime::new(app.app_state.db.clone(), &app.app_state.settings);
    let seen = serde_json::to_value(other.get().await.expect("read").as_ref()).expect("json");
    assert_eq!(seen, settings(&app, &admin.access).await);
}

#[tokio::test]
async fn statistics_add_up_over_users_tiers_and_content_types() {
    let (app, admin) = app_with_admin().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    app.upload(&alice.access, "a.txt", &pattern(100, 1), "text/plain")
        .await;
    app.upload(&alice.access, "b.json", &pattern(50, 2), "application/json")
        .await;
    app.upload(&bob.access, "c.txt", &pattern(30, 3), "text/plain")
        .await;
    app.pending_upload(
        &bob.access,
        json!({"name": "open.bin", "size": 20}),
        &pattern(20, 4),
    )
    .await;

    let stats = json_of(
        app.get_auth("/api/v1/admin/stats?top=2", &admin.access)
            .await,
    )
    .await;
    assert_eq!(stats["users"], 3);
    assert_eq!(stats["disabled_users"], 0);
    assert_eq!(stats["used_bytes"], 180);
    assert_eq!(stats["used_objects"], 3);
    assert_eq!(stats["reserved_bytes"], 20);
    assert_eq!(stats["reserved_objects"], 1);
    assert_eq!(stats["open_uploads"], 1);
    let top = stats["top_users"].as_array().expect("top");
    assert_eq!(top.len(), 2);
    assert_eq!(
        (top[0]["username"].clone(), top[0]["used_bytes"].clone()),
        (json!("alice"), json!(150))
    );
    assert_eq!(
        (top[1]["username"].clone(), top[1]["used_bytes"].clone()),
        (json!("bob"), json!(30))
    );
    assert_eq!(
        stats["by_content_type"],
        json!([
            {"key": "text/plain", "objects": 2, "bytes": 130},
            {"key": "application/json", "objects": 1, "bytes": 50},
        ])
    );
    let tiers = stats["by_tier"].as_array().expect("tiers");
    let tier_bytes: i64 = tiers
        .iter()
        .map(|t| t["bytes"].as_i64().expect("bytes"))
        .sum();
    let tier_objects: i64 = tiers
        .iter()
        .map(|t| t["objects"].as_i64().expect("n"))
        .sum();
    assert_eq!((tier_bytes, tier_objects), (180, 3));

    // Out of range is 422; not a number is a malformed query (400).
    for (bad, status) in [
        ("top=0", StatusCode::UNPROCESSABLE_ENTITY),
        ("top=101", StatusCode::UNPROCESSABLE_ENTITY),
        ("top=x", StatusCode::BAD_REQUEST),
    ] {
        let res = app
            .get_auth(&format!("/api/v1/admin/stats?{bad}"), &admin.access)
            .await;
        assert_eq!(res.status(), status, "{bad}");
    }
    assert_error(
        app.get_auth("/api/v1/admin/stats", &alice.access).await,
        StatusCode::FORBIDDEN,
        "ADMIN_ONLY",
    )
    .await;
}

/// Keys the store holds under `prefix`.
async fn stored_under(app: &TestApp, prefix: &str) -> Vec<String> {
    let mut keys: Vec<String> = app
        .app_state
        .store
        .list(prefix)
        .await
        .expect("list")
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    keys.sort();
    keys
}

#[tokio::test]
async fn deleting_a_user_purges_every_object_and_keeps_the_audit_log() {
    let (app, admin) = app_with_admin().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let alice_id = user_id(&app, &alice.access).await;
    let prefix = format!("{alice_id}/");

    let kept = pattern(300, 9);
    let bobs = app
        .upload(&bob.access, "bob.bin", &kept, "application/octet-stream")
        .await;
    let first = app
        .upload(
            &alice.access,
            "a.bin",
            &pattern(100, 1),
            "application/octet-stream",
        )
        .await;
    let results = folder(&app, &alice.access, "results", None).await;
    upload_into(&app, &alice.access, "b.bin", &results, &pattern(200, 2)).await;
    let pending = app
        .pending_upload(
            &alice.access,
            json!({"name": "open.bin", "size": 50}),
            &pattern(50, 3),
        )
        .await;
    let res = app
        .post_auth(
            &format!("/api/v1/files/{results}/shares"),
            &alice.access,
            &json!({"username": "bob", "permission": "read"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED, "share");
    let res = app
        .post_auth(
            &format!("/api/v1/files/{results}/links"),
            &alice.access,
            &json!({}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED, "link");
    let token = json_of(res).await["token"]
        .as_str()
        .expect("token")
        .to_owned();
    // An archive of her files, built by the worker outside her prefix.
    let res = app
        .post_auth(
            "/api/v1/archives",
            &alice.access,
            &json!({"ids": [first, results]}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let task_id = json_of(res).await["task_id"]
        .as_str()
        .expect("task")
        .to_owned();
    assert!(app.run_tasks().await >= 1);
    let archive = coffer::archives::archive_key(Uuid::parse_str(&task_id).expect("uuid"));
    assert!(!app.object_gone(&archive).await);
    assert_eq!(stored_under(&app, &prefix).await.len(), 3);

    // Refused: not an admin, an unknown user, the admin themselves.
    let path = format!("/api/v1/admin/users/{alice_id}");
    assert_error(
        send(&app, Method::DELETE, &path, Some(&bob.access), None).await,
        StatusCode::FORBIDDEN,
        "ADMIN_ONLY",
    )
    .await;
    let unknown = format!("/api/v1/admin/users/{}", Uuid::new_v4());
    assert_eq!(
        send(&app, Method::DELETE, &unknown, Some(&admin.access), None)
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    let admin_id = user_id(&app, &admin.access).await;
    assert_error(
        send(
            &app,
            Method::DELETE,
            &format!("/api/v1/admin/users/{admin_id}"),
            Some(&admin.access),
            None,
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "INVALID_REQUEST",
    )
    .await;

    let res = send(&app, Method::DELETE, &path, Some(&admin.access), None).await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let deleted = json_of(res).await;
    assert_eq!(deleted["username"], "alice");
    assert_eq!(
        (
            deleted["purged_objects"].clone(),
            deleted["purged_bytes"].clone()
        ),
        (json!(2), json!(300))
    );

    // Gone at once: her sessions, her metadata, what she shared.
    app.assert_session_ended(&alice).await;
    assert_eq!(
        app.login("alice", PASSWORD).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        send(&app, Method::GET, &path, Some(&admin.access), None)
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    let shared = json_of(app.get_auth("/api/v1/shared-with-me", &bob.access).await).await;
    assert_eq!(shared["items"], json!([]));
    assert_eq!(
        raw_client()
            .get(app.url(&format!("/s/{token}")))
            .send()
            .await
            .expect("GET")
            .status(),
        StatusCode::NOT_FOUND
    );

    // The worker empties her prefix and removes her archive; bob keeps his file.
    assert!(app.run_tasks().await >= 1);
    assert_eq!(stored_under(&app, &prefix).await, Vec::<String>::new());
    assert!(app.object_gone(&archive).await);
    let res = app.download(&bob.access, &bobs).await;
    assert_eq!(res.bytes().await.expect("body").to_vec(), kept);

    // An upload URL handed out before the deletion still works until it expires; the
    // second sweep, due after the presign TTL, removes what it put.
    assert!(put_presigned(&pending.body["put"], pattern(50, 3))
        .await
        .status()
        .is_success());
    assert_eq!(stored_under(&app, &prefix).await.len(), 1);
    coffer::entity::tasks::Entity::update_many()
        .col_expr(
            coffer::entity::tasks::Column::RunAfterMs,
            Expr::value(0_i64),
        )
        .filter(coffer::entity::tasks::Column::State.eq("queued"))
        .filter(coffer::entity::tasks::Column::Kind.eq("purge"))
        .exec(&app.app_state.db)
        .await
        .expect("make the late sweep due");
    assert!(app.run_tasks().await >= 1);
    assert_eq!(stored_under(&app, &prefix).await, Vec::<String>::new());

    // The audit log keeps her events and records the deletion.
    app.app_state.audit.flush().await;
    let audit = json_of(
        app.get_auth(
            &format!("/api/v1/admin/audit?actor_id={alice_id}"),
            &admin.access,
        )
        .await,
    )
    .await;
    let actions: Vec<&str> = audit["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|e| e["action"].as_str().expect("action"))
        .collect();
    assert!(
        actions.contains(&"auth.register") && actions.contains(&"presign.upload"),
        "{actions:?}"
    );
    let target = format!("user:{alice_id}");
    let page = json_of(
        app.get_auth(
            &format!("/api/v1/admin/audit?action=admin.user_deleted&target={target}"),
            &admin.access,
        )
        .await,
    )
    .await;
    let deletion = page["items"][0].clone();
    assert_eq!(deletion["actor_name"], "root-admin");
    assert_eq!(deletion["detail"]["username"], "alice");
    let stats = json_of(app.get_auth("/api/v1/admin/stats", &admin.access).await).await;
    assert_eq!(
        (stats["users"].clone(), stats["used_bytes"].clone()),
        (json!(2), json!(300))
    );
}

type Labels = BTreeMap<String, String>;

/// One sample of the text format.
#[derive(Debug)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// Parses the Prometheus text format strictly: every line is a `# HELP`, a `# TYPE` or a
/// sample of a declared family; no series appears twice; histogram buckets never
/// decrease and the `+Inf` bucket equals `_count`.
fn parse_metrics(text: &str) -> Vec<Sample> {
    let name_ok = |n: &str| {
        let mut chars = n.chars();
        chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
    };
    let mut types: HashMap<String, String> = HashMap::new();
    let mut samples = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for line in text.lines() {
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# ") {
            let mut parts = rest.splitn(3, ' ');
            let (kw, name, tail) = (parts.next(), parts.next(), parts.next());
            let name = name.unwrap_or_else(|| panic!("comment without a name: {line}"));
            assert!(name_ok(name), "bad name: {line}");
            match kw {
                Some("HELP") => assert!(tail.is_some_and(|t| !t.is_empty()), "empty help: {line}"),
                Some("TYPE") => {
                    let t = tail.unwrap_or_default();
                    assert!(
                        ["counter", "gauge", "histogram"].contains(&t),
                        "type: {line}"
                    );
                    assert!(
                        types.insert(name.to_owned(), t.to_owned()).is_none(),
                        "twice: {line}"
                    );
                }
                _ => panic!("unknown comment: {line}"),
            }
            continue;
        }
        let (series, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("no value: {line}"));
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            v => v.parse().unwrap_or_else(|_| panic!("bad value: {line}")),
        };
        let (name, labels) = match series.split_once('{') {
            None => (series, BTreeMap::new()),
            Some((name, rest)) => {
                let body = rest
                    .strip_suffix('}')
                    .unwrap_or_else(|| panic!("unclosed: {line}"));
                let mut labels = BTreeMap::new();
                let mut chars = body.chars().peekable();
                while chars.peek().is_some() {
                    let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
                    assert!(name_ok(&key), "bad label name: {line}");
                    assert_eq!(chars.next(), Some('"'), "unquoted label: {line}");
                    let mut v = String::new();
                    loop {
                        match chars.next() {
                            Some('\\') => match chars.next() {
                                Some('n') => v.push('\n'),
                                Some(c @ ('\\' | '"')) => v.push(c),
                                other => panic!("bad escape {other:?}: {line}"),
                            },
                            Some('"') => break,
                            Some(c) => v.push(c),
                            None => panic!("unterminated label: {line}"),
                        }
                    }
                    assert!(labels.insert(key, v).is_none(), "label twice: {line}");
                    match chars.next() {
                        Some(',') | None => {}
                        other => panic!("unexpected {other:?}: {line}"),
                    }
                }
                (name, labels)
            }
        };
        assert!(name_ok(name), "bad metric name: {line}");
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| {
                name.strip_suffix(s)
                    .filter(|f| types.get(*f).is_some_and(|t| t == "histogram"))
            })
            .unwrap_or(name);
        assert!(types.contains_key(family), "sample before its TYPE: {line}");
        assert!(seen.insert(series.to_owned()), "series twice: {line}");
        samples.push(Sample {
            name: name.to_owned(),
            labels,
            value,
        });
    }
    // Histograms: cumulative buckets ending in +Inf == _count.
    let mut buckets: BTreeMap<(String, Labels), Vec<(f64, f64)>> = BTreeMap::new();
    for s in samples.iter().filter(|s| s.name.ends_with("_bucket")) {
        let mut labels = s.labels.clone();
        let le = labels.remove("le").expect("le");
        let le = if le == "+Inf" {
            f64::INFINITY
        } else {
            le.parse().expect("le")
        };
        buckets
            .entry((s.name.trim_end_matches("_bucket").to_owned(), labels))
            .or_default()
            .push((le, s.value));
    }
    for ((family, labels), mut bs) in buckets {
        bs.sort_by(|a, b| a.0.total_cmp(&b.0));
        assert!(
            bs.windows(2).all(|w| w[0].1 <= w[1].1),
            "buckets decrease: {family} {labels:?}"
        );
        let count = samples
            .iter()
            .find(|s| s.name == format!("{family}_count") && s.labels == labels)
            .expect("_count");
        assert_eq!(bs.last().map(|b| b.0), Some(f64::INFINITY));
        assert_eq!(
            bs.last().map(|b| b.1),
            Some(count.value),
            "{family} {labels:?}"
        );
    }
    samples
}

/// The value of one series; 0 when it is absent (a counter not yet incremented).
fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    let want: BTreeMap<String, String> = labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    samples
        .iter()
        .find(|s| s.name == name && s.labels == want)
        .map_or(0.0, |s| s.value)
}

const METRICS_TOKEN: &str = "a scrape token of some length";

async fn scrape(app: &TestApp) -> Vec<Sample> {
    let res = raw_client()
        .get(app.url("/metrics"))
        .bearer_auth(METRICS_TOKEN)
        .send()
        .await
        .expect("scrape");
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    parse_metrics(&res.text().await.expect("text"))
}

#[tokio::test]
async fn metrics_parse_and_count_requests_presigns_failures_limits_tasks_and_quota() {
    let app = spawn_app_with(|s| {
        s.metrics_token = Some(METRICS_TOKEN.to_owned().into());
        s.rate_limit_auth.burst = 5;
        s.rate_limit_auth.per_minute = 1;
    })
    .await;
    for token in [None, Some("wrong")] {
        let mut req = raw_client().get(app.url("/metrics"));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        assert_error(
            req.send().await.expect("GET"),
            StatusCode::UNAUTHORIZED,
            "METRICS_TOKEN_REQUIRED",
        )
        .await;
    }

    // 2 auth requests, 1 refused login, then logins until the limit refuses.
    let alice = app.user("alice").await;
    assert_eq!(
        app.login("alice", "not the password").await.status(),
        StatusCode::UNAUTHORIZED
    );
    let mut limited = 0;
    let mut logged_in = 1;
    for _ in 0..4 {
        match app.login("alice", PASSWORD).await.status() {
            StatusCode::OK => logged_in += 1,
            StatusCode::TOO_MANY_REQUESTS => limited += 1,
            other => panic!("login answered {other}"),
        }
    }
    assert!(limited >= 1, "the auth limit never refused");
    let bytes = pattern(1234, 5);
    let file = app
        .upload(&alice.access, "m.bin", &bytes, "application/octet-stream")
        .await;
    let res = app.download(&alice.access, &file).await;
    assert_eq!(res.bytes().await.expect("body").to_vec(), bytes);
    let before = scrape(&app).await;
    assert!(app
        .app_state
        .store
        .copy("no-such-key", "anywhere")
        .await
        .is_err());
    let res = send(
        &app,
        Method::DELETE,
        &format!("/api/v1/files/{file}"),
        Some(&alice.access),
        None,
    )
    .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);

    let m = scrape(&app).await;
    let login = |status: &str| {
        value(
            &m,
            "coffer_http_requests_total",
            &[
                ("method", "POST"),
                ("route", "/api/v1/auth/login"),
                ("status", status),
            ],
        )
    };
    assert_eq!(login("200"), logged_in as f64);
    assert_eq!(login("401"), 1.0);
    assert_eq!(login("429"), limited as f64);
    let latency_count = value(
        &m,
        "coffer_http_request_duration_seconds_count",
        &[
            ("method", "POST"),
            ("route", "/api/v1/auth/login"),
            ("status", "200"),
        ],
    );
    assert_eq!(latency_count, logged_in as f64);
    assert_eq!(
        value(
            &m,
            "coffer_http_requests_total",
            &[
                ("method", "GET"),
                ("route", "/api/v1/files/{id}/download"),
                ("status", "200")
            ]
        ),
        1.0
    );
    assert_eq!(
        value(&m, "coffer_presigns_total", &[("kind", "upload")]),
        1.0
    );
    assert_eq!(
        value(&m, "coffer_presigns_total", &[("kind", "download")]),
        1.0
    );
    assert_eq!(
        value(&m, "coffer_auth_failures_total", &[("action", "login")]),
        1.0
    );
    assert_eq!(
        value(&m, "coffer_rate_limited_total", &[("limit", "auth")]),
        limited as f64
    );
    assert_eq!(
        value(&m, "coffer_store_errors_total", &[]),
        value(&before, "coffer_store_errors_total", &[]) + 1.0
    );
    // The delete queued its purge, and a late sweep for after the file's PUT URL
    // expires (a client could still store the object again until then).
    assert_eq!(
        value(
            &m,
            "coffer_tasks",
            &[("kind", "purge"), ("state", "queued")]
        ),
        2.0
    );
    assert_eq!(value(&m, "coffer_users", &[]), 1.0);
    assert_eq!(value(&before, "coffer_used_bytes", &[]), 1234.0);
    assert_eq!(value(&m, "coffer_used_bytes", &[]), 0.0);
    assert_eq!(value(&m, "coffer_quota_bytes", &[]), 10_737_418_240.0);
    // The heaviest users, by name.
    let alice_label = [("user", "alice")];
    assert_eq!(
        value(&before, "coffer_top_user_used_bytes", &alice_label),
        1234.0
    );
    assert_eq!(value(&m, "coffer_top_user_used_bytes", &alice_label), 0.0);
    assert_eq!(
        value(&m, "coffer_top_user_quota_bytes", &alice_label),
        10_737_418_240.0
    );

    assert_eq!(app.run_tasks().await, 1);
    let m = scrape(&app).await;
    assert_eq!(
        value(
            &m,
            "coffer_tasks",
            &[("kind", "purge"), ("state", "queued")]
        ),
        1.0,
        "only the late sweep waits"
    );
    assert_eq!(
        value(&m, "coffer_tasks", &[("kind", "purge"), ("state", "done")]),
        1.0
    );
    // Scrapes are counted too, under their route.
    assert!(
        value(
            &m,
            "coffer_http_requests_total",
            &[("method", "GET"), ("route", "/metrics"), ("status", "200")]
        ) >= 2.0
    );
}

/// `cofferd healthcheck`, the containers' health check: 0 while the server on the
/// configured port is ready, 1 once nothing answers there.
#[tokio::test]
async fn healthcheck_exits_by_the_servers_readiness() {
    let app = spawn_app().await;
    let port = app.address.rsplit(':').next().expect("port").to_owned();
    let (code, out) = healthcheck(port).await;
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("answers /readyz with 200"), "{out}");
    // A port nothing listens on: bound, then closed.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    assert_eq!(healthcheck(closed.to_string()).await.0, Some(1));
}

/// Runs `cofferd healthcheck` against `port`, beside the runtime serving the app; its
/// exit code and output. Production without its secrets: the check reads only the
/// listener's settings.
async fn healthcheck(port: String) -> (Option<i32>, String) {
    tokio::task::spawn_blocking(move || {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_cofferd"))
            .arg("healthcheck")
            .env_clear()
            .env("COFFER_ENV", "production")
            .env("COFFER_HOST", "0.0.0.0")
            .env("COFFER_PORT", port)
            .output()
            .expect("cofferd runs");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.code(), text)
    })
    .await
    .expect("healthcheck ran")
}
