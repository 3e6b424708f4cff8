//! The cloud tier (issue 17): two real S3 servers -- the primary (embedded, or Garage in
//! CI's PostgreSQL run) and a second embedded server as the cloud bucket.

use std::sync::Arc;
use std::time::Duration;

use coffer::config::Settings;
use coffer::entity::file_copies::{self, CopyLocation, CopyState};
use coffer::entity::{files, tasks};
use coffer::storage::embedded::EmbeddedS3;
use coffer::storage::s3::{S3Config, S3Store};
use coffer::storage::ObjectStore;
use futures_util::StreamExt as _;
use reqwest::StatusCode;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};

use crate::helpers::{
    assert_error, pattern, raw_client, spawn_app_with, tokens_of, TempDir, TestApp, Tokens,
};

const ADMIN_PASSWORD: &str = "the tier admin's long passphrase";

struct Tiered {
    app: TestApp,
    admin: Tokens,
    /// The cloud bucket's name (presigned URLs are path-style: it is their first segment).
    tier_bucket: String,
    /// The cloud bucket, as an operator (or an attacker) reaches it.
    cloud: Arc<dyn ObjectStore>,
    _server: Option<EmbeddedS3>,
    _dir: TempDir,
}

/// An app whose cloud tier is a second embedded S3 server (or, with
/// `COFFER_TEST_S3=garage`, a second bucket of the Garage); `dead` points the tier at a
/// closed port instead.
async fn tiered(dead: bool, configure: impl FnOnce(&mut Settings)) -> Tiered {
    let dir = TempDir(std::env::temp_dir().join(format!("coffer-cloud-{}", uuid::Uuid::new_v4())));
    std::fs::create_dir_all(&dir.0).expect("dir");
    let (cfg, server) = if std::env::var("COFFER_TEST_S3").is_ok_and(|v| v == "garage") {
        let var = |name: &str| std::env::var(name).unwrap_or_else(|_| panic!("{name} is set"));
        let endpoint = var("COFFER_TEST_S3_ENDPOINT");
        let cfg = S3Config {
            public_endpoint: endpoint.clone(),
            endpoint,
            region: var("COFFER_TEST_S3_REGION"),
            bucket: var("COFFER_TEST_TIER_BUCKET"),
            access_key: var("COFFER_TEST_S3_ACCESS_KEY"),
            secret_key: var("COFFER_TEST_S3_SECRET_KEY"),
            path_style: true,
        };
        (cfg, None)
    } else {
        let server = EmbeddedS3::start(&dir.0, 0, Vec::new())
            .await
            .expect("the cloud S3 server");
        let cfg = S3Config {
            endpoint: server.endpoint(),
            public_endpoint: server.endpoint(),
            region: "us-east-1".into(),
            bucket: "coffer-tier".into(),
            access_key: server.credentials.access_key.clone(),
            secret_key: server.credentials.secret_key.clone(),
            path_style: true,
        };
        (cfg, Some(server))
    };
    let endpoint = match dead {
        false => cfg.endpoint.clone(),
        true => {
            let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            let port = closed.local_addr().expect("addr").port();
            drop(closed);
            format!("http://127.0.0.1:{port}")
        }
    };
    let cloud = S3Store::new(&cfg).expect("cloud client");
    cloud.ensure_bucket(&cfg).await.expect("cloud bucket");
    let tier = cfg.clone();
    let app = spawn_app_with(|s| {
        s.bootstrap_admin_username = Some("tier-admin".into());
        s.bootstrap_admin_password = Some(ADMIN_PASSWORD.to_owned().into());
        s.tier.endpoint = Some(endpoint);
        s.tier.region = tier.region;
        s.tier.bucket = tier.bucket;
        s.tier.access_key = Some(tier.access_key.into());
        s.tier.secret_key = Some(tier.secret_key.into());
        s.worker.backoff_base = Duration::from_millis(10);
        configure(s);
    })
    .await;
    let admin = tokens_of(app.login("tier-admin", ADMIN_PASSWORD).await).await;
    Tiered {
        app,
        admin,
        tier_bucket: cfg.bucket,
        cloud: Arc::new(cloud),
        _server: server,
        _dir: dir,
    }
}

impl Tiered {
    async fn settings(&self, patch: Value) {
        let res = self
            .app
            .client
            .patch(self.app.url("/api/v1/admin/settings"))
            .bearer_auth(&self.admin.access)
            .json(&patch)
            .send()
            .await
            .expect("request");
        assert_eq!(
            res.status(),
            StatusCode::OK,
            "{}",
            res.text().await.unwrap_or_default()
        );
    }

    async fn status(&self) -> Value {
        let res = self
            .app
            .get_auth("/api/v1/admin/tiering", &self.admin.access)
            .await;
        assert_eq!(res.status(), StatusCode::OK);
        res.json().await.expect("json")
    }

    /// Starts a run (202) and lets the worker finish it; the run's record.
    async fn run(&self) -> Value {
        let res = self
            .app
            .post_auth("/api/v1/admin/tiering/run", &self.admin.access, &json!({}))
            .await;
        assert_eq!(res.status(), StatusCode::ACCEPTED);
        let run: Value = res.json().await.expect("json");
        assert_eq!(run["state"], "running");
        self.app.run_tasks().await;
        self.status().await["last_run"].clone()
    }

    async fn file(&self, access: &str, id: &str) -> Value {
        self.app
            .get_auth(&format!("/api/v1/files/{id}"), access)
            .await
            .json()
            .await
            .expect("json")
    }

    async fn key(&self, id: &str) -> String {
        files::Entity::find_by_id(uuid::Uuid::parse_str(id).expect("uuid"))
            .one(&self.app.app_state.db)
            .await
            .expect("query")
            .expect("row")
            .object_key
            .expect("key")
    }

    async fn cloud_bytes(&self, key: &str) -> Option<Vec<u8>> {
        let mut stream = match self.cloud.get_stream(key).await {
            Ok(s) => s,
            Err(e) if e.is_not_found() => return None,
            Err(e) => panic!("cloud GET: {e}"),
        };
        let mut out = Vec::new();
        while let Some(chunk) = stream.next().await {
            out.extend_from_slice(&chunk.expect("chunk"));
        }
        Some(out)
    }

    async fn copy_row(&self, id: &str, location: CopyLocation) -> Option<file_copies::Model> {
        file_copies::Entity::find_by_id((uuid::Uuid::parse_str(id).expect("uuid"), location))
            .one(&self.app.app_state.db)
            .await
            .expect("query")
    }

    /// Makes every queued purge due now (a release deletes the primary copy only after
    /// the download URLs already handed out have expired, by when no replica still
    /// holds the file's row from before the release in its cache: the test waits that
    /// out).
    async fn purges_due_now(&self) {
        tokio::time::sleep(self.app.app_state.settings.cache_ttl).await;
        tasks::Entity::update_many()
            .col_expr(tasks::Column::RunAfterMs, Expr::value(0i64))
            .filter(tasks::Column::Kind.eq("purge"))
            .filter(tasks::Column::State.eq(tasks::TaskState::Queued))
            .exec(&self.app.app_state.db)
            .await
            .expect("update");
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The bucket a path-style presigned URL names.
fn bucket_of(url: &str) -> String {
    let url = url::Url::parse(url).expect("url");
    url.path_segments()
        .and_then(|mut s| s.next())
        .expect("a bucket")
        .to_owned()
}

/// Downloads a file through its presigned GET; the bucket it came from and the bytes.
async fn download(app: &TestApp, access: &str, id: &str) -> (String, Vec<u8>) {
    let res = app
        .get_auth(&format!("/api/v1/files/{id}/download"), access)
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.expect("json");
    let url = body["url"].as_str().expect("url").to_owned();
    let got = raw_client().get(&url).send().await.expect("GET");
    assert_eq!(got.status(), StatusCode::OK, "GET from {}", bucket_of(&url));
    (bucket_of(&url), got.bytes().await.expect("body").to_vec())
}

#[tokio::test]
async fn a_run_copies_and_verifies_then_releases_and_everything_follows_the_file() {
    let t = tiered(false, |_| {}).await;
    let alice = t.app.user("alice").await;
    let contents = [
        ("small.txt", pattern(1000, 1)),
        ("empty.dat", Vec::new()),
        // Over the sync's part size: copied as a multipart upload.
        ("big.h5", pattern(9 * 1024 * 1024 + 17, 2)),
    ];
    let mut ids = Vec::new();
    for (name, bytes) in &contents {
        ids.push(
            t.app
                .upload(&alice.access, name, bytes, "application/octet-stream")
                .await,
        );
    }
    let total: usize = contents.iter().map(|(_, b)| b.len()).sum();
    let status = t.status().await;
    assert_eq!(status["enabled"], true);
    assert_eq!(status["pending_files"], 3);
    assert_eq!(status["pending_bytes"].as_u64(), Some(total as u64));
    assert!(status["last_run"].is_null());

    // Too young for the default minimum age (an hour): the plan is empty.
    let plan: Value = t
        .app
        .post_auth(
            "/api/v1/admin/tiering/run?dry_run=true",
            &t.admin.access,
            &json!({}),
        )
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(plan["files"], 0);
    t.settings(json!({"tier_min_age_seconds": 0})).await;
    let res = t
        .app
        .post_auth(
            "/api/v1/admin/tiering/run?dry_run=true",
            &t.admin.access,
            &json!({}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let plan: Value = res.json().await.expect("json");
    assert_eq!(plan["files"], 3);
    assert_eq!(plan["bytes"].as_u64(), Some(total as u64));
    assert_eq!(plan["release_files"], 0);
    // A dry run moves nothing and records no run.
    assert!(t.status().await["last_run"].is_null());
    for id in &ids {
        assert!(t.cloud_bytes(&t.key(id).await).await.is_none());
    }

    let run = t.run().await;
    assert_eq!(run["state"], "done", "{run}");
    assert_eq!(run["trigger"], "manual");
    assert_eq!(run["files_planned"], 3);
    assert_eq!(run["files_copied"], 3, "{}", t.status().await);
    assert_eq!(run["bytes_copied"].as_u64(), Some(total as u64));
    assert_eq!(run["files_failed"], 0);
    let status = t.status().await;
    assert_eq!(status["pending_files"], 0);
    assert_eq!(status["pending_bytes"], 0);
    for (id, (_, bytes)) in ids.iter().zip(&contents) {
        let key = t.key(id).await;
        assert_eq!(
            t.cloud_bytes(&key).await.as_deref(),
            Some(&bytes[..]),
            "cloud copy of {id}"
        );
        let copy = t
            .copy_row(id, CopyLocation::Cloud)
            .await
            .expect("cloud row");
        assert_eq!(copy.state, CopyState::Verified);
        assert_eq!(
            copy.checksum_sha256.as_deref(),
            Some(sha256_hex(bytes).as_str())
        );
        assert_eq!(copy.size, bytes.len() as i64);
        let file = t.file(&alice.access, id).await;
        assert_eq!(file["storage_location"], "both");
        assert!(file["synced_at"].is_string());
        // Still read from the primary store.
        let (bucket, got) = download(&t.app, &alice.access, id).await;
        assert_eq!(bucket, t.app.app_state.settings.s3.bucket);
        assert_eq!(&got, bytes);
    }
    // Nothing left to copy: a second run plans nothing.
    let again = t.run().await;
    assert_eq!(again["files_planned"], 0);

    // Release: only when asked, after the grace time, within the allowed share.
    t.settings(json!({
        "tier_release_primary": true,
        "tier_release_grace_seconds": 0,
        "tier_release_max_percent": 100,
    }))
    .await;
    let plan: Value = t
        .app
        .post_auth(
            "/api/v1/admin/tiering/run?dry_run=true",
            &t.admin.access,
            &json!({}),
        )
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(plan["release_files"], 3);
    assert_eq!(plan["release_needs_confirmation"], false);
    let run = t.run().await;
    assert_eq!(run["files_released"], 3, "{run}");
    assert_eq!(run["bytes_released"].as_u64(), Some(total as u64));
    t.purges_due_now().await;
    t.app.run_tasks().await;
    for (id, (name, bytes)) in ids.iter().zip(&contents) {
        let key = t.key(id).await;
        assert!(
            t.app.object_gone(&key).await,
            "primary copy of {name} released"
        );
        assert_eq!(t.cloud_bytes(&key).await.as_deref(), Some(&bytes[..]));
        let file = t.file(&alice.access, id).await;
        assert_eq!(file["storage_location"], "cloud");
        let primary = t.copy_row(id, CopyLocation::Primary).await.expect("row");
        assert_eq!(primary.state, CopyState::Released);
        // Downloads come from the cloud, with the right bytes.
        let (bucket, got) = download(&t.app, &alice.access, id).await;
        assert_eq!(bucket, t.tier_bucket);
        assert_eq!(&got, bytes, "{name} from the cloud");
    }
    // A zip bundle reads released files from the cloud.
    let id_refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let (_, entries) = crate::worker::bundle(&t.app, &alice.access, &id_refs).await;
    assert_eq!(entries.len(), 3);
    for (name, bytes) in &contents {
        let entry = entries.iter().find(|(n, _)| n == name).expect("entry");
        assert_eq!(&entry.1, bytes);
    }
    // A share link follows the file too.
    let res = t
        .app
        .post_auth(
            &format!("/api/v1/files/{}/links", ids[0]),
            &alice.access,
            &json!({}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let link: Value = res.json().await.expect("json");
    let token = link["token"].as_str().expect("token");
    let res = t
        .app
        .client
        .post(t.app.url(&format!("/s/{token}/download")))
        .send()
        .await
        .expect("GET");
    assert_eq!(res.status(), StatusCode::FOUND);
    let location = res.headers()["location"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert_eq!(bucket_of(&location), t.tier_bucket);
    let got = raw_client().get(&location).send().await.expect("GET");
    assert_eq!(got.bytes().await.expect("body").to_vec(), contents[0].1);
    // A copy of a file only in the cloud is refused clearly.
    let res = t
        .app
        .post_auth(
            &format!("/api/v1/files/{}/copy", ids[0]),
            &alice.access,
            &json!({}),
        )
        .await;
    assert_error(res, StatusCode::CONFLICT, "FILE_IN_CLOUD_TIER").await;

    // Deleting a file deletes every copy.
    let key = t.key(&ids[2]).await;
    let res = t
        .app
        .client
        .delete(t.app.url(&format!("/api/v1/files/{}", ids[2])))
        .bearer_auth(&alice.access)
        .send()
        .await
        .expect("DELETE");
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    t.purges_due_now().await;
    t.app.run_tasks().await;
    assert!(
        t.cloud_bytes(&key).await.is_none(),
        "the cloud copy is purged"
    );
    assert!(t.copy_row(&ids[2], CopyLocation::Cloud).await.is_none());
    let usage = t.app.usage(&alice.access).await;
    assert_eq!(usage.used_objects, 2);

    // Both stores agree with the tables; a cloud copy lost behind Coffer's back shows.
    let me: Value = t.app.me(&alice.access).await.json().await.expect("json");
    let prefix = format!("{}/", me["id"].as_str().expect("id"));
    let db = &t.app.app_state.db;
    let primary = coffer::cli::storage_report(db, t.app.app_state.store.as_ref(), &prefix)
        .await
        .expect("primary report");
    assert_eq!(primary, coffer::cli::StorageReport::default());
    let cloud = coffer::cli::cloud_report(db, t.cloud.as_ref(), &prefix)
        .await
        .expect("cloud report");
    assert_eq!(cloud, coffer::cli::StorageReport::default());
    let lost = t.key(&ids[0]).await;
    t.cloud.delete(&lost).await.expect("delete");
    let cloud = coffer::cli::cloud_report(db, t.cloud.as_ref(), &prefix)
        .await
        .expect("cloud report");
    assert_eq!(cloud.missing, vec![lost]);
    assert!(cloud.orphans.is_empty());

    // Readiness checks the cloud tier; the metrics show it.
    let ready: Value = t
        .app
        .client
        .get(t.app.url("/readyz"))
        .send()
        .await
        .expect("GET")
        .json()
        .await
        .expect("json");
    assert_eq!(ready["cloud_tier"], true);
    let metrics = t
        .app
        .client
        .get(t.app.url("/metrics"))
        .send()
        .await
        .expect("GET")
        .text()
        .await
        .expect("text");
    let gauge = |name: &str| -> i64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .unwrap_or_else(|| panic!("{name} in {metrics}"))
            .trim()
            .parse()
            .expect("a number")
    };
    assert_eq!(gauge("coffer_tier_synced_bytes"), total as i64);
    assert_eq!(gauge("coffer_tier_pending_files"), 0);
    assert_eq!(gauge("coffer_tier_failed_copies"), 0);
}

#[tokio::test]
async fn a_cloud_copy_changed_behind_cofferds_back_is_never_released() {
    let t = tiered(false, |_| {}).await;
    let bob = t.app.user("bob").await;
    let original = pattern(64 * 1024, 7);
    let id = t
        .app
        .upload(&bob.access, "result.csv", &original, "text/csv")
        .await;
    t.settings(json!({"tier_min_age_seconds": 0})).await;
    assert_eq!(t.run().await["files_copied"], 1);
    // Overwritten in the cloud bucket: same size, other bytes.
    let key = t.key(&id).await;
    let forged = pattern(64 * 1024, 8);
    t.cloud
        .put(&key, forged.clone(), "text/csv")
        .await
        .expect("overwrite");
    t.settings(json!({
        "tier_release_primary": true,
        "tier_release_grace_seconds": 0,
        "tier_release_max_percent": 100,
    }))
    .await;
    // The release checks the copy first: it is kept on primary and counts as unsynced.
    let run = t.run().await;
    assert_eq!(run["files_released"], 0, "{run}");
    t.purges_due_now().await;
    t.app.run_tasks().await;
    assert!(!t.app.object_gone(&key).await, "the primary copy stays");
    let file = t.file(&bob.access, &id).await;
    assert_eq!(file["storage_location"], "primary");
    let (_, got) = download(&t.app, &bob.access, &id).await;
    assert_eq!(got, original);
    let status = t.status().await;
    assert_eq!(status["failed"][0]["file_id"], id.as_str());
    assert!(status["failed"][0]["error"]
        .as_str()
        .expect("error")
        .contains("changed"));
    assert_eq!(status["pending_files"], 1);
    // The next run copies it anew (and, the copy now verified, releases it).
    let run = t.run().await;
    assert_eq!(run["files_copied"], 1, "{run}");
    assert_eq!(run["files_released"], 1, "{run}");
    assert_eq!(t.cloud_bytes(&key).await, Some(original.clone()));
    let (_, got) = download(&t.app, &bob.access, &id).await;
    assert_eq!(got, original);
}

#[tokio::test]
async fn the_release_guard_holds_a_run_until_an_admin_confirms() {
    let t = tiered(false, |_| {}).await;
    let carol = t.app.user("carol").await;
    let mut ids = Vec::new();
    for i in 0..3u8 {
        let bytes = pattern(10_000, i);
        ids.push((
            t.app
                .upload(
                    &carol.access,
                    &format!("f{i}"),
                    &bytes,
                    "application/octet-stream",
                )
                .await,
            bytes,
        ));
    }
    t.settings(json!({
        "tier_min_age_seconds": 0,
        "tier_release_primary": true,
        "tier_release_grace_seconds": 0,
        "tier_release_max_percent": 50,
    }))
    .await;
    let res = t
        .app
        .post_auth("/api/v1/admin/tiering/confirm", &t.admin.access, &json!({}))
        .await;
    assert_error(res, StatusCode::CONFLICT, "NO_HELD_RUN").await;
    // Copied, then held: releasing all would free 100% of the primary store.
    let run = t.run().await;
    assert_eq!(run["state"], "held", "{run} {}", t.status().await);
    assert_eq!(run["files_copied"], 3);
    assert_eq!(run["files_released"], 0);
    for (id, _) in &ids {
        assert_eq!(t.file(&carol.access, id).await["storage_location"], "both");
    }
    // No other run starts while one is held.
    let res = t
        .app
        .post_auth("/api/v1/admin/tiering/run", &t.admin.access, &json!({}))
        .await;
    assert_error(res, StatusCode::CONFLICT, "TIER_RUN_IN_PROGRESS").await;
    // Only admins confirm.
    let res = t
        .app
        .post_auth("/api/v1/admin/tiering/confirm", &carol.access, &json!({}))
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = t
        .app
        .post_auth("/api/v1/admin/tiering/confirm", &t.admin.access, &json!({}))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    t.app.run_tasks().await;
    let run = t.status().await["last_run"].clone();
    assert_eq!(run["state"], "done", "{run}");
    assert_eq!(run["release_confirmed"], true);
    assert_eq!(run["files_released"], 3);
    for (id, bytes) in &ids {
        assert_eq!(t.file(&carol.access, id).await["storage_location"], "cloud");
        assert_eq!(&download(&t.app, &carol.access, id).await.1, bytes);
    }
}

#[tokio::test]
async fn a_failing_cloud_store_leaves_everything_on_primary_and_reports_the_failures() {
    let t = tiered(true, |_| {}).await;
    let dave = t.app.user("dave").await;
    let bytes = pattern(5000, 3);
    let id = t
        .app
        .upload(&dave.access, "out.log", &bytes, "text/plain")
        .await;
    t.settings(json!({"tier_min_age_seconds": 0, "tier_release_primary": true, "tier_release_grace_seconds": 0})).await;
    let ready = t
        .app
        .client
        .get(t.app.url("/readyz"))
        .send()
        .await
        .expect("GET");
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    let ready: Value = ready.json().await.expect("json");
    assert_eq!(ready["cloud_tier"], false);
    assert_eq!(ready["object_store"], true);
    let run = t.run().await;
    assert_eq!(run["state"], "done", "{run}");
    assert_eq!(run["files_copied"], 0);
    assert_eq!(run["files_failed"], 1);
    assert_eq!(run["files_released"], 0);
    let status = t.status().await;
    let failed = &status["failed"][0];
    assert_eq!(failed["file_id"], id.as_str());
    assert_eq!(failed["name"], "out.log");
    assert_eq!(failed["attempts"], 5);
    assert!(failed["error"].as_str().is_some_and(|e| !e.is_empty()));
    assert_eq!(status["pending_files"], 1);
    let file = t.file(&dave.access, &id).await;
    assert_eq!(file["storage_location"], "primary");
    assert!(file["synced_at"].is_null());
    assert_eq!(download(&t.app, &dave.access, &id).await.1, bytes);
    // The next run tries the failed file again.
    let plan: Value = t
        .app
        .post_auth(
            "/api/v1/admin/tiering/run?dry_run=true",
            &t.admin.access,
            &json!({}),
        )
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(plan["files"], 1);
}

#[tokio::test]
async fn a_scheduled_run_is_planned_once_and_a_killed_worker_resumes_without_resending() {
    let t = tiered(false, |s| s.worker.lease = Duration::from_secs(1)).await;
    let erin = t.app.user("erin").await;
    let mut files = Vec::new();
    for i in 0..3u8 {
        let bytes = pattern(256 * 1024, 10 + i);
        files.push((
            t.app
                .upload(
                    &erin.access,
                    &format!("job_{i}.h5"),
                    &bytes,
                    "application/octet-stream",
                )
                .await,
            bytes,
        ));
    }
    // Every second, one file at a time, at 256 KiB/s: about a second per file.
    t.settings(json!({
        "tier_min_age_seconds": 0,
        "tier_schedule": "* * * * * *",
        "tier_concurrency": 1,
        "tier_bandwidth_bytes_per_second": 256 * 1024,
    }))
    .await;
    let res = t
        .app
        .client
        .patch(t.app.url("/api/v1/admin/settings"))
        .bearer_auth(&t.admin.access)
        .json(&json!({"tier_schedule": "every night"}))
        .send()
        .await
        .expect("PATCH");
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let db = coffer::db::Db::new(t.app.app_state.db.clone());
    let runtime =
        coffer::runtime::Runtime::new(t.app.app_state.db.clone(), &t.app.app_state.settings);
    let service = coffer::tiering::service::TierService::new(db, runtime, true);
    let since = chrono::Utc::now() - chrono::Duration::seconds(5);
    let run = service
        .run_if_due(since)
        .await
        .expect("schedule")
        .expect("a run is due");
    assert_eq!(run.files_planned, 3);
    assert!(run.scheduled_for.is_some());
    // Two workers looking at once: the run is planned once.
    assert!(service.run_if_due(since).await.expect("schedule").is_none());

    // The worker is killed about half way: its task keeps its lease until it expires.
    let step =
        tokio::time::timeout(Duration::from_millis(1700), t.app.worker.try_execute_task()).await;
    assert!(step.is_err(), "the run was still going");
    let copied: Vec<(String, chrono::DateTime<chrono::Utc>)> = {
        let mut v = Vec::new();
        for (id, _) in &files {
            if let Some(c) = t.copy_row(id, CopyLocation::Cloud).await {
                if c.state == CopyState::Verified {
                    v.push((id.clone(), c.verified_at.expect("verified at")));
                }
            }
        }
        v
    };
    assert!(
        !copied.is_empty() && copied.len() < 3,
        "{} copied before the kill",
        copied.len()
    );
    tokio::time::sleep(Duration::from_millis(1200)).await;
    // Another worker takes the run over once the lease has expired.
    t.app.run_tasks().await;
    let run = t.status().await["last_run"].clone();
    assert_eq!(run["state"], "done", "{run}");
    assert_eq!(run["files_copied"], 3, "each file counted once");
    assert_eq!(run["trigger"], "scheduled");
    for (id, at) in &copied {
        let c = t.copy_row(id, CopyLocation::Cloud).await.expect("row");
        assert_eq!(c.verified_at.as_ref(), Some(at), "{id} was not sent again");
    }
    for (id, bytes) in &files {
        assert_eq!(
            t.cloud_bytes(&t.key(id).await).await.as_deref(),
            Some(&bytes[..])
        );
    }
}

#[tokio::test]
async fn deleting_a_user_purges_their_objects_from_both_stores() {
    let t = tiered(false, |_| {}).await;
    let frank = t.app.user("frank").await;
    let me: Value = t.app.me(&frank.access).await.json().await.expect("json");
    let frank_id = me["id"].as_str().expect("id").to_owned();
    let id = t
        .app
        .upload(
            &frank.access,
            "data.bin",
            &pattern(4000, 9),
            "application/octet-stream",
        )
        .await;
    let key = t.key(&id).await;
    t.settings(json!({"tier_min_age_seconds": 0})).await;
    assert_eq!(t.run().await["files_copied"], 1);
    assert_eq!(t.cloud_bytes(&key).await, Some(pattern(4000, 9)));
    let res = t
        .app
        .client
        .delete(t.app.url(&format!("/api/v1/admin/users/{frank_id}")))
        .bearer_auth(&t.admin.access)
        .send()
        .await
        .expect("DELETE");
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    t.app.run_tasks().await;
    assert!(t.app.object_gone(&key).await, "the primary copy is purged");
    assert!(
        t.cloud_bytes(&key).await.is_none(),
        "the cloud copy is purged"
    );
    let left = t.cloud.list(&format!("{frank_id}/")).await.expect("list");
    assert!(left.is_empty(), "{left:?}");
}
