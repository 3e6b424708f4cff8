//! The benchwrap client's protocol under `/api`, played as the deployed client sends it.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{
    assert_error, captured_logs, raw_client, spawn_app, spawn_app_with, TestApp, PASSWORD,
};

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

/// Each open upload reserves the most one may hold (5 GiB): room for the client's four
/// at once.
pub async fn roomy_app() -> TestApp {
    spawn_app_with(|s| s.default_quota_bytes = 1 << 40).await
}

/// Registers `name` the client's way and signs in with the password in the query.
pub async fn client_login(app: &TestApp, name: &str) -> (String, String) {
    let res = app
        .post_json(
            "/api/auth/register",
            &json!({"username": name, "password": PASSWORD}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let query = format!(
        "/api/auth/password?u={name}&p={}",
        PASSWORD.replace(' ', "+")
    );
    pair(post(app, &query).await, StatusCode::OK).await
}

fn encode(s: &str) -> String {
    s.replace('/', "%2F")
}

/// What the client does per file: presign, then PUT with the returned headers, its
/// guessed Content-Type and a Content-Length (also for zero bytes).
pub async fn push(
    app: &TestApp,
    access: &str,
    object_name: &str,
    bytes: Vec<u8>,
    content_type: &str,
) {
    let res = app
        .client
        .post(app.url(&format!(
            "/api/storage/presign/upload?object_name={}&benchmark_name={}",
            encode(object_name),
            object_name.split('/').next().expect("a segment")
        )))
        .bearer_auth(access)
        .send()
        .await
        .expect("presign");
    assert_eq!(res.status(), StatusCode::OK, "presign {object_name}");
    let body: Value = res.json().await.expect("json");
    assert!(body["key"]
        .as_str()
        .is_some_and(|k| k.ends_with(object_name)));
    let expires: u64 = body["expires_in"]
        .as_str()
        .expect("expires_in is a string")
        .parse()
        .expect("seconds");
    assert!(expires > 0);
    let mut put = raw_client()
        .put(body["url"].as_str().expect("url"))
        .header("content-type", content_type)
        .header("content-length", bytes.len().to_string());
    for (name, value) in body["headers"].as_object().expect("headers") {
        put = put.header(name.as_str(), value.as_str().expect("header value"));
    }
    let res = put.body(bytes).send().await.expect("PUT");
    assert!(
        res.status().is_success(),
        "PUT {object_name}: {}",
        res.status()
    );
}

pub async fn listed(app: &TestApp, access: &str) -> Vec<(String, i64)> {
    let res = app.get_auth("/api/storage/list", access).await;
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.expect("json");
    body["objects"]
        .as_array()
        .expect("objects")
        .iter()
        .map(|o| {
            assert!(o["last_modified"].as_str().is_some_and(|t| t.contains('T')));
            (
                o["key"].as_str().expect("key").to_owned(),
                o["size"].as_i64().expect("size"),
            )
        })
        .collect()
}

async fn fetch(app: &TestApp, access: &str, object_name: &str) -> reqwest::Response {
    app.get_auth(
        &format!(
            "/api/storage/presign/download?object_name={}",
            encode(object_name)
        ),
        access,
    )
    .await
}

#[tokio::test]
async fn the_client_pushes_a_job_tree_reads_it_back_and_replaces_a_file() {
    let app = roomy_app().await;
    let (access, refresh) = client_login(&app, "hpc-ada").await;
    let h5: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let tree: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "flops_matrix_mul/job_4242/4242_batch_c0107.h5",
            h5,
            "application/x-hdf5",
        ),
        (
            "flops_matrix_mul/job_4242/results.csv",
            b"n,gflops\n1,2.5\n".to_vec(),
            "text/csv",
        ),
        (
            "flops_matrix_mul/job_4242/4242_batch.log",
            Vec::new(),
            "text/plain",
        ),
        (
            "stream_bw/job_77/77_0_triad.csv",
            b"triad,11.2\n".to_vec(),
            "text/csv",
        ),
    ];
    // Four at once, as the client does.
    futures::future::join_all(
        tree.iter()
            .map(|(name, bytes, ct)| push(&app, &access, name, bytes.clone(), ct)),
    )
    .await;
    let mut want: Vec<(String, i64)> = tree
        .iter()
        .map(|(name, bytes, _)| (format!("hpc-ada/{name}"), bytes.len() as i64))
        .collect();
    want.sort();
    assert_eq!(listed(&app, &access).await, want);
    for (name, bytes, _) in &tree {
        let res = fetch(&app, &access, name).await;
        assert_eq!(res.status(), StatusCode::OK);
        let body: Value = res.json().await.expect("json");
        assert_eq!(body["key"], format!("hpc-ada/{name}"));
        assert!(body["expires_in"]
            .as_str()
            .is_some_and(|s| s.parse::<u64>().is_ok()));
        let got = raw_client()
            .get(body["url"].as_str().expect("url"))
            .send()
            .await
            .expect("GET");
        assert_eq!(got.status(), StatusCode::OK);
        assert_eq!(got.bytes().await.expect("bytes").as_ref(), bytes.as_slice());
    }
    let total: i64 = tree.iter().map(|(_, b, _)| b.len() as i64).sum();
    let usage = app.usage(&access).await;
    assert_eq!((usage.used_bytes, usage.used_objects), (total, 4));
    assert_eq!((usage.reserved_bytes, usage.reserved_objects), (0, 0));

    // The client re-sends a changed file under the same name: replaced in place.
    let csv = "flops_matrix_mul/job_4242/results.csv";
    let before = app.get_auth("/api/v1/folders/root/items", &access).await;
    assert_eq!(before.status(), StatusCode::OK);
    let changed = b"n,gflops\n1,2.5\n2,4.75\n4,9.0\n".to_vec();
    push(&app, &access, csv, changed.clone(), "text/csv").await;
    let now = listed(&app, &access).await;
    assert_eq!(now.len(), 4);
    assert!(now.contains(&(format!("hpc-ada/{csv}"), changed.len() as i64)));
    let res = fetch(&app, &access, csv).await;
    let body: Value = res.json().await.expect("json");
    let got = raw_client()
        .get(body["url"].as_str().expect("url"))
        .send()
        .await
        .expect("GET");
    assert_eq!(
        got.bytes().await.expect("bytes").as_ref(),
        changed.as_slice()
    );
    let usage = app.usage(&access).await;
    let total = total - tree[1].1.len() as i64 + changed.len() as i64;
    assert_eq!((usage.used_bytes, usage.used_objects), (total, 4));
    assert_eq!((usage.reserved_bytes, usage.reserved_objects), (0, 0));
    let drift = coffer::quotas::service::check_usage(&app.app_state.db)
        .await
        .expect("check");
    assert!(drift.is_empty(), "{drift:?}");

    // Refresh; the old refresh token is refused afterwards.
    let (access2, _) = pair(
        post(&app, &format!("/api/auth/refresh?rid={refresh}")).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(listed(&app, &access2).await.len(), 4);
    let res = post(&app, &format!("/api/auth/refresh?rid={refresh}")).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_replaced_file_keeps_its_id_and_the_later_start_wins() {
    let app = roomy_app().await;
    let (access, _) = client_login(&app, "hpc-bea").await;
    let name = "bench/job_1/1_batch_out.txt";
    push(&app, &access, name, b"first".to_vec(), "text/plain").await;
    assert_eq!(listed(&app, &access).await.len(), 1);
    let id_of = |app: &TestApp| {
        let db = app.app_state.db.clone();
        async move {
            use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
            let rows = coffer::entity::files::Entity::find()
                .filter(coffer::entity::files::Column::Name.eq("1_batch_out.txt"))
                .all(&db)
                .await
                .expect("files");
            assert_eq!(rows.len(), 1, "one file of that name");
            rows[0].id
        }
    };
    let id = id_of(&app).await;
    push(
        &app,
        &access,
        name,
        b"second, longer".to_vec(),
        "text/plain",
    )
    .await;
    assert_eq!(
        listed(&app, &access).await,
        [(format!("hpc-bea/{name}"), 14)]
    );
    assert_eq!(id_of(&app).await, id, "the same file, new content");

    // Two starts of one name before either PUT: the later one wins.
    let start = |app: &TestApp| {
        let client = app.client.clone();
        let url = app.url(&format!(
            "/api/storage/presign/upload?object_name={}",
            encode(name)
        ));
        let access = access.clone();
        async move {
            let res = client
                .post(url)
                .bearer_auth(access)
                .send()
                .await
                .expect("presign");
            assert_eq!(res.status(), StatusCode::OK);
            res.json::<Value>().await.expect("json")["url"]
                .as_str()
                .expect("url")
                .to_owned()
        }
    };
    let early = start(&app).await;
    let late = start(&app).await;
    let put = |url: String, body: &'static [u8]| async move {
        raw_client().put(url).body(body).send().await.expect("PUT")
    };
    assert!(put(late, b"the later start").await.status().is_success());
    // The earlier start's URL may still be PUT to; nothing counts it.
    let _ = put(early, b"the earlier start, ignored").await;
    assert_eq!(
        listed(&app, &access).await,
        [(format!("hpc-bea/{name}"), 15)]
    );
    let usage = app.usage(&access).await;
    assert_eq!((usage.used_bytes, usage.used_objects), (15, 1));
    assert_eq!((usage.reserved_bytes, usage.reserved_objects), (0, 0));
    assert_eq!(id_of(&app).await, id);
}

#[tokio::test]
async fn an_upload_larger_than_it_may_hold_is_deleted_and_released() {
    let app = spawn_app_with(|s| {
        s.benchwrap.max_upload_bytes = 1_000;
        s.default_quota_bytes = 5_000;
        // The test plays the worker's poll itself.
        s.benchwrap.poll_every = std::time::Duration::from_secs(3600);
    })
    .await;
    let (access, _) = client_login(&app, "hpc-cy").await;
    push(&app, &access, "b/small.csv", vec![b'x'; 900], "text/csv").await;
    // More than the quota has left (and than an upload may hold).
    push(
        &app,
        &access,
        "b/huge.h5",
        vec![7u8; 4_500],
        "application/x-hdf5",
    )
    .await;
    // The worker's poll notices what has arrived (the first may have been noticed
    // already, in the background after the second start), and refuses the large one.
    let noticed = app
        .app_state
        .uploads
        .notice_open(None, 100)
        .await
        .expect("notice");
    let refused: Vec<_> = noticed
        .iter()
        .filter(|(_, n)| {
            matches!(
                n,
                coffer::uploads::sizeless::Noticed::Refused { size: 4_500 }
            )
        })
        .collect();
    assert_eq!(refused.len(), 1, "{noticed:?}");
    assert!(app.object_gone(&refused[0].0.object_key).await, "deleted");
    assert_eq!(
        listed(&app, &access).await,
        [("hpc-cy/b/small.csv".to_owned(), 900)]
    );
    let usage = app.usage(&access).await;
    assert_eq!((usage.used_bytes, usage.used_objects), (900, 1));
    assert_eq!((usage.reserved_bytes, usage.reserved_objects), (0, 0));
    let drift = coffer::quotas::service::check_usage(&app.app_state.db)
        .await
        .expect("check");
    assert!(drift.is_empty(), "{drift:?}");
    // Refused through a call of the client as well, and audited.
    push(
        &app,
        &access,
        "b/huge2.h5",
        vec![7u8; 1_001],
        "application/x-hdf5",
    )
    .await;
    assert_eq!(listed(&app, &access).await.len(), 1);
    app.app_state.audit.flush().await;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    let events = coffer::entity::audit_events::Entity::find()
        .filter(coffer::entity::audit_events::Column::Action.eq("upload.refused"))
        .all(&app.app_state.db)
        .await
        .expect("audit");
    assert_eq!(events.len(), 1, "the client's call records the refusal");
    // When the quota cannot hold what an upload may hold, the start is refused.
    let big = spawn_app_with(|s| {
        s.benchwrap.max_upload_bytes = 10_000;
        s.default_quota_bytes = 5_000;
    })
    .await;
    let (access, _) = client_login(&big, "hpc-dee").await;
    let res = big
        .client
        .post(big.url("/api/storage/presign/upload?object_name=a.csv"))
        .bearer_auth(&access)
        .send()
        .await
        .expect("presign");
    assert_error(res, StatusCode::PAYLOAD_TOO_LARGE, "QUOTA_EXCEEDED").await;
}

#[tokio::test]
async fn unsafe_names_unknown_objects_and_strangers_are_refused() {
    let app = roomy_app().await;
    let (access, _) = client_login(&app, "hpc-eve").await;
    for bad in [
        "../etc/passwd",
        "/abs.txt",
        "a%5Cb.txt",
        "a/%0A/b",
        "a//b",
        "a/./b",
    ] {
        let res = app
            .client
            .post(app.url(&format!("/api/storage/presign/upload?object_name={bad}")))
            .bearer_auth(&access)
            .send()
            .await
            .expect("presign");
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
        let res = fetch(&app, &access, bad).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
    }
    let long = "x".repeat(257);
    let res = fetch(&app, &access, &long).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let res = app
        .client
        .post(app.url("/api/storage/presign/upload"))
        .bearer_auth(&access)
        .send()
        .await
        .expect("presign");
    assert_eq!(res.status(), StatusCode::BAD_REQUEST, "no object_name");
    // No token.
    let res = post(&app, "/api/storage/presign/upload?object_name=a.csv").await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let res = app
        .client
        .get(app.url("/api/storage/list"))
        .send()
        .await
        .expect("list");
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    // Unknown objects, and another user's.
    let res = fetch(&app, &access, "nothing/here.csv").await;
    assert_error(res, StatusCode::NOT_FOUND, "NOT_FOUND").await;
    push(&app, &access, "mine/secret.csv", b"1".to_vec(), "text/csv").await;
    let (other, _) = client_login(&app, "hpc-fay").await;
    let res = fetch(&app, &other, "mine/secret.csv").await;
    assert_error(res, StatusCode::NOT_FOUND, "NOT_FOUND").await;
    assert!(listed(&app, &other).await.is_empty());
    // Not yet PUT: not listed, not downloadable.
    let res = app
        .client
        .post(app.url("/api/storage/presign/upload?object_name=later.csv"))
        .bearer_auth(&access)
        .send()
        .await
        .expect("presign");
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(listed(&app, &access).await.len(), 1);
    let res = fetch(&app, &access, "later.csv").await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_folder_deleted_between_two_starts_is_made_again() {
    let app = roomy_app().await;
    let (access, _) = client_login(&app, "hpc-hal").await;
    push(&app, &access, "runs/x/a.csv", b"a".to_vec(), "text/csv").await;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    let x = coffer::entity::files::Entity::find()
        .filter(coffer::entity::files::Column::Name.eq("x"))
        .one(&app.app_state.db)
        .await
        .expect("find")
        .expect("folder x");
    let res = app
        .client
        .delete(app.url(&format!("/api/v1/files/{}", x.id)))
        .bearer_auth(&access)
        .send()
        .await
        .expect("delete");
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    // Within the seconds the start remembers the folder: it is made again.
    push(&app, &access, "runs/x/b.csv", b"bb".to_vec(), "text/csv").await;
    assert_eq!(
        listed(&app, &access).await,
        [("hpc-hal/runs/x/b.csv".to_owned(), 2)]
    );
}
