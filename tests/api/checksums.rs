//! Declared SHA-256 checksums: signed into the presigned PUT so that the store itself
//! refuses other bytes, then kept in the file's metadata.

use base64::Engine as _;
use reqwest::StatusCode;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::helpers::{assert_error, pattern, put_presigned, raw_client, spawn_app, TestApp};

fn sha256_b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(Sha256::digest(bytes))
}

async fn start(app: &TestApp, access: &str, body: Value) -> reqwest::Response {
    app.start_upload(access, &body).await
}

async fn complete(app: &TestApp, access: &str, upload_id: &str) -> reqwest::Response {
    app.post_auth(
        &format!("/api/v1/uploads/{upload_id}/complete"),
        access,
        &json!({}),
    )
    .await
}

#[tokio::test]
async fn the_store_refuses_bytes_that_do_not_match_the_declared_checksum() {
    let app = spawn_app().await;
    let t = app.user("carl").await;
    let bytes = pattern(300_000, 3);
    let sha = sha256_b64(&bytes);
    let res = start(
        &app,
        &t.access,
        json!({"name": "energy.h5", "size": bytes.len(), "content_type": "application/x-hdf5", "checksum_sha256": sha}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let started: Value = res.json().await.expect("json");
    assert_eq!(started["put"]["headers"]["x-amz-checksum-sha256"], sha);
    assert_eq!(started["file"]["checksum_sha256"], sha);
    let upload_id = started["upload_id"].as_str().expect("id").to_owned();

    // Same length, one byte changed: the store refuses it.
    let mut corrupted = bytes.clone();
    corrupted[150_000] ^= 0xff;
    let res = put_presigned(&started["put"], corrupted).await;
    assert!(
        res.status().is_client_error(),
        "a corrupted body was stored: {}",
        res.status()
    );
    // Without the checksum header the signature fails.
    let res = raw_client()
        .put(started["put"]["url"].as_str().expect("url"))
        .header("content-type", "application/x-hdf5")
        .body(bytes.clone())
        .send()
        .await
        .expect("PUT");
    assert!(res.status().is_client_error(), "{}", res.status());
    let res = complete(&app, &t.access, &upload_id).await;
    assert_error(res, StatusCode::CONFLICT, "UPLOAD_INCOMPLETE").await;

    // The right bytes: stored, completed, the checksum kept and shown.
    assert!(put_presigned(&started["put"], bytes.clone())
        .await
        .status()
        .is_success());
    let res = complete(&app, &t.access, &upload_id).await;
    assert_eq!(res.status(), StatusCode::OK);
    let file: Value = res.json().await.expect("json");
    assert_eq!(file["checksum_sha256"], sha);
    let id = file["id"].as_str().expect("id").to_owned();
    let listed: Value = app
        .get_auth("/api/v1/folders/root/items", &t.access)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(listed["items"][0]["checksum_sha256"], sha);
    let res = app.download(&t.access, &id).await;
    let got = res.bytes().await.expect("body").to_vec();
    assert_eq!(sha256_b64(&got), sha);
    assert_eq!(got, bytes);

    // A copy holds the same bytes, so the same checksum.
    let res = app
        .post_auth(
            &format!("/api/v1/files/{id}/copy"),
            &t.access,
            &json!({"name": "energy-copy.h5"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let copy: Value = res.json().await.expect("json");
    assert_eq!(copy["checksum_sha256"], sha);
    let usage = app.usage(&t.access).await;
    assert_eq!(
        (usage.used_bytes, usage.reserved_bytes),
        (2 * bytes.len() as i64, 0)
    );
}

#[tokio::test]
async fn checksums_are_validated_and_part_of_an_identical_retry() {
    let app = spawn_app().await;
    let t = app.user("lenny").await;
    let short = base64::engine::general_purpose::STANDARD.encode([7u8; 31]);
    for bad in [
        "abc",
        short.as_str(),
        "not base64 at all, but 44 characters long!!",
    ] {
        let res = start(
            &app,
            &t.access,
            json!({"name": "x.bin", "size": 3, "checksum_sha256": bad}),
        )
        .await;
        assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "INVALID_CHECKSUM").await;
    }
    // Multipart uploads do not take one (yet): said so, nothing reserved.
    let res = start(
        &app,
        &t.access,
        json!({"name": "big.bin", "size": 100 * 1024 * 1024, "checksum_sha256": sha256_b64(b"x")}),
    )
    .await;
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "INVALID_CHECKSUM").await;
    assert_eq!(app.usage(&t.access).await.reserved_objects, 0);

    let bytes = b"abc".to_vec();
    let body = json!({"name": "abc.txt", "size": 3, "content_type": "text/plain", "checksum_sha256": sha256_b64(&bytes)});
    let first: Value = start(&app, &t.access, body.clone())
        .await
        .json()
        .await
        .expect("json");
    let res = start(&app, &t.access, body).await;
    assert_eq!(res.status(), StatusCode::OK, "an identical retry");
    let again: Value = res.json().await.expect("json");
    assert_eq!(again["upload_id"], first["upload_id"]);
    let other = json!({"name": "abc.txt", "size": 3, "content_type": "text/plain", "checksum_sha256": sha256_b64(b"abd")});
    let res = start(&app, &t.access, other).await;
    assert_error(res, StatusCode::CONFLICT, "NAME_TAKEN").await;
    assert!(put_presigned(&again["put"], bytes)
        .await
        .status()
        .is_success());
    let res = complete(&app, &t.access, first["upload_id"].as_str().expect("id")).await;
    assert_eq!(res.status(), StatusCode::OK);

    // Without a checksum nothing is pinned, and the metadata says none.
    let plain = app.started(&t.access, "plain.txt", 5, "text/plain").await;
    assert!(plain.body["put"]["headers"]
        .get("x-amz-checksum-sha256")
        .is_none());
    assert!(plain.body["file"]["checksum_sha256"].is_null());
    assert!(put_presigned(&plain.body["put"], b"plain".to_vec())
        .await
        .status()
        .is_success());
    let res = complete(&app, &t.access, &plain.upload_id).await;
    assert_eq!(res.status(), StatusCode::OK);
}

fn md5_b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(<md5::Md5 as md5::Digest>::digest(bytes))
}

#[tokio::test]
async fn the_store_refuses_a_part_that_does_not_match_its_md5() {
    const MIB: usize = 1024 * 1024;
    let app =
        crate::helpers::spawn_app_with(|s| s.uploads.multipart_threshold = 5 * MIB as u64).await;
    let t = app.user("moe").await;
    let bytes = pattern(11 * MIB, 9);
    let res = start(
        &app,
        &t.access,
        json!({"name": "profile.h5", "size": bytes.len()}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let started: Value = res.json().await.expect("json");
    let upload_id = started["upload_id"].as_str().expect("id").to_owned();
    let part_size = started["part_size"].as_u64().expect("multipart") as usize;
    let parts: Vec<&[u8]> = bytes.chunks(part_size).collect();
    let numbers: Vec<usize> = (1..=parts.len()).collect();
    let parts_path = format!("/api/v1/uploads/{upload_id}/parts");

    for bad in [
        json!({"part_numbers": numbers, "content_md5": [md5_b64(parts[0])]}),
        json!({"part_numbers": [1], "content_md5": ["not an md5"]}),
    ] {
        let res = app.post_auth(&parts_path, &t.access, &bad).await;
        assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "INVALID_CHECKSUM").await;
    }
    let md5s: Vec<String> = parts.iter().map(|p| md5_b64(p)).collect();
    let res = app
        .post_auth(
            &parts_path,
            &t.access,
            &json!({"part_numbers": numbers, "content_md5": md5s}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let urls: Value = res.json().await.expect("json");
    let urls = urls["parts"].as_array().expect("parts").clone();
    assert_eq!(urls[0]["headers"]["Content-MD5"], md5s[0]);

    // Part 1 corrupted (same length): refused, and the store holds nothing for it.
    let mut corrupted = parts[0].to_vec();
    corrupted[1234] ^= 0x55;
    let res = put_presigned(&urls[0], corrupted).await;
    assert!(
        res.status().is_client_error(),
        "a corrupted part was stored: {}",
        res.status()
    );
    for (url, part) in urls.iter().zip(&parts).skip(1) {
        assert!(put_presigned(url, part.to_vec())
            .await
            .status()
            .is_success());
    }
    let status: Value = app
        .get_auth(&format!("/api/v1/uploads/{upload_id}"), &t.access)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(status["missing_parts"], json!([1]));
    let res = complete(&app, &t.access, &upload_id).await;
    assert_error(res, StatusCode::CONFLICT, "UPLOAD_INCOMPLETE").await;

    // Sent again as it should be: complete, and the bytes come back whole.
    assert!(put_presigned(&urls[0], parts[0].to_vec())
        .await
        .status()
        .is_success());
    // The whole file's SHA-256 comes at complete (the client hashes while it reads the
    // parts); it must be a SHA-256, and it is kept as declared.
    let complete_path = format!("/api/v1/uploads/{upload_id}/complete");
    for bad in [
        json!({"checksum_sha256": "short"}),
        json!({"checksum": "x"}),
    ] {
        let res = app.post_auth(&complete_path, &t.access, &bad).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    }
    let sha = sha256_b64(&bytes);
    let res = app
        .post_auth(&complete_path, &t.access, &json!({"checksum_sha256": sha}))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let file: Value = res.json().await.expect("json");
    assert_eq!(file["checksum_sha256"], sha);
    let res = app
        .download(&t.access, file["id"].as_str().expect("id"))
        .await;
    assert_eq!(res.bytes().await.expect("body").to_vec(), bytes);

    // A client learns the threshold before it plans; single uploads declare at start.
    let limits: Value = app
        .get_auth("/api/v1/uploads/limits", &t.access)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(limits["multipart_threshold_bytes"], 5 * MIB);
    assert_eq!(limits["max_batch"], 1000);
    let small = b"small".to_vec();
    let res = start(
        &app,
        &t.access,
        json!({"name": "s.txt", "size": small.len()}),
    )
    .await;
    let started: Value = res.json().await.expect("json");
    assert!(put_presigned(&started["put"], small.clone())
        .await
        .status()
        .is_success());
    let res = app
        .post_auth(
            &format!(
                "/api/v1/uploads/{}/complete",
                started["upload_id"].as_str().expect("id")
            ),
            &t.access,
            &json!({"checksum_sha256": sha256_b64(&small)}),
        )
        .await;
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "INVALID_CHECKSUM").await;
}
