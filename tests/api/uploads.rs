//! Presigned uploads against a real S3 server: every URL is used and bytes compared.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{
    assert_error, folder, pattern, put_presigned, raw_client, spawn_app, spawn_app_with,
    try_put_presigned, TestApp,
};

const MIB: usize = 1024 * 1024;

async fn complete(app: &TestApp, access: &str, upload_id: &str) -> reqwest::Response {
    app.post_auth(
        &format!("/api/v1/uploads/{upload_id}/complete"),
        access,
        &json!({}),
    )
    .await
}

async fn abort(app: &TestApp, access: &str, upload_id: &str) -> reqwest::Response {
    app.post_auth(
        &format!("/api/v1/uploads/{upload_id}/abort"),
        access,
        &json!({}),
    )
    .await
}

#[tokio::test]
async fn a_completed_upload_downloads_identical_bytes() {
    let app = spawn_app().await;
    let t = app.user("alice").await;
    let bytes = pattern(300_000, 1);
    let started = app
        .started(
            &t.access,
            "results.bin",
            bytes.len(),
            "application/octet-stream",
        )
        .await;
    assert_eq!(started.body["mode"], "single");
    assert_eq!(started.body["file"]["state"], "pending");
    assert_eq!(started.body["put"]["headers"]["Content-Length"], "300000");
    let usage = app.usage(&t.access).await;
    assert_eq!(
        (Some(usage.reserved_bytes), Some(usage.reserved_objects)),
        (Some(300_000), Some(1))
    );

    let res = put_presigned(&started.body["put"], bytes.clone()).await;
    assert!(res.status().is_success(), "PUT {}", res.status());
    let res = complete(&app, &t.access, &started.upload_id).await;
    assert_eq!(res.status(), StatusCode::OK);
    let file: Value = res.json().await.expect("json");
    assert_eq!(file["state"], "active");
    assert_eq!(file["size"], 300_000);

    let res = app.download(&t.access, &started.file_id).await;
    assert_eq!(res.status(), StatusCode::OK);
    let disposition = res.headers()["content-disposition"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(
        disposition.starts_with("attachment;")
            && disposition.contains("filename*=UTF-8''results.bin"),
        "{disposition}"
    );
    assert_eq!(res.bytes().await.expect("body").to_vec(), bytes);

    let usage = app.usage(&t.access).await;
    assert_eq!(usage.used_bytes, 300_000);
    assert_eq!(usage.used_objects, 1);
    assert_eq!(usage.reserved_bytes, 0);
    assert_eq!(usage.reserved_objects, 0);
}

#[tokio::test]
async fn the_store_refuses_a_body_of_the_wrong_length() {
    let app = spawn_app().await;
    let t = app.user("bob").await;
    let started = app
        .started(&t.access, "a.bin", 1000, "application/octet-stream")
        .await;
    for wrong in [999usize, 1001] {
        let res = put_presigned(&started.body["put"], pattern(wrong, 2)).await;
        assert!(
            res.status().is_client_error(),
            "{wrong} bytes: {}",
            res.status()
        );
    }
    assert_error(
        complete(&app, &t.access, &started.upload_id).await,
        StatusCode::CONFLICT,
        "UPLOAD_INCOMPLETE",
    )
    .await;
    assert_eq!(
        abort(&app, &t.access, &started.upload_id).await.status(),
        StatusCode::NO_CONTENT
    );
    let usage = app.usage(&t.access).await;
    assert_eq!(
        (Some(usage.reserved_bytes), Some(usage.used_bytes)),
        (Some(0), Some(0))
    );
}

#[tokio::test]
async fn a_url_for_one_key_cannot_write_another_nor_read() {
    let app = spawn_app().await;
    let t = app.user("carol").await;
    let started = app
        .started(&t.access, "a.bin", 10, "application/octet-stream")
        .await;
    let url = started.body["put"]["url"].as_str().expect("url").to_owned();
    let key = app.object_key(&started.upload_id).await;
    let other_key = format!("{}_other", key);
    let forged = url.replacen(&key, &other_key, 1);
    assert_ne!(forged, url, "the key appears in the URL");
    let res = raw_client()
        .put(&forged)
        .header("content-type", "application/octet-stream")
        .body(pattern(10, 3))
        .send()
        .await
        .expect("request");
    assert!(
        res.status().is_client_error(),
        "forged key: {}",
        res.status()
    );
    assert!(
        app.object_gone(&other_key).await,
        "nothing written at key B"
    );

    let res = raw_client().get(&url).send().await.expect("request");
    assert!(
        res.status().is_client_error(),
        "a PUT URL used for GET: {}",
        res.status()
    );

    // The URL itself works for what it was made for.
    let res = put_presigned(&started.body["put"], pattern(10, 3)).await;
    assert!(res.status().is_success());
}

#[tokio::test]
async fn an_expired_url_is_refused() {
    let app = spawn_app_with(|s| s.uploads.presign_ttl = std::time::Duration::from_secs(1)).await;
    let t = app.user("dave").await;
    let started = app
        .started(&t.access, "late.bin", 10, "application/octet-stream")
        .await;
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let res = put_presigned(&started.body["put"], pattern(10, 4)).await;
    assert!(
        res.status().is_client_error(),
        "expired URL: {}",
        res.status()
    );
}

#[tokio::test]
async fn a_multipart_upload_resumes_after_a_dropped_part() {
    let app = spawn_app_with(|s| s.uploads.multipart_threshold = 5 * MIB as u64).await;
    let t = app.user("erin").await;
    let bytes = pattern(12 * MIB + 12345, 5);
    let res = app
        .start_upload(&t.access, &json!({"name": "big.dat", "size": bytes.len(), "content_type": "application/octet-stream"}))
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let started: Value = res.json().await.expect("json");
    assert_eq!(started["mode"], "multipart");
    assert_eq!(started["part_size"], 5 * MIB);
    assert_eq!(started["part_count"], 3);
    assert!(started["put"].is_null());
    let id = started["upload_id"].as_str().expect("id");

    let urls: Value = app
        .post_auth(
            &format!("/api/v1/uploads/{id}/parts"),
            &t.access,
            &json!({"part_numbers": [1, 2, 3]}),
        )
        .await
        .json()
        .await
        .expect("json");
    let part = |n: usize| bytes[(n - 1) * 5 * MIB..(n * 5 * MIB).min(bytes.len())].to_vec();
    // Parts 1 and 3 arrive; part 2 is dropped: the client dies halfway through it.
    for n in [1usize, 3] {
        let res = put_presigned(&urls["parts"][n - 1], part(n)).await;
        assert!(res.status().is_success(), "part {n}: {}", res.status());
    }
    let half = part(2)[..MIB].to_vec();
    // Refused with a 4xx, or (Garage, at times) by closing the connection mid-body.
    if let Ok(res) = try_put_presigned(&urls["parts"][1], half).await {
        assert!(
            res.status().is_client_error(),
            "a truncated part is refused: {}",
            res.status()
        );
    }
    let status: Value = app
        .get_auth(&format!("/api/v1/uploads/{id}"), &t.access)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(status["missing_parts"], json!([2]), "{status}");
    assert_eq!(status["parts_done"].as_array().map(Vec::len), Some(2));
    assert_error(
        complete(&app, &t.access, id).await,
        StatusCode::CONFLICT,
        "UPLOAD_INCOMPLETE",
    )
    .await;

    // Resume: re-sign only the missing part.
    let again: Value = app
        .post_auth(
            &format!("/api/v1/uploads/{id}/parts"),
            &t.access,
            &json!({"part_numbers": [2]}),
        )
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(again["parts"][0]["size"], 5 * MIB);
    let res = put_presigned(&again["parts"][0], part(2)).await;
    assert!(res.status().is_success());
    let status: Value = app
        .get_auth(&format!("/api/v1/uploads/{id}"), &t.access)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(status["missing_parts"], json!([]));

    let res = complete(&app, &t.access, id).await;
    assert_eq!(res.status(), StatusCode::OK);
    let file: Value = res.json().await.expect("json");
    let got = app
        .download(&t.access, file["id"].as_str().expect("id"))
        .await
        .bytes()
        .await
        .expect("body");
    assert!(got.to_vec() == bytes, "downloaded bytes differ");
    assert_eq!(app.usage(&t.access).await.used_bytes, bytes.len() as i64);
}

#[tokio::test]
async fn part_urls_refuse_bad_numbers_and_single_uploads() {
    let app = spawn_app_with(|s| s.uploads.multipart_threshold = 5 * MIB as u64).await;
    let t = app.user("faythe").await;
    let res = app
        .start_upload(
            &t.access,
            &json!({"name": "m.dat", "size": 6 * MIB, "content_type": "application/octet-stream"}),
        )
        .await;
    let id = res.json::<Value>().await.expect("json")["upload_id"]
        .as_str()
        .expect("id")
        .to_owned();
    for bad in [
        json!({"part_numbers": [0]}),
        json!({"part_numbers": [3]}),
        json!({"part_numbers": []}),
    ] {
        let res = app
            .post_auth(&format!("/api/v1/uploads/{id}/parts"), &t.access, &bad)
            .await;
        assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "INVALID_REQUEST").await;
    }
    let single = app
        .pending_upload(
            &t.access,
            json!({"name": "s.dat", "size": 10, "content_type": "text/plain"}),
            &pattern(10, 14),
        )
        .await;
    let res = app
        .post_auth(
            &format!("/api/v1/uploads/{}/parts", single.upload_id),
            &t.access,
            &json!({"part_numbers": [1]}),
        )
        .await;
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "INVALID_REQUEST").await;
    assert_eq!(
        abort(&app, &t.access, &id).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(app.usage(&t.access).await.reserved_bytes, 10);
}

#[tokio::test]
async fn complete_rejects_upload_when_size_differs() {
    let app = spawn_app().await;
    let t = app.user("grace").await;
    let started = app
        .started(&t.access, "short.bin", 10, "application/octet-stream")
        .await;
    let res = put_presigned(&started.body["put"], pattern(10, 6)).await;
    assert!(res.status().is_success());
    // Then something other than the presigned URL overwrote the key with 7 bytes.
    let key = app.object_key(&started.upload_id).await;
    let url = app
        .app_state
        .store
        .presign_put(
            &key,
            7,
            "application/octet-stream",
            std::time::Duration::from_secs(60),
        )
        .await
        .expect("presign");
    let res = raw_client()
        .put(url)
        .header("content-type", "application/octet-stream")
        .body(pattern(7, 6))
        .send()
        .await
        .expect("put");
    assert!(res.status().is_success());

    assert_error(
        complete(&app, &t.access, &started.upload_id).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "SIZE_MISMATCH",
    )
    .await;
    assert!(app.object_gone(&key).await, "the object was deleted");
    let usage = app.usage(&t.access).await;
    assert_eq!(
        (Some(usage.reserved_bytes), Some(usage.used_bytes)),
        (Some(0), Some(0))
    );
    let res = app
        .get_auth(&format!("/api/v1/files/{}", started.file_id), &t.access)
        .await;
    assert_error(res, StatusCode::NOT_FOUND, "NOT_FOUND").await;
    // The name is free again.
    app.pending_upload(
        &t.access,
        json!({"name": "short.bin", "size": 10}),
        &pattern(10, 15),
    )
    .await;
}

#[tokio::test]
async fn start_complete_and_abort_are_safe_to_retry() {
    let app = spawn_app().await;
    let t = app.user("heidi").await;
    let body = json!({"name": "twice.txt", "size": 5, "content_type": "text/plain"});
    let first = app.start_upload(&t.access, &body).await;
    assert_eq!(first.status(), StatusCode::CREATED);
    let first: Value = first.json().await.expect("json");
    let again = app.start_upload(&t.access, &body).await;
    assert_eq!(
        again.status(),
        StatusCode::OK,
        "a retried start answers the same upload"
    );
    let again: Value = again.json().await.expect("json");
    assert_eq!(again["upload_id"], first["upload_id"]);
    assert_eq!(
        app.usage(&t.access).await.reserved_bytes,
        5,
        "reserved once"
    );
    // A different size under the same name is a conflict, not a retry.
    let res = app
        .start_upload(
            &t.access,
            &json!({"name": "twice.txt", "size": 6, "content_type": "text/plain"}),
        )
        .await;
    assert_error(res, StatusCode::CONFLICT, "NAME_TAKEN").await;

    let id = first["upload_id"].as_str().expect("id");
    assert!(put_presigned(&again["put"], b"hello".to_vec())
        .await
        .status()
        .is_success());
    for _ in 0..2 {
        let res = complete(&app, &t.access, id).await;
        assert_eq!(res.status(), StatusCode::OK);
    }
    assert_eq!(app.usage(&t.access).await.used_bytes, 5, "committed once");
    assert_error(
        abort(&app, &t.access, id).await,
        StatusCode::CONFLICT,
        "UPLOAD_COMPLETED",
    )
    .await;

    let other = app
        .pending_upload(
            &t.access,
            json!({"name": "gone.txt", "size": 3, "content_type": "text/plain"}),
            b"abc",
        )
        .await;
    let key = app.object_key(&other.upload_id).await;
    for _ in 0..2 {
        assert_eq!(
            abort(&app, &t.access, &other.upload_id).await.status(),
            StatusCode::NO_CONTENT
        );
    }
    assert_error(
        complete(&app, &t.access, &other.upload_id).await,
        StatusCode::CONFLICT,
        "UPLOAD_ABORTED",
    )
    .await;
    assert!(app.object_gone(&key).await, "abort deletes what was sent");
    let usage = app.usage(&t.access).await;
    assert_eq!(
        (Some(usage.reserved_bytes), Some(usage.reserved_objects)),
        (Some(0), Some(0))
    );
}

#[tokio::test]
async fn start_refuses_bad_input_with_its_error_code() {
    let app = spawn_app_with(|s| {
        s.uploads.max_upload_bytes = 1000;
        s.uploads.allowed_content_types = vec!["text/*".into(), "application/pdf".into()];
    })
    .await;
    let t = app.user("ivan").await;
    let file = app.upload(&t.access, "a.txt", b"a", "text/plain").await;
    let other = app.user("ivans-neighbour").await;
    let theirs = folder(&app, &other.access, "private", None).await;
    let cases = [
        (
            json!({"name": "big.txt", "size": 1001, "content_type": "text/plain"}),
            StatusCode::PAYLOAD_TOO_LARGE,
            "UPLOAD_TOO_LARGE",
        ),
        (
            json!({"name": "x.html", "size": 1, "content_type": "image/svg+xml"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "CONTENT_TYPE_NOT_ALLOWED",
        ),
        (
            json!({"name": "x.txt", "size": 1, "content_type": "text"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "CONTENT_TYPE_NOT_ALLOWED",
        ),
        (
            json!({"name": "../x", "size": 1, "content_type": "text/plain"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "INVALID_NAME",
        ),
        (
            json!({"name": "..", "size": 1, "content_type": "text/plain"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "INVALID_NAME",
        ),
        (
            json!({"name": "a\u{1}b", "size": 1, "content_type": "text/plain"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "INVALID_NAME",
        ),
        (
            json!({"name": "x", "size": -1, "content_type": "text/plain"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "INVALID_BODY",
        ),
        (
            json!({"name": "x", "size": 1, "content_type": "text/plain", "parent_id": uuid::Uuid::new_v4()}),
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
        ),
        (
            json!({"name": "x", "size": 1, "content_type": "text/plain", "parent_id": theirs}),
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
        ),
        (
            json!({"name": "x", "size": 1, "content_type": "text/plain", "parent_id": file}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "NOT_A_FOLDER",
        ),
    ];
    for (body, status, code) in cases {
        assert_error(app.start_upload(&t.access, &body).await, status, code).await;
    }
    for access in [&t.access, &other.access] {
        let usage = app.usage(access).await;
        assert_eq!(
            (Some(usage.reserved_bytes), Some(usage.reserved_objects)),
            (Some(0), Some(0)),
            "nothing leaked"
        );
    }
}

#[tokio::test]
async fn over_quota_starts_are_refused() {
    let app = spawn_app_with(|s| {
        s.default_quota_bytes = 100;
        s.default_quota_objects = 2;
    })
    .await;
    let t = app.user("judy").await;
    let res = app
        .start_upload(&t.access, &json!({"name": "a", "size": 101}))
        .await;
    assert_error(res, StatusCode::PAYLOAD_TOO_LARGE, "QUOTA_EXCEEDED").await;
    app.pending_upload(
        &t.access,
        json!({"name": "a", "size": 60}),
        &pattern(60, 16),
    )
    .await;
    let res = app
        .start_upload(&t.access, &json!({"name": "b", "size": 41}))
        .await;
    assert_error(res, StatusCode::PAYLOAD_TOO_LARGE, "QUOTA_EXCEEDED").await;
    app.pending_upload(&t.access, json!({"name": "b", "size": 1}), b"b")
        .await;
    let res = app
        .start_upload(&t.access, &json!({"name": "c", "size": 1}))
        .await;
    assert_error(res, StatusCode::PAYLOAD_TOO_LARGE, "QUOTA_EXCEEDED").await;
}

#[tokio::test]
async fn a_thousand_concurrent_starts_at_99_percent_never_pass_the_quota() {
    let app = spawn_app_with(|s| {
        s.default_quota_bytes = 1_000_000;
        s.db_max_connections = 8;
    })
    .await;
    let t = app.user("ken").await;
    app.upload(
        &t.access,
        "base.bin",
        &pattern(990_000, 7),
        "application/octet-stream",
    )
    .await;

    let starts = (0..1000).map(|i| {
        let body = json!({"name": format!("f{i}"), "size": 1000, "content_type": "application/octet-stream"});
        let app = &app;
        let access = t.access.clone();
        async move { app.start_upload(&access, &body).await }
    });
    let mut accepted = Vec::new();
    let mut refused = 0;
    for res in futures::future::join_all(starts).await {
        match res.status() {
            StatusCode::CREATED => accepted.push(res.json::<Value>().await.expect("json")),
            StatusCode::PAYLOAD_TOO_LARGE => {
                assert_error(res, StatusCode::PAYLOAD_TOO_LARGE, "QUOTA_EXCEEDED").await;
                refused += 1;
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(
        accepted.len(),
        10,
        "exactly the 10,000 free bytes were reserved"
    );
    assert_eq!(refused, 990);
    let usage = app.usage(&t.access).await;
    assert_eq!(usage.reserved_bytes, 10_000);
    assert!(usage.used_bytes + usage.reserved_bytes <= 1_000_000);

    for started in &accepted {
        assert!(put_presigned(&started["put"], pattern(1000, 8))
            .await
            .status()
            .is_success());
        let res = complete(&app, &t.access, started["upload_id"].as_str().expect("id")).await;
        assert_eq!(res.status(), StatusCode::OK);
    }
    let usage = app.usage(&t.access).await;
    assert_eq!(
        (Some(usage.used_bytes), Some(usage.reserved_bytes)),
        (Some(1_000_000), Some(0))
    );
    let drift = coffer::quotas::service::check_usage(&app.app_state.db)
        .await
        .expect("check");
    assert!(drift.is_empty(), "{drift:?}");
}
