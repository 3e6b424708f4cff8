//! Batch start and batch complete: many uploads in one request, a result for each,
//! against a real store (every URL used, bytes compared).

use reqwest::StatusCode;
use serde::Deserialize;
use serde_json::{json, Value};

use coffer::uploads::dto::{CompleteBatchResponse, StartBatchResponse};

use crate::helpers::{assert_error, folder, pattern, put_presigned, spawn_app_with, TestApp};

const MIB: usize = 1024 * 1024;

async fn start_batch(app: &TestApp, access: &str, uploads: Vec<Value>) -> StartBatchResponse {
    let res = app
        .post_auth(
            "/api/v1/uploads/batch",
            access,
            &json!({ "uploads": uploads }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK, "batch start");
    res.json().await.expect("a batch start response")
}

async fn complete_batch(app: &TestApp, access: &str, ids: &[String]) -> CompleteBatchResponse {
    let res = app
        .post_auth(
            "/api/v1/uploads/batch/complete",
            access,
            &json!({ "upload_ids": ids }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK, "batch complete");
    res.json().await.expect("a batch complete response")
}

/// The error code of a refused item.
fn code(item_error: &Option<coffer::error::ErrorBody>) -> &str {
    item_error.as_ref().map_or("", |e| e.error_code.as_str())
}

#[tokio::test]
async fn a_batch_starts_and_completes_many_uploads_with_a_result_each() {
    let app = spawn_app_with(|s| {
        s.default_quota_bytes = 20 * MIB as i64;
        s.uploads.multipart_threshold = 5 * MIB as u64;
    })
    .await;
    let t = app.user("bart").await;
    let results = folder(&app, &t.access, "results", None).await;
    app.upload(&t.access, "taken.csv", b"old", "text/csv").await;
    let bodies: Vec<Vec<u8>> = (0..5).map(|i| pattern(1000 + i * 100, i as u8)).collect();
    let mut uploads: Vec<Value> = bodies
        .iter()
        .enumerate()
        .map(|(i, b)| json!({"name": format!("run-{i}.csv"), "parent_id": results, "size": b.len(), "content_type": "text/csv"}))
        .collect();
    uploads.push(json!({"name": "", "size": 1}));
    uploads.push(json!({"name": "taken.csv", "size": 1}));
    uploads.push(json!({"name": "lost.csv", "size": 1, "parent_id": uuid::Uuid::new_v4()}));
    uploads.push(json!({"name": "huge.bin", "size": 100 * MIB}));
    uploads.push(json!({"name": "empty.log", "size": 0, "content_type": "text/plain"}));
    uploads.push(json!({"name": "big.h5", "size": 6 * MIB, "content_type": "application/x-hdf5"}));
    let batch = start_batch(&app, &t.access, uploads).await;
    let statuses: Vec<u16> = batch.items.iter().map(|i| i.status).collect();
    assert_eq!(
        statuses,
        [201, 201, 201, 201, 201, 422, 409, 404, 413, 201, 201]
    );
    assert_eq!(
        batch.items[5..9]
            .iter()
            .map(|i| code(&i.error))
            .collect::<Vec<_>>(),
        ["INVALID_NAME", "NAME_TAKEN", "NOT_FOUND", "QUOTA_EXCEEDED"]
    );
    assert!(batch.items[5..9].iter().all(|i| i.upload.is_none()));
    let usage = app.usage(&t.access).await;
    let small: i64 = bodies.iter().map(|b| b.len() as i64).sum();
    assert_eq!(
        (usage.reserved_bytes, usage.reserved_objects),
        (small + 6 * MIB as i64, 7),
        "exactly the started uploads are reserved"
    );

    // The single uploads through their PUTs, the multipart one through its parts.
    let started: Vec<_> = batch
        .items
        .iter()
        .filter_map(|i| i.upload.as_ref())
        .collect();
    let mut sent = bodies.clone();
    sent.push(Vec::new());
    for (upload, bytes) in started.iter().zip(&sent) {
        let put = serde_json::to_value(upload.put.as_ref().expect("a single PUT")).expect("json");
        assert!(put_presigned(&put, bytes.clone())
            .await
            .status()
            .is_success());
    }
    let big = started[6];
    assert_eq!(big.mode, "multipart");
    let big_bytes = pattern(6 * MIB, 42);
    let numbers: Vec<i32> = (1..=big.part_count).collect();
    let res = app
        .post_auth(
            &format!("/api/v1/uploads/{}/parts", big.upload_id),
            &t.access,
            &json!({ "part_numbers": numbers }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let parts: Value = res.json().await.expect("json");
    let part_size = big.part_size.expect("a part size") as usize;
    for (i, part) in parts["parts"].as_array().expect("parts").iter().enumerate() {
        let chunk = big_bytes[i * part_size..((i + 1) * part_size).min(big_bytes.len())].to_vec();
        assert!(put_presigned(part, chunk).await.status().is_success());
    }

    // One unknown id among them: its own 404, the others complete.
    let mut ids: Vec<String> = started.iter().map(|u| u.upload_id.to_string()).collect();
    ids.insert(2, uuid::Uuid::new_v4().to_string());
    let done = complete_batch(&app, &t.access, &ids).await;
    let statuses: Vec<u16> = done.items.iter().map(|i| i.status).collect();
    assert_eq!(statuses, [200, 200, 404, 200, 200, 200, 200, 200]);
    assert_eq!(code(&done.items[2].error), "NOT_FOUND");
    for (item, id) in done.items.iter().zip(&ids) {
        assert_eq!(&item.upload_id.to_string(), id, "in the request's order");
    }
    let mut all = sent.clone();
    all.push(big_bytes);
    let files: Vec<_> = done.items.iter().filter_map(|i| i.file.as_ref()).collect();
    for (file, bytes) in files.iter().zip(&all) {
        assert_eq!(file.state.to_string(), "active");
        assert_eq!(file.size, bytes.len() as i64);
        let res = app.download(&t.access, &file.id.to_string()).await;
        assert_eq!(
            &res.bytes().await.expect("body").to_vec(),
            bytes,
            "{}",
            file.name
        );
    }
    let usage = app.usage(&t.access).await;
    let stored: i64 = all.iter().map(|b| b.len() as i64).sum::<i64>() + 3;
    assert_eq!(
        (
            usage.used_bytes,
            usage.used_objects,
            usage.reserved_bytes,
            usage.reserved_objects
        ),
        (stored, 8, 0, 0)
    );

    // Completing again is safe: each answers its file.
    let again = complete_batch(&app, &t.access, &ids[..2]).await;
    assert!(again.items.iter().all(|i| i.status == 200));
}

#[tokio::test]
async fn a_batch_counts_the_quota_over_all_its_starts_even_when_batches_race() {
    let app = spawn_app_with(|s| s.default_quota_bytes = 1000).await;
    let t = app.user("lisa").await;
    let batch = |tag: &'static str| {
        let uploads = (0..15)
            .map(|i| json!({"name": format!("{tag}-{i}"), "size": 100}))
            .collect::<Vec<_>>();
        let (app, access) = (&app, t.access.clone());
        async move { start_batch(app, &access, uploads).await }
    };
    let (a, b) = tokio::join!(batch("a"), batch("b"));
    let mut created = 0;
    for batch in [&a, &b] {
        let statuses: Vec<u16> = batch.items.iter().map(|i| i.status).collect();
        let ok = statuses.iter().take_while(|s| **s == 201).count();
        assert!(
            statuses[ok..].iter().all(|s| *s == 413),
            "in order: the starts that fit, then refusals ({statuses:?})"
        );
        created += ok;
    }
    assert_eq!(created, 10, "exactly the 1,000 free bytes were reserved");
    let usage = app.usage(&t.access).await;
    assert_eq!((usage.reserved_bytes, usage.reserved_objects), (1000, 10));

    // A retry of the same batch answers the same uploads (200), refuses the rest again.
    let uploads = (0..15)
        .map(|i| json!({"name": format!("a-{i}"), "size": 100}))
        .collect::<Vec<_>>();
    let retried = start_batch(&app, &t.access, uploads).await;
    for (first, again) in a.items.iter().zip(&retried.items) {
        match (&first.upload, &again.upload) {
            (Some(f), Some(g)) => {
                assert_eq!((again.status, f.upload_id), (200, g.upload_id));
            }
            (None, None) => assert_eq!(again.status, 413),
            _ => panic!("a retry changed an outcome"),
        }
    }
    assert_eq!(app.usage(&t.access).await.reserved_bytes, 1000);

    // Abort one, and its reservation is what the next batch can use.
    let first = a
        .items
        .iter()
        .chain(&b.items)
        .find_map(|i| i.upload.as_ref())
        .expect("one started");
    let res = app
        .post_auth(
            &format!("/api/v1/uploads/{}/abort", first.upload_id),
            &t.access,
            &json!({}),
        )
        .await;
    assert!(res.status().is_success());
    let next = start_batch(
        &app,
        &t.access,
        vec![
            json!({"name": "c-1", "size": 100}),
            json!({"name": "c-2", "size": 100}),
        ],
    )
    .await;
    let statuses: Vec<u16> = next.items.iter().map(|i| i.status).collect();
    assert_eq!(statuses, [201, 413]);
}

#[tokio::test]
async fn a_batch_refuses_an_empty_an_oversized_or_a_repeating_request() {
    let app = spawn_app_with(|_| {}).await;
    let t = app.user("maggie").await;
    for uploads in [Vec::new(), vec![json!({"name": "x", "size": 1}); 1001]] {
        let res = app
            .post_auth(
                "/api/v1/uploads/batch",
                &t.access,
                &json!({ "uploads": uploads }),
            )
            .await;
        assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "INVALID_REQUEST").await;
    }
    let id = uuid::Uuid::new_v4();
    for ids in [Vec::new(), vec![id, id], vec![uuid::Uuid::nil(); 1001]] {
        let res = app
            .post_auth(
                "/api/v1/uploads/batch/complete",
                &t.access,
                &json!({ "upload_ids": ids }),
            )
            .await;
        assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "INVALID_REQUEST").await;
    }
    let res = app
        .post_auth(
            "/api/v1/uploads/batch",
            &t.access,
            &json!({"uploads": [{"name": "x"}]}),
        )
        .await;
    assert_eq!(
        res.status(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "a start without its size"
    );
    assert_eq!(
        app.usage(&t.access).await.reserved_objects,
        0,
        "nothing reserved"
    );

    // Completing before the bytes are stored: the item says so, nothing changes.
    let started = start_batch(
        &app,
        &t.access,
        vec![json!({"name": "later.bin", "size": 10})],
    )
    .await;
    let upload = started.items[0].upload.as_ref().expect("started");
    let done = complete_batch(&app, &t.access, &[upload.upload_id.to_string()]).await;
    assert_eq!(
        (done.items[0].status, code(&done.items[0].error)),
        (409, "UPLOAD_INCOMPLETE")
    );
    let usage = app.usage(&t.access).await;
    assert_eq!((usage.reserved_bytes, usage.used_bytes), (10, 0));

    // Another user's upload is unknown to them.
    let other = app.user("nelson").await;
    let done = complete_batch(&app, &other.access, &[upload.upload_id.to_string()]).await;
    assert_eq!(
        (done.items[0].status, code(&done.items[0].error)),
        (404, "NOT_FOUND")
    );
    #[derive(Deserialize)]
    struct Status {
        state: String,
    }
    let res = app
        .get_auth(&format!("/api/v1/uploads/{}", upload.upload_id), &t.access)
        .await;
    assert_eq!(res.json::<Status>().await.expect("status").state, "open");
}

#[tokio::test]
async fn a_thousand_starts_fit_in_one_batch_and_complete_in_another() {
    use futures::StreamExt as _;
    let app = spawn_app_with(|_| {}).await;
    let t = app.user("homer").await;
    let runs = folder(&app, &t.access, "runs", None).await;
    let uploads = (0..1000)
        .map(|i| json!({"name": format!("4242_batch_c0107-{i:04}-energy-profile-with-a-long-name.csv"), "parent_id": runs, "size": 4 + i % 3, "content_type": "text/csv"}))
        .collect();
    let batch = start_batch(&app, &t.access, uploads).await;
    assert!(batch.items.iter().all(|i| i.status == 201));
    let puts = batch.items.iter().enumerate().map(|(i, item)| {
        let upload = item.upload.as_ref().expect("started");
        let put = serde_json::to_value(upload.put.as_ref().expect("a PUT")).expect("json");
        async move {
            put_presigned(&put, pattern(4 + i % 3, i as u8))
                .await
                .status()
        }
    });
    let statuses: Vec<_> = futures::stream::iter(puts)
        .buffer_unordered(16)
        .collect()
        .await;
    assert!(statuses.iter().all(|s| s.is_success()));
    let ids: Vec<String> = batch
        .items
        .iter()
        .map(|i| i.upload.as_ref().expect("started").upload_id.to_string())
        .collect();
    let done = complete_batch(&app, &t.access, &ids).await;
    assert!(done.items.iter().all(|i| i.status == 200));
    let usage = app.usage(&t.access).await;
    let bytes: i64 = (0..1000).map(|i| 4 + i % 3).sum();
    assert_eq!(
        (usage.used_bytes, usage.used_objects, usage.reserved_objects),
        (bytes, 1000, 0)
    );
    let n = 999_usize;
    let last = done.items[n].file.as_ref().expect("file");
    let res = app.download(&t.access, &last.id.to_string()).await;
    assert_eq!(
        res.bytes().await.expect("body").to_vec(),
        pattern(4 + n % 3, n as u8)
    );
}

#[tokio::test]
async fn a_batch_into_a_folder_shared_for_writing_is_billed_to_its_owner() {
    let app = spawn_app_with(|_| {}).await;
    let owner = app.user("patty").await;
    let writer = app.user("selma").await;
    let shared = folder(&app, &owner.access, "shared", None).await;
    let res = app
        .post_auth(
            &format!("/api/v1/files/{shared}/shares"),
            &owner.access,
            &json!({"username": "selma", "permission": "write"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let bodies: Vec<Vec<u8>> = (0..3).map(|i| pattern(500 + i, i as u8)).collect();
    let mut uploads: Vec<Value> = bodies
        .iter()
        .enumerate()
        .map(|(i, b)| json!({"name": format!("s-{i}.bin"), "parent_id": shared, "size": b.len()}))
        .collect();
    uploads.push(json!({"name": "own.bin", "size": 7}));
    let batch = start_batch(&app, &writer.access, uploads).await;
    let statuses: Vec<u16> = batch.items.iter().map(|i| i.status).collect();
    assert_eq!(statuses, [201, 201, 201, 201]);
    let (o, w) = (
        app.usage(&owner.access).await,
        app.usage(&writer.access).await,
    );
    assert_eq!(
        (
            o.reserved_bytes,
            o.reserved_objects,
            w.reserved_bytes,
            w.reserved_objects
        ),
        (1503, 3, 7, 1),
        "the shared folder's starts are its owner's, the root's the writer's"
    );
    let mut ids = Vec::new();
    for (item, bytes) in batch.items.iter().zip(&bodies) {
        let upload = item.upload.as_ref().expect("started");
        let put = serde_json::to_value(upload.put.as_ref().expect("a PUT")).expect("json");
        assert!(put_presigned(&put, bytes.clone())
            .await
            .status()
            .is_success());
        ids.push(upload.upload_id.to_string());
    }
    let done = complete_batch(&app, &writer.access, &ids).await;
    assert!(done.items.iter().all(|i| i.status == 200));
    for (item, bytes) in done.items.iter().zip(&bodies) {
        let id = item.file.as_ref().expect("file").id.to_string();
        let res = app.download(&owner.access, &id).await;
        assert_eq!(&res.bytes().await.expect("body").to_vec(), bytes);
    }
    let o = app.usage(&owner.access).await;
    assert_eq!(
        (o.used_bytes, o.used_objects, o.reserved_bytes),
        (1503, 3, 0)
    );
}

#[tokio::test]
async fn a_batch_complete_racing_aborts_deletes_and_single_completes_keeps_the_ledger_exact() {
    let app = spawn_app_with(|_| {}).await;
    let t = app.user("otto").await;
    const N: usize = 8;
    for round in 0..6 {
        let before = app.usage(&t.access).await;
        let dir = folder(&app, &t.access, &format!("round-{round}"), None).await;
        let bodies: Vec<Vec<u8>> = (0..N).map(|i| pattern(300 + i * 10, i as u8)).collect();
        let uploads = bodies
            .iter()
            .enumerate()
            .map(|(i, b)| json!({"name": format!("f{i}"), "parent_id": dir, "size": b.len()}))
            .collect();
        let batch = start_batch(&app, &t.access, uploads).await;
        let started: Vec<_> = batch
            .items
            .iter()
            .map(|i| i.upload.as_ref().expect("started"))
            .collect();
        for (upload, bytes) in started.iter().zip(&bodies) {
            let put = serde_json::to_value(upload.put.as_ref().expect("a PUT")).expect("json");
            assert!(put_presigned(&put, bytes.clone())
                .await
                .status()
                .is_success());
        }
        let ids: Vec<String> = started.iter().map(|u| u.upload_id.to_string()).collect();
        let send = |method: reqwest::Method, path: String| {
            let (app, access) = (&app, t.access.clone());
            async move {
                app.client
                    .request(method, app.url(&path))
                    .bearer_auth(access)
                    .json(&json!({}))
                    .send()
                    .await
                    .expect("request")
                    .status()
            }
        };
        let whole_folder = round % 2 == 1;
        // Against the batch: an abort, a single complete, the delete of a pending file,
        // and in odd rounds the delete of the whole folder.
        let (done, aborted, single, deleted, folder_deleted) = tokio::join!(
            complete_batch(&app, &t.access, &ids),
            send(
                reqwest::Method::POST,
                format!("/api/v1/uploads/{}/abort", ids[0])
            ),
            send(
                reqwest::Method::POST,
                format!("/api/v1/uploads/{}/complete", ids[1])
            ),
            send(
                reqwest::Method::DELETE,
                format!("/api/v1/files/{}", started[2].file.id)
            ),
            async {
                if whole_folder {
                    send(reqwest::Method::DELETE, format!("/api/v1/files/{dir}")).await
                } else {
                    StatusCode::NO_CONTENT
                }
            },
        );
        for status in [aborted, single, deleted, folder_deleted] {
            assert!(!status.is_server_error(), "round {round}: {status}");
        }
        assert_eq!(folder_deleted, StatusCode::NO_CONTENT, "round {round}");
        for item in &done.items {
            assert!(
                matches!(item.status, 200 | 404 | 409),
                "round {round}: {} answered {} {:?}",
                item.upload_id,
                item.status,
                item.error
            );
        }
        // Whichever way each race went, the usage is what the folder holds.
        let kept: Vec<Value> = if whole_folder {
            Vec::new()
        } else {
            let res = app
                .get_auth(&format!("/api/v1/folders/{dir}/items"), &t.access)
                .await;
            let page: Value = res.json().await.expect("a listing");
            page["items"].as_array().expect("items").clone()
        };
        let usage = app.usage(&t.access).await;
        let kept_bytes: i64 = kept.iter().map(|f| f["size"].as_i64().expect("size")).sum();
        assert_eq!(
            (usage.used_bytes - before.used_bytes, usage.reserved_objects),
            (kept_bytes, 0),
            "round {round}: {usage:?}"
        );
        if !whole_folder {
            let completed = done.items.iter().filter(|i| i.status == 200).count();
            assert!(
                completed >= N - 3,
                "round {round}: only {completed} completed"
            );
            assert!(kept.len() >= N - 2, "round {round}: {} kept", kept.len());
        }
    }
    crate::ledger::sweep_late_purges(&app).await;
    crate::ledger::assert_ledger_exact(&app, &[&t]).await;
}
