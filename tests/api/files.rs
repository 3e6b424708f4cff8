//! Folders, listing, rename/move, copy, delete, download, and the cross-user 404 matrix.

use reqwest::{Method, StatusCode};
use sea_orm::EntityTrait;
use serde_json::{json, Value};

use crate::helpers::{assert_error, pattern, raw_client, spawn_app, spawn_app_with, TestApp};

async fn folder(app: &TestApp, access: &str, name: &str, parent: Option<&str>) -> String {
    let res = app
        .post_auth(
            "/api/v1/folders",
            access,
            &json!({"name": name, "parent_id": parent}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED, "folder {name}");
    res.json::<Value>().await.expect("json")["id"]
        .as_str()
        .expect("id")
        .to_owned()
}

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

async fn names(app: &TestApp, access: &str, folder: &str, limit: usize) -> Vec<String> {
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!("/api/v1/folders/{folder}/items?limit={limit}");
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let res = app.get_auth(&path, access).await;
        assert_eq!(res.status(), StatusCode::OK);
        let page: Value = res.json().await.expect("json");
        let items = page["items"].as_array().expect("items");
        assert!(items.len() <= limit);
        seen.extend(
            items
                .iter()
                .map(|i| i["name"].as_str().expect("name").to_owned()),
        );
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    seen
}

#[tokio::test]
async fn listing_pages_through_folders_first_then_files_by_name() {
    let app = spawn_app().await;
    let t = app.user("alice").await;
    let docs = folder(&app, &t.access, "docs", None).await;
    folder(&app, &t.access, "archive", None).await;
    for name in ["b.txt", "a.txt", "c.txt"] {
        app.upload(&t.access, name, b"x", "text/plain").await;
    }
    app.pending_upload(
        &t.access,
        json!({"name": "pending.txt", "size": 3, "content_type": "text/plain"}),
        b"abc",
    )
    .await;
    let expected = ["archive", "docs", "a.txt", "b.txt", "c.txt", "pending.txt"];
    for limit in [1, 2, 4, 100] {
        assert_eq!(
            names(&app, &t.access, "root", limit).await,
            expected,
            "limit {limit}"
        );
    }
    assert!(names(&app, &t.access, &docs, 10).await.is_empty());
    folder(&app, &t.access, "inner", Some(&docs)).await;
    assert_eq!(names(&app, &t.access, &docs, 10).await, ["inner"]);

    for bad in ["limit=0", "limit=1001", "cursor=garbage"] {
        let res = app
            .get_auth(&format!("/api/v1/folders/root/items?{bad}"), &t.access)
            .await;
        assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "INVALID_REQUEST").await;
    }
    let res = app
        .get_auth("/api/v1/folders/root/items?limit=lots", &t.access)
        .await;
    assert_error(res, StatusCode::BAD_REQUEST, "INVALID_QUERY").await;
    let res = app
        .get_auth("/api/v1/folders/not-a-uuid/items", &t.access)
        .await;
    assert_error(res, StatusCode::BAD_REQUEST, "INVALID_PATH").await;
    let res = app.get_auth("/api/v1/files/not-a-uuid", &t.access).await;
    assert_error(res, StatusCode::BAD_REQUEST, "INVALID_PATH").await;
}

#[tokio::test]
async fn names_are_validated_and_unique_per_folder() {
    let app = spawn_app().await;
    let t = app.user("bob").await;
    for bad in ["", ".", "..", "a/b", "a\\b", "tab\there"] {
        let res = app
            .post_auth("/api/v1/folders", &t.access, &json!({"name": bad}))
            .await;
        assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "INVALID_NAME").await;
    }
    folder(&app, &t.access, "same", None).await;
    let res = app
        .post_auth("/api/v1/folders", &t.access, &json!({"name": "same"}))
        .await;
    assert_error(res, StatusCode::CONFLICT, "NAME_TAKEN").await;
    let res = app
        .start_upload(&t.access, &json!({"name": "same", "size": 1}))
        .await;
    assert_error(res, StatusCode::CONFLICT, "NAME_TAKEN").await;
    assert_eq!(
        app.usage(&t.access).await.reserved_bytes,
        0,
        "a refused start reserves nothing"
    );
    let file = app.upload(&t.access, "f.txt", b"x", "text/plain").await;
    let res = app
        .post_auth(
            "/api/v1/folders",
            &t.access,
            &json!({"name": "sub", "parent_id": file}),
        )
        .await;
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "NOT_A_FOLDER").await;
}

#[tokio::test]
async fn rename_and_move_are_metadata_only_and_refuse_cycles() {
    let app = spawn_app().await;
    let t = app.user("carol").await;
    let a = folder(&app, &t.access, "a", None).await;
    let b = folder(&app, &t.access, "b", Some(&a)).await;
    let bytes = pattern(1000, 9);
    let file = app
        .upload(&t.access, "data.bin", &bytes, "application/octet-stream")
        .await;

    let res = send(
        &app,
        Method::PATCH,
        &format!("/api/v1/files/{file}"),
        &t.access,
        Some(json!({"name": "renamed.bin", "parent_id": b})),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let moved: Value = res.json().await.expect("json");
    assert_eq!(
        (moved["name"].as_str(), moved["parent_id"].as_str()),
        (Some("renamed.bin"), Some(b.as_str()))
    );
    assert_eq!(names(&app, &t.access, &b, 10).await, ["renamed.bin"]);
    assert_eq!(
        app.download(&t.access, &file)
            .await
            .bytes()
            .await
            .expect("body")
            .to_vec(),
        bytes,
        "same object"
    );

    for target in [&a, &b] {
        let res = send(
            &app,
            Method::PATCH,
            &format!("/api/v1/files/{a}"),
            &t.access,
            Some(json!({"parent_id": target})),
        )
        .await;
        assert_error(res, StatusCode::CONFLICT, "FOLDER_CYCLE").await;
    }
    let res = send(
        &app,
        Method::PATCH,
        &format!("/api/v1/files/{file}"),
        &t.access,
        Some(json!({"parent_id": null})),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.json::<Value>().await.expect("json")["parent_id"],
        Value::Null
    );
    let res = send(
        &app,
        Method::PATCH,
        &format!("/api/v1/files/{file}"),
        &t.access,
        Some(json!({"name": "a"})),
    )
    .await;
    assert_error(res, StatusCode::CONFLICT, "NAME_TAKEN").await;
    let res = send(
        &app,
        Method::PATCH,
        &format!("/api/v1/files/{b}"),
        &t.access,
        Some(json!({"parent_id": file})),
    )
    .await;
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "NOT_A_FOLDER").await;
    let res = send(
        &app,
        Method::PATCH,
        &format!("/api/v1/files/{file}"),
        &t.access,
        Some(json!({"owner_id": "x"})),
    )
    .await;
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "INVALID_BODY").await;
}

#[tokio::test]
async fn copy_is_server_side_and_counts_against_quota() {
    let app = spawn_app_with(|s| s.default_quota_bytes = 2500).await;
    let t = app.user("dave").await;
    let bytes = pattern(1000, 10);
    let file = app
        .upload(&t.access, "orig.bin", &bytes, "application/octet-stream")
        .await;
    let res = send(
        &app,
        Method::POST,
        &format!("/api/v1/files/{file}/copy"),
        &t.access,
        None,
    )
    .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let copy: Value = res.json().await.expect("json");
    assert_eq!(copy["name"], "Copy of orig.bin");
    let copy_id = copy["id"].as_str().expect("id");
    assert_ne!(copy_id, file);
    assert_eq!(
        app.download(&t.access, copy_id)
            .await
            .bytes()
            .await
            .expect("body")
            .to_vec(),
        bytes
    );
    let usage = app.usage(&t.access).await;
    assert_eq!(
        (Some(usage.used_bytes), Some(usage.used_objects)),
        (Some(2000), Some(2))
    );

    let res = send(
        &app,
        Method::POST,
        &format!("/api/v1/files/{file}/copy"),
        &t.access,
        Some(json!({"name": "third.bin"})),
    )
    .await;
    assert_error(res, StatusCode::PAYLOAD_TOO_LARGE, "QUOTA_EXCEEDED").await;
    assert_eq!(
        app.usage(&t.access).await.used_bytes,
        2000,
        "a refused copy changes nothing"
    );
    let dir = folder(&app, &t.access, "dir", None).await;
    let res = send(
        &app,
        Method::POST,
        &format!("/api/v1/files/{dir}/copy"),
        &t.access,
        None,
    )
    .await;
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "NOT_A_FILE").await;
}

#[tokio::test]
async fn delete_frees_usage_and_removes_objects_recursively() {
    let app = spawn_app().await;
    let t = app.user("erin").await;
    let top = folder(&app, &t.access, "top", None).await;
    let inner = folder(&app, &t.access, "inner", Some(&top)).await;
    for (name, parent) in [("one.bin", &top), ("two.bin", &inner)] {
        let started = app
            .start_upload(
                &t.access,
                &json!({"name": name, "size": 100, "parent_id": parent}),
            )
            .await
            .json::<Value>()
            .await
            .expect("json");
        assert!(
            crate::helpers::put_presigned(&started["put"], pattern(100, 11))
                .await
                .status()
                .is_success()
        );
        let id = started["upload_id"].as_str().expect("id");
        let res = app
            .post_auth(
                &format!("/api/v1/uploads/{id}/complete"),
                &t.access,
                &json!({}),
            )
            .await;
        assert_eq!(res.status(), StatusCode::OK);
    }
    // A pending upload inside is aborted with its folder.
    app.pending_upload(
        &t.access,
        json!({"name": "pending.bin", "size": 50, "parent_id": inner}),
        &pattern(50, 17),
    )
    .await;
    let single = app
        .upload(
            &t.access,
            "single.bin",
            &pattern(10, 12),
            "application/octet-stream",
        )
        .await;
    assert_eq!(app.usage(&t.access).await.used_bytes, 210);
    let keys: Vec<String> = coffer::entity::files::Entity::find()
        .all(&app.app_state.db)
        .await
        .expect("files")
        .into_iter()
        .filter_map(|f| f.object_key)
        .collect();
    assert_eq!(keys.len(), 4, "three stored objects and one pending");

    let res = send(
        &app,
        Method::DELETE,
        &format!("/api/v1/files/{single}"),
        &t.access,
        None,
    )
    .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let res = send(
        &app,
        Method::DELETE,
        &format!("/api/v1/files/{top}"),
        &t.access,
        None,
    )
    .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.run_tasks().await, 2, "the deletes enqueued purges");
    let usage = app.usage(&t.access).await;
    for (field, v) in [
        ("used_bytes", usage.used_bytes),
        ("used_objects", usage.used_objects),
        ("reserved_bytes", usage.reserved_bytes),
        ("reserved_objects", usage.reserved_objects),
    ] {
        assert_eq!(v, 0, "{field}");
    }
    assert!(names(&app, &t.access, "root", 10).await.is_empty());
    for id in [&top, &inner, &single] {
        assert_error(
            app.get_auth(&format!("/api/v1/files/{id}"), &t.access)
                .await,
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
        )
        .await;
    }
    for key in &keys {
        assert!(app.object_gone(key).await, "object left behind");
    }
    let drift = coffer::quotas::service::check_usage(&app.app_state.db)
        .await
        .expect("check");
    assert!(drift.is_empty(), "{drift:?}");
}

/// A row another replica changed is seen within the cache TTL even while this replica
/// serves the file without pause: a hit must not make the cached row live longer.
#[tokio::test]
async fn a_hot_cached_file_row_still_expires() {
    let app = spawn_app_with(|s| s.cache_ttl = std::time::Duration::from_millis(300)).await;
    let t = app.user("hector").await;
    let file = app
        .upload(&t.access, "before.txt", b"data", "text/plain")
        .await;
    let url = |body: &Value| body["url"].as_str().expect("url").to_owned();
    let path = format!("/api/v1/files/{file}/download");
    let res = app.get_auth(&path, &t.access).await;
    assert!(url(&res.json().await.expect("json")).contains("before.txt"));
    // As another replica would: the row changes, this replica's cache is not told.
    let id: uuid::Uuid = file.parse().expect("uuid");
    let mut row: coffer::entity::files::ActiveModel = coffer::entity::files::Entity::find_by_id(id)
        .one(&app.app_state.db)
        .await
        .expect("query")
        .expect("row")
        .into();
    row.name = sea_orm::Set("after.txt".into());
    sea_orm::ActiveModelTrait::update(row, &app.app_state.db)
        .await
        .expect("update");
    let started = std::time::Instant::now();
    loop {
        let res = app.get_auth(&path, &t.access).await;
        assert_eq!(res.status(), StatusCode::OK);
        if url(&res.json().await.expect("json")).contains("after.txt") {
            break;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(3),
            "the renamed row was not seen 3 s after a 300 ms TTL"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn downloads_force_attachment_and_harmless_types() {
    let app = spawn_app().await;
    let t = app.user("frank").await;
    let html = b"<script>alert(1)</script>".to_vec();
    let file = app
        .upload(&t.access, "évil page.html", &html, "text/html")
        .await;
    let res = app.download(&t.access, &file).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-type"], "application/octet-stream");
    let disposition = res.headers()["content-disposition"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert_eq!(
        disposition,
        "attachment; filename=\"_vil page.html\"; filename*=UTF-8''%C3%A9vil%20page.html"
    );
    assert_eq!(res.bytes().await.expect("body").to_vec(), html);

    let res = app
        .get_auth(
            &format!("/api/v1/files/{file}/download?redirect=true"),
            &t.access,
        )
        .await;
    assert_eq!(res.status(), StatusCode::FOUND);
    let location = res.headers()["location"]
        .to_str()
        .expect("ascii")
        .to_owned();
    let res = raw_client().get(&location).send().await.expect("follow");
    assert_eq!(res.bytes().await.expect("body").to_vec(), html);

    let pending = app
        .pending_upload(
            &t.access,
            json!({"name": "later.txt", "size": 4, "content_type": "text/plain"}),
            b"soon",
        )
        .await;
    let res = app
        .get_auth(
            &format!("/api/v1/files/{}/download", pending.file_id),
            &t.access,
        )
        .await;
    assert_error(res, StatusCode::CONFLICT, "FILE_NOT_READY").await;
    let res = app.get_auth("/api/v1/me/usage", &t.access).await;
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test]
async fn another_users_ids_answer_404_on_every_endpoint() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let dir = folder(&app, &alice.access, "private", None).await;
    let file = app
        .upload(
            &alice.access,
            "secret.bin",
            &pattern(64, 13),
            "application/octet-stream",
        )
        .await;
    let upload = app
        .pending_upload(
            &alice.access,
            json!({"name": "open.bin", "size": 10}),
            &pattern(10, 18),
        )
        .await
        .upload_id;

    let cases: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, format!("/api/v1/files/{file}"), None),
        (Method::GET, format!("/api/v1/files/{dir}"), None),
        (
            Method::PATCH,
            format!("/api/v1/files/{file}"),
            Some(json!({"name": "mine"})),
        ),
        (
            Method::PATCH,
            format!("/api/v1/files/{dir}"),
            Some(json!({"name": "mine"})),
        ),
        (Method::POST, format!("/api/v1/files/{file}/copy"), None),
        (Method::GET, format!("/api/v1/files/{file}/download"), None),
        (
            Method::GET,
            format!("/api/v1/files/{file}/download?redirect=true"),
            None,
        ),
        (Method::DELETE, format!("/api/v1/files/{file}"), None),
        (Method::DELETE, format!("/api/v1/files/{dir}"), None),
        (Method::GET, format!("/api/v1/folders/{dir}/items"), None),
        (
            Method::POST,
            "/api/v1/folders".into(),
            Some(json!({"name": "x", "parent_id": dir})),
        ),
        (
            Method::POST,
            "/api/v1/uploads".into(),
            Some(json!({"name": "x", "size": 1, "parent_id": dir})),
        ),
        (Method::GET, format!("/api/v1/uploads/{upload}"), None),
        (
            Method::POST,
            format!("/api/v1/uploads/{upload}/parts"),
            Some(json!({"part_numbers": [1]})),
        ),
        (
            Method::POST,
            format!("/api/v1/uploads/{upload}/complete"),
            None,
        ),
        (
            Method::POST,
            format!("/api/v1/uploads/{upload}/abort"),
            None,
        ),
    ];
    let bob_folder = folder(&app, &bob.access, "bobs", None).await;
    let mut cases = cases;
    cases.push((
        Method::PATCH,
        format!("/api/v1/files/{bob_folder}"),
        Some(json!({"parent_id": dir})),
    ));
    let unknown = uuid::Uuid::new_v4();
    let missing = send(
        &app,
        Method::GET,
        &format!("/api/v1/files/{unknown}"),
        &bob.access,
        None,
    )
    .await;
    let missing = assert_error(missing, StatusCode::NOT_FOUND, "NOT_FOUND").await;
    for (method, path, body) in cases {
        let res = send(&app, method.clone(), &path, &bob.access, body).await;
        let got = assert_error(res, StatusCode::NOT_FOUND, "NOT_FOUND").await;
        assert_eq!(got, missing, "{method} {path} must look like a missing id");
    }
    // Alice's things are untouched.
    assert_eq!(
        app.download(&alice.access, &file)
            .await
            .bytes()
            .await
            .expect("body")
            .to_vec(),
        pattern(64, 13)
    );
    let status: Value = app
        .get_auth(&format!("/api/v1/uploads/{upload}"), &alice.access)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(status["state"], "open");
    assert_eq!(
        names(&app, &alice.access, "root", 10).await,
        ["private", "open.bin", "secret.bin"]
    );
}
