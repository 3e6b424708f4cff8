//! API tokens confined to a folder (every files, uploads, shares and archives endpoint
//! answers 404 outside it, and its root is the folder) and API tokens with a byte
//! budget (exhausted like a quota, exact under concurrent starts, refunded on abort).

use chrono::{Duration, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::admin::send;
use crate::helpers::{
    assert_error, folder, pattern, put_presigned, raw_client, read_zip, spawn_app, spawn_app_with,
    upload_into, TestApp,
};

const MIB: usize = 1024 * 1024;

/// Creates a token for the session `access` with `extra` fields (folder, budget).
async fn token(app: &TestApp, access: &str, scopes: &[&str], extra: Value) -> (String, Value) {
    let mut body = json!({
        "name": "job",
        "scopes": scopes,
        "expires_at": (Utc::now() + Duration::days(7)).to_rfc3339(),
    });
    for (k, v) in extra.as_object().expect("object") {
        body[k] = v.clone();
    }
    let res = app.post_auth("/api/v1/tokens", access, &body).await;
    assert_eq!(res.status(), StatusCode::CREATED, "create token {body}");
    let created: Value = res.json().await.expect("json");
    (
        created["token"].as_str().expect("secret").to_owned(),
        created,
    )
}

const ALL: &[&str] = &["files:read", "files:write", "shares:write"];

async fn json_of(res: reqwest::Response, status: StatusCode, what: &str) -> Value {
    assert_eq!(res.status(), status, "{what}");
    res.json().await.expect("json")
}

/// Starts a single-part upload with `body`, PUTs `bytes` and completes it; the file.
async fn put_file(app: &TestApp, access: &str, body: Value, bytes: &[u8]) -> Value {
    let started = json_of(
        app.start_upload(access, &body).await,
        StatusCode::CREATED,
        "start",
    )
    .await;
    let res = put_presigned(&started["put"], bytes.to_vec()).await;
    assert!(res.status().is_success(), "PUT: {}", res.status());
    let id = started["upload_id"].as_str().expect("id");
    let path = format!("/api/v1/uploads/{id}/complete");
    json_of(
        app.post_auth(&path, access, &json!({})).await,
        StatusCode::OK,
        "complete",
    )
    .await
}

async fn downloaded(app: &TestApp, access: &str, id: &str) -> Vec<u8> {
    let res = app.download(access, id).await;
    assert_eq!(res.status(), StatusCode::OK);
    res.bytes().await.expect("bytes").to_vec()
}

#[tokio::test]
async fn a_confined_token_works_inside_its_folder_and_finds_nothing_outside() {
    let app = spawn_app_with(|s| s.uploads.multipart_threshold = 5 * MIB as u64).await;
    let alice = app.user("alice").await;
    let s = alice.access.as_str();
    let jobs = folder(&app, s, "jobs", None).await;
    let run1 = folder(&app, s, "run1", Some(&jobs)).await;
    let private = folder(&app, s, "private", None).await;
    let inside = upload_into(&app, s, "a.txt", &jobs, b"inside bytes").await;
    let secret = upload_into(&app, s, "secret.txt", &private, b"secret bytes").await;
    let top = app.upload(s, "top.txt", b"top bytes", "text/plain").await;
    // Something shared with Alice, and an upload and an archive of her session outside.
    let bob = app.user("bob").await;
    let bobs = folder(&app, &bob.access, "bobs", None).await;
    let res = app
        .post_auth(
            &format!("/api/v1/files/{bobs}/shares"),
            &bob.access,
            &json!({"username": "alice", "permission": "read"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let open_outside = app
        .started(s, "open.bin", 5, "application/octet-stream")
        .await;
    let task_outside = json_of(
        app.post_auth("/api/v1/archives", s, &json!({"ids": [secret]}))
            .await,
        StatusCode::ACCEPTED,
        "session archive",
    )
    .await["task_id"]
        .as_str()
        .expect("task")
        .to_owned();

    let (t, _) = token(&app, s, ALL, json!({"folder_id": jobs})).await;
    let t = t.as_str();

    // Inside: the root is the folder, and everything works.
    let root = json_of(
        app.get_auth("/api/v1/folders/root/items", t).await,
        StatusCode::OK,
        "list root",
    )
    .await;
    let names: Vec<&str> = root["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["name"].as_str().expect("name"))
        .collect();
    assert_eq!(names, ["run1", "a.txt"], "the token's root is its folder");
    let listed = json_of(
        app.get_auth(&format!("/api/v1/folders/{jobs}/items"), t)
            .await,
        StatusCode::OK,
        "list folder",
    )
    .await;
    assert_eq!(listed["items"], root["items"]);
    for id in [&jobs, &run1, &inside] {
        let res = app.get_auth(&format!("/api/v1/files/{id}"), t).await;
        assert_eq!(res.status(), StatusCode::OK, "metadata inside");
    }
    assert_eq!(downloaded(&app, t, &inside).await, b"inside bytes");
    let made = json_of(
        app.post_auth("/api/v1/folders", t, &json!({"name": "made"}))
            .await,
        StatusCode::CREATED,
        "folder at the token's root",
    )
    .await;
    assert_eq!(made["parent_id"], jobs.as_str());
    let file = put_file(
        &app,
        t,
        json!({"name": "result.csv", "size": 6, "content_type": "text/csv"}),
        b"1,2,3\n",
    )
    .await;
    assert_eq!(
        file["parent_id"],
        jobs.as_str(),
        "uploads land in the folder"
    );
    let result = file["id"].as_str().expect("id").to_owned();
    assert_eq!(downloaded(&app, t, &result).await, b"1,2,3\n");
    // A multipart upload inside: parts, status, complete.
    let big = pattern(5 * MIB + 7, 3);
    let started = json_of(
        app.start_upload(
            t,
            &json!({"name": "big.h5", "size": big.len(), "parent_id": run1}),
        )
        .await,
        StatusCode::CREATED,
        "multipart start",
    )
    .await;
    let up = started["upload_id"].as_str().expect("id").to_owned();
    let urls = json_of(
        app.post_auth(
            &format!("/api/v1/uploads/{up}/parts"),
            t,
            &json!({"part_numbers": [1, 2]}),
        )
        .await,
        StatusCode::OK,
        "part URLs",
    )
    .await;
    for (n, chunk) in big.chunks(5 * MIB).enumerate() {
        let res = put_presigned(&urls["parts"][n], chunk.to_vec()).await;
        assert!(
            res.status().is_success(),
            "part {}: {}",
            n + 1,
            res.status()
        );
    }
    let res = app.get_auth(&format!("/api/v1/uploads/{up}"), t).await;
    assert_eq!(res.status(), StatusCode::OK, "status inside");
    let done = json_of(
        app.post_auth(&format!("/api/v1/uploads/{up}/complete"), t, &json!({}))
            .await,
        StatusCode::OK,
        "complete multipart",
    )
    .await;
    let big_id = done["id"].as_str().expect("id").to_owned();
    assert_eq!(downloaded(&app, t, &big_id).await, big);
    // Abort inside.
    let aborted = app
        .started(t, "gone.bin", 3, "application/octet-stream")
        .await;
    let path = format!("/api/v1/uploads/{}/abort", aborted.upload_id);
    let res = app.post_auth(&path, t, &json!({})).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT, "abort inside");
    // Rename, move within, move to the token's root, copy.
    let res = send(
        &app,
        Method::PATCH,
        &format!("/api/v1/files/{inside}"),
        Some(t),
        Some(json!({"name": "b.txt", "parent_id": run1})),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK, "rename and move inside");
    let moved = json_of(
        send(
            &app,
            Method::PATCH,
            &format!("/api/v1/files/{inside}"),
            Some(t),
            Some(json!({"parent_id": null})),
        )
        .await,
        StatusCode::OK,
        "move to the token's root",
    )
    .await;
    assert_eq!(moved["parent_id"], jobs.as_str());
    let copy = json_of(
        app.post_auth(
            &format!("/api/v1/files/{inside}/copy"),
            t,
            &json!({"parent_id": run1}),
        )
        .await,
        StatusCode::CREATED,
        "copy inside",
    )
    .await;
    let copy_id = copy["id"].as_str().expect("id").to_owned();
    assert_eq!(downloaded(&app, t, &copy_id).await, b"inside bytes");
    // Shares and links inside.
    let shares = format!("/api/v1/files/{run1}/shares");
    let res = app
        .post_auth(
            &shares,
            t,
            &json!({"username": "bob", "permission": "read"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED, "share inside");
    let listed = json_of(app.get_auth(&shares, t).await, StatusCode::OK, "shares").await;
    assert_eq!(listed["items"].as_array().expect("items").len(), 1);
    let res = send(
        &app,
        Method::DELETE,
        &format!("{shares}/bob"),
        Some(t),
        None,
    )
    .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT, "unshare inside");
    let links = format!("/api/v1/files/{inside}/links");
    let link = json_of(
        app.post_auth(&links, t, &json!({})).await,
        StatusCode::CREATED,
        "link inside",
    )
    .await;
    let res = app.get_auth(&links, t).await;
    assert_eq!(res.status(), StatusCode::OK, "links inside");
    let link_id = link["id"].as_str().expect("link id");
    let res = send(
        &app,
        Method::DELETE,
        &format!("{links}/{link_id}"),
        Some(t),
        None,
    )
    .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT, "revoke link inside");
    // An archive of the whole folder.
    let accepted = json_of(
        app.post_auth("/api/v1/archives", t, &json!({"ids": [jobs]}))
            .await,
        StatusCode::ACCEPTED,
        "archive inside",
    )
    .await;
    let task = accepted["task_id"].as_str().expect("task").to_owned();
    assert!(app.run_tasks().await >= 1);
    let status = json_of(
        app.get_auth(&format!("/api/v1/tasks/{task}"), t).await,
        StatusCode::OK,
        "task inside",
    )
    .await;
    let zip = raw_client()
        .get(status["download"]["url"].as_str().expect("url"))
        .send()
        .await
        .expect("GET zip")
        .bytes()
        .await
        .expect("bytes");
    let entries = read_zip(zip.to_vec());
    let mut names: Vec<&str> = entries.iter().map(|(n, _)| n.as_str()).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "jobs/b.txt",
            "jobs/result.csv",
            "jobs/run1/b.txt",
            "jobs/run1/big.h5"
        ]
    );

    // The folder itself cannot be renamed, moved or deleted through the token.
    let res = send(
        &app,
        Method::PATCH,
        &format!("/api/v1/files/{jobs}"),
        Some(t),
        Some(json!({"name": "renamed"})),
    )
    .await;
    assert_error(res, StatusCode::FORBIDDEN, "FORBIDDEN").await;
    let res = send(
        &app,
        Method::DELETE,
        &format!("/api/v1/files/{jobs}"),
        Some(t),
        None,
    )
    .await;
    assert_error(res, StatusCode::FORBIDDEN, "FORBIDDEN").await;

    // Outside: every endpoint answers 404, as for a file that does not exist.
    let up_out = &open_outside.upload_id;
    let outside: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, format!("/api/v1/files/{private}"), None),
        (Method::GET, format!("/api/v1/files/{secret}"), None),
        (Method::GET, format!("/api/v1/files/{top}"), None),
        (
            Method::GET,
            format!("/api/v1/files/{secret}/download"),
            None,
        ),
        (
            Method::GET,
            format!("/api/v1/folders/{private}/items"),
            None,
        ),
        (
            Method::PATCH,
            format!("/api/v1/files/{secret}"),
            Some(json!({"name": "x"})),
        ),
        (
            Method::PATCH,
            format!("/api/v1/files/{result}"),
            Some(json!({"parent_id": private})),
        ),
        (
            Method::POST,
            format!("/api/v1/files/{secret}/copy"),
            Some(json!({"parent_id": null})),
        ),
        (
            Method::POST,
            format!("/api/v1/files/{result}/copy"),
            Some(json!({"parent_id": private})),
        ),
        (Method::DELETE, format!("/api/v1/files/{secret}"), None),
        (Method::DELETE, format!("/api/v1/files/{top}"), None),
        (
            Method::POST,
            "/api/v1/folders".into(),
            Some(json!({"name": "x", "parent_id": private})),
        ),
        (
            Method::POST,
            "/api/v1/uploads".into(),
            Some(json!({"name": "x", "size": 1, "parent_id": private})),
        ),
        (Method::GET, format!("/api/v1/uploads/{up_out}"), None),
        (
            Method::POST,
            format!("/api/v1/uploads/{up_out}/parts"),
            Some(json!({"part_numbers": [1]})),
        ),
        (
            Method::POST,
            format!("/api/v1/uploads/{up_out}/complete"),
            Some(json!({})),
        ),
        (
            Method::POST,
            format!("/api/v1/uploads/{up_out}/abort"),
            Some(json!({})),
        ),
        (
            Method::POST,
            format!("/api/v1/files/{secret}/shares"),
            Some(json!({"username": "bob", "permission": "read"})),
        ),
        (Method::GET, format!("/api/v1/files/{secret}/shares"), None),
        (
            Method::DELETE,
            format!("/api/v1/files/{secret}/shares/bob"),
            None,
        ),
        (
            Method::POST,
            format!("/api/v1/files/{secret}/links"),
            Some(json!({})),
        ),
        (Method::GET, format!("/api/v1/files/{secret}/links"), None),
        (
            Method::DELETE,
            format!("/api/v1/files/{secret}/links/{link_id}"),
            None,
        ),
        (Method::GET, format!("/api/v1/files/{bobs}"), None),
        (
            Method::POST,
            "/api/v1/archives".into(),
            Some(json!({"ids": [secret]})),
        ),
        (
            Method::POST,
            "/api/v1/archives".into(),
            Some(json!({"ids": [result, top]})),
        ),
        (Method::GET, format!("/api/v1/tasks/{task_outside}"), None),
    ];
    for (method, path, body) in outside {
        let what = format!("{method} {path}");
        let res = send(&app, method, &path, Some(t), body).await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{what}");
        let body: Value = res.json().await.expect("error body");
        assert_eq!(body["error_code"], "NOT_FOUND", "{what}");
    }
    let shared = json_of(
        app.get_auth("/api/v1/shared-with-me", t).await,
        StatusCode::OK,
        "shared with me",
    )
    .await;
    assert_eq!(shared["items"], json!([]), "others' files are outside");
    let shared = json_of(
        app.get_auth("/api/v1/shared-with-me", s).await,
        StatusCode::OK,
        "shared with me",
    )
    .await;
    assert_eq!(shared["items"].as_array().expect("items").len(), 1);

    // Nothing outside was touched: the session still finds all of it.
    assert_eq!(downloaded(&app, s, &secret).await, b"secret bytes");
    assert_eq!(downloaded(&app, s, &top).await, b"top bytes");
    let res = app.get_auth(&format!("/api/v1/uploads/{up_out}"), s).await;
    assert_eq!(json_of(res, StatusCode::OK, "open").await["state"], "open");
    let res = app
        .get_auth(&format!("/api/v1/tasks/{task_outside}"), s)
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = app.get_auth(&format!("/api/v1/tasks/{task}"), s).await;
    assert_eq!(
        res.status(),
        StatusCode::OK,
        "the session sees the token's task"
    );
}

#[tokio::test]
async fn a_token_is_confined_only_to_a_folder_of_its_user_and_dies_with_it() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let mine = folder(&app, &alice.access, "mine", None).await;
    let bobs = folder(&app, &bob.access, "bobs", None).await;
    let file = app.upload(&alice.access, "f.txt", b"f", "text/plain").await;
    let res = app
        .post_auth(
            &format!("/api/v1/files/{bobs}/shares"),
            &bob.access,
            &json!({"username": "alice", "permission": "write"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let expires = (Utc::now() + Duration::days(1)).to_rfc3339();
    for (folder_id, what) in [
        (bobs.clone(), "another user's folder, even shared with her"),
        (file.clone(), "a file"),
        (uuid::Uuid::new_v4().to_string(), "nothing"),
    ] {
        let res = app
            .post_auth(
                "/api/v1/tokens",
                &alice.access,
                &json!({"name": "t", "scopes": ["files:read"], "expires_at": expires, "folder_id": folder_id}),
            )
            .await;
        let body = assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "INVALID_REQUEST").await;
        assert!(
            body["detail"]
                .as_str()
                .expect("message")
                .contains("folder_id"),
            "{what}: {body}"
        );
    }
    let (t, created) = token(
        &app,
        &alice.access,
        &["files:read"],
        json!({"folder_id": mine}),
    )
    .await;
    assert_eq!(created["folder_id"], mine.as_str());
    let res = app.get_auth("/api/v1/tokens", &alice.access).await;
    let listed = json_of(res, StatusCode::OK, "list").await;
    assert_eq!(listed["items"][0]["folder_id"], mine.as_str());
    assert_eq!(app.me(&t).await.status(), StatusCode::OK);
    // Deleting the folder ends the token, on this replica and on another.
    let replica = app.replica().await;
    let me = |base: String| {
        let t = t.clone();
        async move {
            raw_client()
                .get(format!("{base}/api/v1/auth/me"))
                .bearer_auth(t)
                .send()
                .await
                .expect("me")
                .status()
        }
    };
    assert_eq!(me(replica.clone()).await, StatusCode::OK);
    let res = send(
        &app,
        Method::DELETE,
        &format!("/api/v1/files/{mine}"),
        Some(&alice.access),
        None,
    )
    .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_error(app.me(&t).await, StatusCode::UNAUTHORIZED, "INVALID_TOKEN").await;
    assert_eq!(me(replica).await, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_byte_budget_refuses_uploads_beyond_it_and_aborts_give_bytes_back() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let s = alice.access.as_str();
    let (t, created) = token(
        &app,
        s,
        &["files:read", "files:write"],
        json!({"budget_bytes": 100}),
    )
    .await;
    let t = t.as_str();
    assert_eq!(created["budget_bytes"], 100);
    assert_eq!(created["budget_used"], 0);
    let start = |name: &str, size: usize| json!({"name": name, "size": size, "content_type": "application/octet-stream"});
    let first = app.pending_upload(t, start("a", 60), &pattern(60, 1)).await;
    let res = app.start_upload(t, &start("b", 50)).await;
    assert_error(res, StatusCode::PAYLOAD_TOO_LARGE, "TOKEN_BUDGET_EXCEEDED").await;
    // The session has no budget; the user's quota is not the token's budget.
    let res = app.start_upload(s, &start("b", 50)).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    // An aborted upload gives its bytes back.
    let path = format!("/api/v1/uploads/{}/abort", first.upload_id);
    let res = app.post_auth(&path, t, &json!({})).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let file = put_file(&app, t, start("c", 90), &pattern(90, 2)).await;
    let file = file["id"].as_str().expect("id").to_owned();
    assert_eq!(downloaded(&app, t, &file).await, pattern(90, 2));
    // A copy writes bytes too.
    let res = app
        .post_auth(&format!("/api/v1/files/{file}/copy"), t, &json!({}))
        .await;
    assert_error(res, StatusCode::PAYLOAD_TOO_LARGE, "TOKEN_BUDGET_EXCEEDED").await;
    // Deleting a file does not: the budget counts what the token wrote.
    let res = send(
        &app,
        Method::DELETE,
        &format!("/api/v1/files/{file}"),
        Some(t),
        None,
    )
    .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let res = app.start_upload(t, &start("d", 11)).await;
    assert_error(res, StatusCode::PAYLOAD_TOO_LARGE, "TOKEN_BUDGET_EXCEEDED").await;
    // Deleting a folder with the token's open upload inside gives that upload back.
    let dir = folder(&app, t, "dir", None).await;
    let open = app
        .start_upload(t, &json!({"name": "e", "size": 10, "parent_id": dir}))
        .await;
    assert_eq!(open.status(), StatusCode::CREATED);
    let res = send(
        &app,
        Method::DELETE,
        &format!("/api/v1/files/{dir}"),
        Some(t),
        None,
    )
    .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let listed = json_of(
        app.get_auth("/api/v1/tokens", s).await,
        StatusCode::OK,
        "list",
    )
    .await;
    assert_eq!(listed["items"][0]["budget_used"], 90);
    let usage = app.usage(s).await;
    assert_eq!(
        usage.reserved_bytes, 50,
        "only the session's upload is open"
    );
    // Budgets are checked like quotas: a negative one is refused.
    let res = app
        .post_auth(
            "/api/v1/tokens",
            s,
            &json!({"name": "t", "scopes": ["files:write"], "expires_at": (Utc::now() + Duration::days(1)).to_rfc3339(), "budget_bytes": -1}),
        )
        .await;
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "INVALID_REQUEST").await;
}

#[tokio::test]
async fn concurrent_starts_never_overspend_a_budget() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let (t, created) = token(
        &app,
        &alice.access,
        &["files:write"],
        json!({"budget_bytes": 1000}),
    )
    .await;
    let id = created["id"].as_str().expect("id").to_owned();
    let starts = (0..40).map(|i| {
        let app = &app;
        let t = t.clone();
        async move {
            app.start_upload(&t, &json!({"name": format!("f{i}"), "size": 100}))
                .await
                .status()
        }
    });
    let answers = futures::future::join_all(starts).await;
    let ok = answers
        .iter()
        .filter(|s| **s == StatusCode::CREATED)
        .count();
    let refused = answers
        .iter()
        .filter(|s| **s == StatusCode::PAYLOAD_TOO_LARGE)
        .count();
    assert_eq!((ok, refused), (10, 30), "{answers:?}");
    let listed = json_of(
        app.get_auth("/api/v1/tokens", &alice.access).await,
        StatusCode::OK,
        "list",
    )
    .await;
    let row = listed["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|i| i["id"] == id.as_str())
        .expect("token")
        .clone();
    assert_eq!(row["budget_used"], 1000);
    assert_eq!(app.usage(&alice.access).await.reserved_bytes, 1000);
}
