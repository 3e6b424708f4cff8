//! The quota ledger under races: concurrent requests that touch the same rows must leave
//! usage equal to what the tables hold, never negative, with no orphaned object and no
//! 5xx answer. Each test runs several rounds of real concurrent requests.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{
    folder, pattern, put_presigned, server_errors, spawn_app, spawn_app_with, upload_into, TestApp,
    Tokens,
};

const ROUNDS: usize = 12;

async fn send(
    app: &TestApp,
    method: Method,
    path: &str,
    access: &str,
    body: Option<Value>,
) -> reqwest::Response {
    let mut req = app
        .client
        .request(method, app.url(path))
        .bearer_auth(access);
    if let Some(b) = body {
        req = req.json(&b);
    }
    req.send().await.expect("request")
}

async fn delete(app: &TestApp, access: &str, id: &str) -> reqwest::Response {
    send(
        app,
        Method::DELETE,
        &format!("/api/v1/files/{id}"),
        access,
        None,
    )
    .await
}

/// A status a client may get from a lost race: never a 5xx.
fn assert_not_5xx(status: StatusCode, what: &str) {
    assert!(
        !status.is_server_error(),
        "{what} answered {status}: {}",
        server_errors()
    );
}

async fn user_prefix(app: &TestApp, access: &str) -> String {
    let me: Value = app.me(access).await.json().await.expect("json");
    format!("{}/", me["id"].as_str().expect("id"))
}

/// After the worker ran: stored usage equals the tables (never negative), and the
/// store holds exactly the objects of this user's live files and open uploads.
pub async fn assert_ledger_exact(app: &TestApp, users: &[&Tokens]) {
    app.run_tasks().await;
    let drift = coffer::quotas::service::check_usage(&app.app_state.db)
        .await
        .expect("usage check");
    assert!(drift.is_empty(), "usage drifted: {drift:?}");
    for t in users {
        let usage = app.usage(&t.access).await;
        for (field, v) in [
            ("used_bytes", usage.used_bytes),
            ("used_objects", usage.used_objects),
            ("reserved_bytes", usage.reserved_bytes),
            ("reserved_objects", usage.reserved_objects),
        ] {
            assert!(v >= 0, "{field} is {v}");
        }
        assert!(
            usage.used_bytes <= usage.quota_bytes,
            "over quota: {} of {}",
            usage.used_bytes,
            usage.quota_bytes
        );
        let prefix = user_prefix(app, &t.access).await;
        let report =
            coffer::cli::storage_report(&app.app_state.db, app.app_state.store.as_ref(), &prefix)
                .await
                .expect("storage report");
        assert_eq!(report, Default::default(), "objects and rows disagree");
    }
}

#[tokio::test]
async fn racing_deletes_of_a_folder_and_its_file_free_the_file_once() {
    let app = spawn_app().await;
    let t = app.user("racer").await;
    for round in 0..ROUNDS {
        let dir = folder(&app, &t.access, &format!("dir{round}"), None).await;
        let file = upload_into(&app, &t.access, "f.bin", &dir, &pattern(1000, 1)).await;
        let (a, b) = tokio::join!(
            delete(&app, &t.access, &dir),
            delete(&app, &t.access, &file)
        );
        assert_eq!(a.status(), StatusCode::NO_CONTENT, "folder delete");
        assert!(
            matches!(b.status(), StatusCode::NO_CONTENT | StatusCode::NOT_FOUND),
            "file delete answered {}",
            b.status()
        );
        let usage = app.usage(&t.access).await;
        assert_eq!(
            (Some(usage.used_bytes), Some(usage.used_objects)),
            (Some(0), Some(0)),
            "round {round}: {usage:?}"
        );
    }
    assert_ledger_exact(&app, &[&t]).await;
}

#[tokio::test]
async fn a_copy_into_a_folder_being_deleted_is_404_or_deleted_with_it() {
    let app = spawn_app().await;
    let t = app.user("copier").await;
    let src = app
        .upload(
            &t.access,
            "src.bin",
            &pattern(4096, 2),
            "application/octet-stream",
        )
        .await;
    for round in 0..ROUNDS {
        let dir = folder(&app, &t.access, &format!("dir{round}"), None).await;
        let path = format!("/api/v1/files/{src}/copy");
        let copy = send(
            &app,
            Method::POST,
            &path,
            &t.access,
            Some(json!({"parent_id": dir})),
        );
        let (copied, deleted) = tokio::join!(copy, delete(&app, &t.access, &dir));
        assert_eq!(deleted.status(), StatusCode::NO_CONTENT, "folder delete");
        assert_not_5xx(copied.status(), "copy");
        assert!(
            matches!(copied.status(), StatusCode::CREATED | StatusCode::NOT_FOUND),
            "round {round}: copy answered {}",
            copied.status()
        );
    }
    // Afterwards the folder is gone: a plain 404.
    let dir = folder(&app, &t.access, "late", None).await;
    assert_eq!(
        delete(&app, &t.access, &dir).await.status(),
        StatusCode::NO_CONTENT
    );
    let res = send(
        &app,
        Method::POST,
        &format!("/api/v1/files/{src}/copy"),
        &t.access,
        Some(json!({"parent_id": dir})),
    )
    .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let usage = app.usage(&t.access).await;
    assert_eq!(
        usage.used_objects, 1,
        "only the source is stored: {usage:?}"
    );
    assert_ledger_exact(&app, &[&t]).await;
}

#[tokio::test]
async fn uploads_and_folders_created_in_a_folder_being_deleted_leak_nothing() {
    let app = spawn_app().await;
    let t = app.user("creator").await;
    for round in 0..ROUNDS {
        let dir = folder(&app, &t.access, &format!("dir{round}"), None).await;
        let body = json!({"name": "x.bin", "size": 100, "parent_id": dir});
        let start = app.start_upload(&t.access, &body);
        let sub = send(
            &app,
            Method::POST,
            "/api/v1/folders",
            &t.access,
            Some(json!({"name": "sub", "parent_id": dir})),
        );
        let (started, sub, deleted) = tokio::join!(start, sub, delete(&app, &t.access, &dir));
        assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
        assert_not_5xx(sub.status(), "create folder");
        assert!(matches!(
            sub.status(),
            StatusCode::CREATED | StatusCode::NOT_FOUND
        ));
        assert_not_5xx(started.status(), "upload start");
        if started.status() == StatusCode::CREATED {
            // The start won and the delete took it along: its PUT and complete fail
            // to create anything that counts.
            let body: Value = started.json().await.expect("json");
            let _ = put_presigned(&body["put"], pattern(100, 3)).await;
            let id = body["upload_id"].as_str().expect("id");
            let res = app
                .post_auth(
                    &format!("/api/v1/uploads/{id}/complete"),
                    &t.access,
                    &json!({}),
                )
                .await;
            assert_not_5xx(res.status(), "complete");
            assert!(
                res.status().is_client_error(),
                "round {round}: complete of an upload whose folder is gone answered {}",
                res.status()
            );
        } else {
            assert_eq!(started.status(), StatusCode::NOT_FOUND, "round {round}");
        }
        let usage = app.usage(&t.access).await;
        assert_eq!(usage.used_objects, 0, "round {round}: {usage:?}");
    }
    // Into a folder already gone: 404, not 500.
    let dir = folder(&app, &t.access, "gone", None).await;
    assert_eq!(
        delete(&app, &t.access, &dir).await.status(),
        StatusCode::NO_CONTENT
    );
    let res = app
        .start_upload(
            &t.access,
            &json!({"name": "y.bin", "size": 1, "parent_id": dir}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let res = app
        .post_auth(
            "/api/v1/folders",
            &t.access,
            &json!({"name": "s", "parent_id": dir}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    // Stale PUT URLs are swept later: run the worker as if that time had come.
    sweep_late_purges(&app).await;
    assert_ledger_exact(&app, &[&t]).await;
}

#[tokio::test]
async fn a_complete_racing_the_delete_of_its_pending_file_keeps_the_ledger_exact() {
    let app = spawn_app().await;
    let t = app.user("completer").await;
    for round in 0..ROUNDS {
        let started = app
            .pending_upload(
                &t.access,
                json!({"name": format!("p{round}.bin"), "size": 500}),
                &pattern(500, 4),
            )
            .await;
        let (path, empty) = (
            format!("/api/v1/uploads/{}/complete", started.upload_id),
            json!({}),
        );
        let complete = app.post_auth(&path, &t.access, &empty);
        let (completed, deleted) =
            tokio::join!(complete, delete(&app, &t.access, &started.file_id));
        assert_not_5xx(completed.status(), "complete");
        assert_not_5xx(deleted.status(), "delete");
        assert_eq!(deleted.status(), StatusCode::NO_CONTENT, "round {round}");
        let usage = app.usage(&t.access).await;
        assert_eq!(
            (Some(usage.used_bytes), Some(usage.used_objects)),
            (Some(0), Some(0)),
            "round {round}: the file is gone, so is its usage: {usage:?}"
        );
        assert_eq!(usage.reserved_objects, 0, "round {round}: {usage:?}");
    }
    sweep_late_purges(&app).await;
    assert_ledger_exact(&app, &[&t]).await;
}

/// Makes every queued task due now (the late sweeps of presigned PUT URLs wait for the
/// URLs to expire) and runs them.
pub async fn sweep_late_purges(app: &TestApp) {
    use sea_orm::{ConnectionTrait, Statement};
    let db = &app.app_state.db;
    db.execute_raw(Statement::from_string(
        db.get_database_backend(),
        "UPDATE tasks SET run_after_ms = 0 WHERE state = 'queued'",
    ))
    .await
    .expect("make tasks due");
    app.run_tasks().await;
}

#[tokio::test]
async fn long_display_names_upload_single_and_multipart() {
    let app = spawn_app_with(|s| s.uploads.multipart_threshold = 5 * 1024 * 1024).await;
    let t = app.user("longnames").await;
    let long = format!("{}.h5", "energy_profile_of_job_".repeat(11));
    assert!(long.len() > 240 && long.len() <= 255, "{}", long.len());
    let bytes = pattern(1000, 5);
    let id = app
        .upload(&t.access, &long, &bytes, "application/octet-stream")
        .await;
    let res = app.download(&t.access, &id).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.bytes().await.expect("body").to_vec(), bytes);

    // Multibyte names: 120 characters of 2 bytes each.
    let accented = format!("{}.csv", "é".repeat(120));
    let id = app.upload(&t.access, &accented, b"a,b\n", "text/csv").await;
    assert_eq!(
        app.download(&t.access, &id)
            .await
            .bytes()
            .await
            .expect("body")
            .as_ref(),
        b"a,b\n"
    );

    // Multipart: starts, takes parts, completes.
    let big = pattern(6 * 1024 * 1024, 6);
    let res = app
        .start_upload(
            &t.access,
            &json!({"name": format!("{}.bin", "x".repeat(250)), "size": big.len()}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED, "{}", server_errors());
    let started: Value = res.json().await.expect("json");
    assert_eq!(started["mode"], "multipart");
    let upload_id = started["upload_id"].as_str().expect("id");
    let file_id = started["file"]["id"].as_str().expect("id").to_owned();
    let part_size = started["part_size"].as_u64().expect("part size") as usize;
    let count = big.len().div_ceil(part_size);
    let numbers: Vec<usize> = (1..=count).collect();
    let res = app
        .post_auth(
            &format!("/api/v1/uploads/{upload_id}/parts"),
            &t.access,
            &json!({"part_numbers": numbers}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK, "{}", server_errors());
    let parts: Value = res.json().await.expect("json");
    for part in parts["parts"].as_array().expect("parts") {
        let n = part["part_number"].as_u64().expect("n") as usize;
        let chunk = big[(n - 1) * part_size..(n * part_size).min(big.len())].to_vec();
        let res = put_presigned(part, chunk).await;
        assert!(res.status().is_success(), "part {n}: {}", res.status());
    }
    let res = app
        .post_auth(
            &format!("/api/v1/uploads/{upload_id}/complete"),
            &t.access,
            &json!({}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK, "{}", server_errors());
    let res = app.download(&t.access, &file_id).await;
    assert_eq!(res.bytes().await.expect("body").to_vec(), big);
    assert_ledger_exact(&app, &[&t]).await;
}
