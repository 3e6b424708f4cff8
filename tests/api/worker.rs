//! The task queue and its worker: exclusive claims, lease expiry, retries, zip bundles,
//! reconciliation and purges.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use coffer::tasks::repo::{self as tasks, NewTask};
use coffer::tasks::worker::{Handler, Outcome, TaskContext, TaskError, Worker};
use coffer::tasks::{now_ms, Task};
use reqwest::{Method, StatusCode};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{json, Value};

use crate::helpers::{
    assert_error, folder, pattern, put_presigned, raw_client, read_zip, spawn_app, spawn_app_with,
    upload_into, TestApp,
};

/// Counts runs; the first `hang_first` attempts never finish (a worker that dies).
struct Counting {
    runs: Arc<AtomicUsize>,
    hang_first: i32,
    fail_always: bool,
}

#[async_trait]
impl Handler for Counting {
    async fn run(&self, _ctx: &TaskContext, task: &Task) -> Result<Value, TaskError> {
        self.runs.fetch_add(1, Ordering::SeqCst);
        if task.attempts <= self.hang_first {
            std::future::pending::<()>().await;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        if self.fail_always {
            return Err(TaskError::Failed(format!(
                "boom on attempt {}",
                task.attempts
            )));
        }
        Ok(json!({"attempt": task.attempts}))
    }
}

impl Counting {
    fn ok(runs: Arc<AtomicUsize>) -> Counting {
        Counting {
            runs,
            hang_first: 0,
            fail_always: false,
        }
    }

    /// Its first attempt never finishes (the worker running it dies).
    fn hanging_first(runs: Arc<AtomicUsize>) -> Counting {
        Counting {
            runs,
            hang_first: 1,
            fail_always: false,
        }
    }

    fn failing(runs: Arc<AtomicUsize>) -> Counting {
        Counting {
            runs,
            hang_first: 0,
            fail_always: true,
        }
    }
}

/// Waits until the handler has been entered once (the task is claimed and running).
async fn wait_for_first_run(runs: &AtomicUsize) {
    for _ in 0..500 {
        if runs.load(Ordering::SeqCst) == 1 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Moves an upload's expiry into the past, as if its client had vanished long ago.
async fn expire_upload(app: &TestApp, id: &str) {
    use coffer::entity::uploads;
    uploads::Entity::update_many()
        .col_expr(
            uploads::Column::ExpiresAt,
            Expr::value(chrono::Utc::now() - chrono::Duration::hours(1)),
        )
        .filter(uploads::Column::Id.eq(uuid::Uuid::parse_str(id).expect("uuid")))
        .exec(&app.app_state.db)
        .await
        .expect("expire");
}

/// A worker as `coffer-worker` composes it, over the app's database and store.
fn composed(app: &TestApp) -> Worker {
    let s = &app.app_state;
    coffer::worker_app::compose(
        coffer::worker_app::Parts {
            db: coffer::db::Db::new(s.db.clone()),
            store: s.store.clone(),
            cloud: None,
            uploads: s.uploads.clone(),
            audit: s.audit.get_ref().clone(),
            runtime: coffer::runtime::Runtime::new(s.db.clone(), &s.settings),
        },
        &s.settings,
    )
}

fn worker(app: &TestApp, handler: Counting) -> Worker {
    composed(app).handle("count", Arc::new(handler))
}

async fn enqueue(app: &TestApp) -> uuid::Uuid {
    tasks::enqueue(
        &app.app_state.db,
        NewTask {
            kind: "count",
            payload: json!({}),
            owner_id: None,
            max_attempts: app.app_state.settings.worker.max_attempts,
            run_after_ms: now_ms(),
        },
    )
    .await
    .expect("enqueue")
}

async fn task(app: &TestApp, id: uuid::Uuid) -> Task {
    tasks::find(&app.app_state.db, id)
        .await
        .expect("find")
        .expect("task")
}

#[tokio::test]
async fn two_workers_and_one_task_run_it_once() {
    let app = spawn_app().await;
    let runs = Arc::new(AtomicUsize::new(0));
    let a = worker(&app, Counting::ok(runs.clone()));
    let b = worker(&app, Counting::ok(runs.clone()));
    let id = enqueue(&app).await;
    let (ra, rb) = tokio::join!(a.try_execute_task(), b.try_execute_task());
    let outcomes = [ra.expect("a"), rb.expect("b")];
    assert_eq!(
        outcomes
            .iter()
            .filter(|o| **o == Some(Outcome::Done(id)))
            .count(),
        1,
        "{outcomes:?}"
    );
    assert_eq!(
        outcomes.iter().filter(|o| o.is_none()).count(),
        1,
        "{outcomes:?}"
    );
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    let t = task(&app, id).await;
    assert_eq!((t.state.as_str(), t.attempts), ("done", 1));
}

#[tokio::test]
async fn a_task_whose_worker_dies_is_retried_after_its_lease_and_finishes() {
    let app = spawn_app_with(|s| s.worker.lease = Duration::from_millis(900)).await;
    let runs = Arc::new(AtomicUsize::new(0));
    let dying = worker(&app, Counting::hanging_first(runs.clone()));
    let id = enqueue(&app).await;
    // The first worker claims the task, then dies mid-task (no more heartbeats).
    let handle = tokio::spawn(async move { dying.try_execute_task().await });
    wait_for_first_run(&runs).await;
    handle.abort();
    assert_eq!(task(&app, id).await.state.as_str(), "running");

    let rescuer = worker(&app, Counting::hanging_first(runs.clone()));
    assert_eq!(
        rescuer.try_execute_task().await.expect("step"),
        None,
        "the lease still holds"
    );
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(
        rescuer.try_execute_task().await.expect("step"),
        Some(Outcome::Done(id))
    );
    let t = task(&app, id).await;
    assert_eq!((t.state.as_str(), t.attempts), ("done", 2));
    assert_eq!(t.result, Some(json!({"attempt": 2})));
    assert_eq!(runs.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_lease_is_renewed_while_the_task_runs() {
    let app = spawn_app_with(|s| s.worker.lease = Duration::from_millis(900)).await;
    struct Slow;
    #[async_trait]
    impl Handler for Slow {
        async fn run(&self, _ctx: &TaskContext, _task: &Task) -> Result<Value, TaskError> {
            tokio::time::sleep(Duration::from_millis(3000)).await;
            Ok(json!({}))
        }
    }
    let slow = composed(&app).handle("count", Arc::new(Slow));
    let other = worker(&app, Counting::ok(Arc::new(AtomicUsize::new(0))));
    let id = enqueue(&app).await;
    let running = tokio::spawn(async move { slow.try_execute_task().await });
    tokio::time::sleep(Duration::from_millis(1800)).await;
    assert_eq!(
        other.try_execute_task().await.expect("step"),
        None,
        "heartbeats keep the lease"
    );
    assert_eq!(
        running.await.expect("join").expect("step"),
        Some(Outcome::Done(id))
    );
}

#[tokio::test]
async fn exhausted_retries_fail_the_task_keeping_the_error() {
    let app = spawn_app_with(|s| {
        s.worker.max_attempts = 3;
        s.worker.backoff_base = Duration::from_millis(20);
    })
    .await;
    let runs = Arc::new(AtomicUsize::new(0));
    let w = worker(&app, Counting::failing(runs.clone()));
    let id = enqueue(&app).await;
    let mut outcomes = Vec::new();
    for _ in 0..100 {
        if let Some(o) = w.try_execute_task().await.expect("step") {
            outcomes.push(o);
            if outcomes.len() == 3 {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        outcomes,
        [
            Outcome::Retrying(id),
            Outcome::Retrying(id),
            Outcome::Failed(id)
        ]
    );
    let t = task(&app, id).await;
    assert_eq!((t.state.as_str(), t.attempts), ("failed", 3));
    assert_eq!(t.error.as_deref(), Some("boom on attempt 3"));
    assert_eq!(
        w.try_execute_task().await.expect("step"),
        None,
        "a failed task stays failed"
    );
}

/// Bundles `ids`, runs the worker, downloads the archive and reads it back.
pub(crate) async fn bundle(
    app: &TestApp,
    access: &str,
    ids: &[&str],
) -> (Value, Vec<(String, Vec<u8>)>) {
    let res = app
        .post_auth(
            "/api/v1/archives",
            access,
            &json!({"ids": ids, "name": "results"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let accepted: Value = res.json().await.expect("json");
    let task_id = accepted["task_id"].as_str().expect("task id").to_owned();
    let before: Value = app
        .get_auth(&format!("/api/v1/tasks/{task_id}"), access)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(before["state"], "queued");
    assert!(app.run_tasks().await >= 1);
    let done: Value = app
        .get_auth(&format!("/api/v1/tasks/{task_id}"), access)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(done["state"], "done", "{done}");
    let res = raw_client()
        .get(done["download"]["url"].as_str().expect("url"))
        .send()
        .await
        .expect("GET");
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers()["content-disposition"]
        .to_str()
        .expect("ascii")
        .contains("results.zip"));
    let bytes = res.bytes().await.expect("body").to_vec();
    assert_eq!(done["download"]["size"].as_u64(), Some(bytes.len() as u64));
    (done, read_zip(bytes))
}

#[tokio::test]
async fn a_zip_of_files_and_a_nested_folder_reads_back_identical() {
    let app = spawn_app_with(|s| s.archives.part_bytes = 5 * 1024 * 1024).await;
    let t = app.user("zipper").await;
    let a = app.upload(&t.access, "a.txt", b"alpha", "text/plain").await;
    let b = app
        .upload(
            &t.access,
            "b.bin",
            &pattern(6 * 1024 * 1024, 21),
            "application/octet-stream",
        )
        .await;
    let c = app.upload(&t.access, "c.txt", b"", "text/plain").await;
    let nested = folder(&app, &t.access, "nested", None).await;
    let inner = folder(&app, &t.access, "inner", Some(&nested)).await;
    upload_into(&app, &t.access, "deep.txt", &nested, b"deep").await;
    upload_into(&app, &t.access, "deeper.bin", &inner, &pattern(70_000, 22)).await;

    let (done, entries) = bundle(&app, &t.access, &[&a, &b, &c, &nested]).await;
    let mut got: Vec<(String, Vec<u8>)> = entries;
    got.sort();
    let expected = vec![
        ("a.txt".to_owned(), b"alpha".to_vec()),
        ("b.bin".to_owned(), pattern(6 * 1024 * 1024, 21)),
        ("c.txt".to_owned(), Vec::new()),
        ("nested/deep.txt".to_owned(), b"deep".to_vec()),
        ("nested/inner/deeper.bin".to_owned(), pattern(70_000, 22)),
    ];
    assert_eq!(got.len(), expected.len());
    for ((gn, gd), (en, ed)) in got.iter().zip(&expected) {
        assert_eq!(gn, en);
        assert!(gd == ed, "{gn}: bytes differ");
    }
    assert_eq!(done["progress"]["files_done"], 5);
    assert_eq!(
        done["progress"]["bytes_total"],
        5 + 6 * 1024 * 1024 + 4 + 70_000
    );
}

#[tokio::test]
async fn entry_names_are_defused_and_deduplicated() {
    use coffer::entity::files;
    let app = spawn_app().await;
    let t = app.user("names").await;
    let one = folder(&app, &t.access, "one", None).await;
    let two = folder(&app, &t.access, "two", None).await;
    let x = upload_into(&app, &t.access, "same.txt", &one, b"first").await;
    let y = upload_into(&app, &t.access, "same.txt", &two, b"second").await;
    let evil = app
        .upload(&t.access, "innocent.txt", b"evil", "text/plain")
        .await;
    let abs = app
        .upload(&t.access, "plain.txt", b"abs", "text/plain")
        .await;
    // Names the API refuses, as an older version or a direct edit might have stored them.
    for (id, name) in [(&evil, "../../evil.txt"), (&abs, "/etc/passwd")] {
        files::Entity::update_many()
            .col_expr(files::Column::Name, Expr::value(name))
            .filter(files::Column::Id.eq(uuid::Uuid::parse_str(id).expect("uuid")))
            .exec(&app.app_state.db)
            .await
            .expect("rename");
    }
    let (_, entries) = bundle(&app, &t.access, &[&x, &y, &evil, &abs]).await;
    let names: Vec<&str> = entries.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        ["same.txt", "same (1).txt", "evil.txt", "etc/passwd"]
    );
    assert_eq!(entries[1].1, b"second");
}

#[tokio::test]
async fn archive_limits_are_refused_up_front() {
    let app = spawn_app_with(|s| {
        s.archives.max_entries = 2;
        s.archives.max_bytes = 10;
    })
    .await;
    let t = app.user("limits").await;
    let ids: Vec<String> = futures::future::join_all((0..3).map(|i| {
        let (app, access) = (&app, t.access.clone());
        async move {
            app.upload(&access, &format!("f{i}"), b"1", "text/plain")
                .await
        }
    }))
    .await;
    let res = app
        .post_auth("/api/v1/archives", &t.access, &json!({"ids": ids}))
        .await;
    assert_error(
        res,
        StatusCode::UNPROCESSABLE_ENTITY,
        "ARCHIVE_TOO_MANY_FILES",
    )
    .await;
    let big = app
        .upload(&t.access, "big", &pattern(11, 1), "text/plain")
        .await;
    let res = app
        .post_auth("/api/v1/archives", &t.access, &json!({"ids": [big]}))
        .await;
    assert_error(res, StatusCode::PAYLOAD_TOO_LARGE, "ARCHIVE_TOO_LARGE").await;
    let res = app
        .post_auth("/api/v1/archives", &t.access, &json!({"ids": []}))
        .await;
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "INVALID_REQUEST").await;
    let other = app.user("stranger").await;
    let res = app
        .post_auth("/api/v1/archives", &other.access, &json!({"ids": [ids[0]]}))
        .await;
    assert_error(res, StatusCode::NOT_FOUND, "NOT_FOUND").await;
    assert_eq!(app.run_tasks().await, 0, "nothing was enqueued");
}

#[tokio::test]
async fn archives_expire_and_tasks_are_private() {
    let app = spawn_app_with(|s| {
        s.archives.min_ttl = Duration::from_millis(300);
        s.archives.min_bandwidth = u64::MAX;
    })
    .await;
    let t = app.user("expiry").await;
    let f = app.upload(&t.access, "f.txt", b"bytes", "text/plain").await;
    let res = app
        .post_auth("/api/v1/archives", &t.access, &json!({"ids": [f]}))
        .await;
    let task_id = res.json::<Value>().await.expect("json")["task_id"]
        .as_str()
        .expect("id")
        .to_owned();
    assert_eq!(app.run_tasks().await, 1, "builds it");
    let done: Value = app
        .get_auth(&format!("/api/v1/tasks/{task_id}"), &t.access)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(done["state"], "done");
    let url = done["download"]["url"].as_str().expect("url").to_owned();
    assert_eq!(
        raw_client().get(&url).send().await.expect("GET").status(),
        StatusCode::OK
    );
    let stranger = app.user("stranger").await;
    let res = app
        .get_auth(&format!("/api/v1/tasks/{task_id}"), &stranger.access)
        .await;
    assert_error(res, StatusCode::NOT_FOUND, "NOT_FOUND").await;
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert_eq!(
        app.run_tasks().await,
        1,
        "the archive's scheduled purge ran"
    );
    assert!(raw_client()
        .get(&url)
        .send()
        .await
        .expect("GET")
        .status()
        .is_client_error());
    let done: Value = app
        .get_auth(&format!("/api/v1/tasks/{task_id}"), &t.access)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(done["state"], "expired");
    let key = coffer::archives::archive_key(uuid::Uuid::parse_str(&task_id).expect("uuid"));
    assert!(app.object_gone(&key).await);
}

#[tokio::test]
async fn reconciliation_completes_stored_uploads_and_aborts_the_rest() {
    let app = spawn_app().await;
    let t = app.user("reconcile").await;
    let stored = app
        .pending_upload(
            &t.access,
            json!({"name": "stored.bin", "size": 100}),
            &pattern(100, 3),
        )
        .await;
    let missing: Value = app
        .start_upload(&t.access, &json!({"name": "missing.bin", "size": 50}))
        .await
        .json()
        .await
        .expect("json");
    // The client sent half and vanished.
    let res = put_presigned(&missing["put"], pattern(25, 4)).await;
    assert!(res.status().is_client_error());
    let fresh = app
        .pending_upload(
            &t.access,
            json!({"name": "fresh.bin", "size": 10}),
            &pattern(10, 5),
        )
        .await;
    let expired = [
        stored.upload_id.clone(),
        missing["upload_id"].as_str().expect("id").to_owned(),
    ];
    for id in &expired {
        expire_upload(&app, id).await;
    }
    let (completed, aborted) = app
        .app_state
        .uploads
        .reconcile_expired(100)
        .await
        .expect("reconcile");
    assert_eq!((completed, aborted), (1, 1));
    let file: Value = app
        .get_auth(&format!("/api/v1/files/{}", stored.file_id), &t.access)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(file["state"], "active");
    let res = app
        .get_auth(
            &format!(
                "/api/v1/files/{}",
                missing["file"]["id"].as_str().expect("id")
            ),
            &t.access,
        )
        .await;
    assert_error(res, StatusCode::NOT_FOUND, "NOT_FOUND").await;
    let usage = app.usage(&t.access).await;
    assert_eq!(usage.used_bytes, 100);
    assert_eq!(
        usage.reserved_bytes, 10,
        "only the fresh upload still holds a reservation"
    );
    let status: Value = app
        .get_auth(&format!("/api/v1/uploads/{}", fresh.upload_id), &t.access)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(status["state"], "open");
    assert_eq!(
        app.app_state
            .uploads
            .reconcile_expired(100)
            .await
            .expect("again"),
        (0, 0)
    );
    let drift = coffer::quotas::service::check_usage(&app.app_state.db)
        .await
        .expect("check");
    assert!(drift.is_empty(), "{drift:?}");
}

#[tokio::test]
async fn purges_leave_no_orphans_and_the_storage_check_finds_them() {
    let app = spawn_app().await;
    let t = app.user("purger").await;
    let keep = app
        .upload(&t.access, "keep.txt", b"keep", "text/plain")
        .await;
    let gone: Vec<String> = futures::future::join_all((0..3).map(|i| {
        let (app, access) = (&app, t.access.clone());
        async move {
            app.upload(&access, &format!("gone{i}"), b"bye", "text/plain")
                .await
        }
    }))
    .await;
    for id in &gone {
        let res = app
            .client
            .request(Method::DELETE, app.url(&format!("/api/v1/files/{id}")))
            .bearer_auth(&t.access)
            .send()
            .await
            .expect("delete");
        assert_eq!(res.status(), StatusCode::NO_CONTENT);
    }
    let store = app.app_state.store.clone();
    // The bucket may be shared with other tests: look at this user's objects only.
    let me: Value = app.me(&t.access).await.json().await.expect("json");
    let prefix = format!("{}/", me["id"].as_str().expect("id"));
    let report = coffer::cli::storage_report(&app.app_state.db, store.as_ref(), &prefix)
        .await
        .expect("report");
    assert_eq!(
        report,
        Default::default(),
        "objects awaiting their purge are accounted for"
    );
    assert_eq!(app.run_tasks().await, 3);
    let report = coffer::cli::storage_report(&app.app_state.db, store.as_ref(), &prefix)
        .await
        .expect("report");
    assert_eq!(report, Default::default());
    let all = store.list(&prefix).await.expect("list");
    assert_eq!(all.len(), 1, "only keep.txt's object is left: {all:?}");

    // An object nobody knows, and a file whose object vanished.
    let url = store
        .presign_put(
            &format!("{prefix}stray"),
            2,
            "text/plain",
            Duration::from_secs(60),
        )
        .await
        .expect("presign");
    let res = raw_client()
        .put(url)
        .header("content-type", "text/plain")
        .body("xx")
        .send()
        .await
        .expect("put");
    assert!(res.status().is_success());
    let keep_key = all[0].0.clone();
    store.delete(&keep_key).await.expect("delete");
    let report = coffer::cli::storage_report(&app.app_state.db, store.as_ref(), &prefix)
        .await
        .expect("report");
    assert_eq!(report.orphans, [format!("{prefix}stray")]);
    assert_eq!(report.missing, [keep_key]);
    let _ = keep;
}

/// A folder's delete, a purge and an aborted copy may all remove one key at once; every
/// store must answer each of them as done (S3's delete is idempotent), never 500.
#[tokio::test]
async fn concurrent_deletes_of_one_object_all_succeed() {
    let app = spawn_app().await;
    let t = app.user("deleters").await;
    let started = app
        .pending_upload(
            &t.access,
            json!({"name": "src.bin", "size": 4096}),
            &pattern(4096, 7),
        )
        .await;
    let src = app.object_key(&started.upload_id).await;
    let store = app.app_state.store.clone();
    for round in 0..40 {
        let key = format!("{src}.copy{round}");
        store.copy(&src, &key).await.expect("copy");
        let results = futures::future::join_all((0..4).map(|_| store.delete(&key))).await;
        for r in results {
            r.expect("every delete of one key succeeds");
        }
        assert!(
            store.head(&key).await.expect("head").is_none(),
            "{key} is gone"
        );
    }
}

#[tokio::test]
async fn a_stopping_worker_releases_the_task_in_hand_after_its_grace() {
    let app = spawn_app_with(|s| {
        s.worker.shutdown_grace = Duration::from_millis(100);
        s.worker.poll = Duration::from_millis(20);
    })
    .await;
    let runs = Arc::new(AtomicUsize::new(0));
    // A handler that never finishes on its first attempt.
    let w = worker(&app, Counting::hanging_first(runs.clone()));
    let id = enqueue(&app).await;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let running = tokio::spawn(w.run_until_stopped(stopped));
    wait_for_first_run(&runs).await;
    assert_eq!(task(&app, id).await.state.as_str(), "running");
    stop.send(true).expect("stop");
    tokio::time::timeout(Duration::from_secs(5), running)
        .await
        .expect("the worker stops")
        .expect("join");
    let t = task(&app, id).await;
    assert_eq!(
        (t.state.as_str(), t.attempts),
        ("queued", 0),
        "released, the attempt not counted"
    );
    // Another worker takes it up at once and finishes it.
    let next = worker(&app, Counting::ok(runs));
    assert_eq!(
        next.try_execute_task().await.expect("step"),
        Some(Outcome::Done(id))
    );
}

#[tokio::test]
async fn reconciliation_completes_a_multipart_upload_whose_parts_all_arrived() {
    let app = spawn_app_with(|s| s.uploads.multipart_threshold = 5 * 1024 * 1024).await;
    let t = app.user("parts").await;
    let bytes = pattern(6 * 1024 * 1024, 9);
    let started: Value = app
        .start_upload(
            &t.access,
            &json!({"name": "two-parts.bin", "size": bytes.len()}),
        )
        .await
        .json()
        .await
        .expect("json");
    let id = started["upload_id"].as_str().expect("id").to_owned();
    let urls: Value = app
        .post_auth(
            &format!("/api/v1/uploads/{id}/parts"),
            &t.access,
            &json!({"part_numbers": [1, 2]}),
        )
        .await
        .json()
        .await
        .expect("json");
    for (n, chunk) in bytes.chunks(5 * 1024 * 1024).enumerate() {
        assert!(put_presigned(&urls["parts"][n], chunk.to_vec())
            .await
            .status()
            .is_success());
    }
    // The client never called complete and vanished.
    expire_upload(&app, &id).await;
    assert_eq!(
        app.app_state
            .uploads
            .reconcile_expired(10)
            .await
            .expect("reconcile"),
        (1, 0)
    );
    let file_id = started["file"]["id"].as_str().expect("file id");
    let got = app
        .download(&t.access, file_id)
        .await
        .bytes()
        .await
        .expect("body");
    assert!(
        got.to_vec() == bytes,
        "the reconciled object downloads identical"
    );
    assert_eq!(app.usage(&t.access).await.used_bytes, bytes.len() as i64);
}
