//! Who may do what: the permission matrix over every file and folder endpoint, uploads
//! by writers billed to the owner, and shares that follow files moved in and out.

use super::*;

/// One line of the matrix: a request and what each actor gets, in the order owner,
/// reader, writer, stranger, anonymous (a stranger's 404 and anonymous 401 are the same
/// on every line). In paths and bodies `$shared`, `$sub` and `$file` name alice's shared
/// folder, its subfolder and a file in it; `$fresh` a new file of alice's made for this
/// one request; `$tag` the actor. A 200 on a `/download` line is followed by a GET of
/// the presigned URL and the bytes compared.
type Line = (&'static str, &'static str, Option<&'static str>, [u16; 5]);

const fn row(owner: u16, reader: u16, writer: u16) -> [u16; 5] {
    [owner, reader, writer, 404, 401]
}

/// Reading: metadata, listings, downloads, archives.
const READING: &[Line] = &[
    ("GET", "/api/v1/files/$shared", None, row(200, 200, 200)),
    (
        "GET",
        "/api/v1/folders/$shared/items",
        None,
        row(200, 200, 200),
    ),
    (
        "GET",
        "/api/v1/folders/$sub/items",
        None,
        row(200, 200, 200),
    ),
    ("GET", "/api/v1/files/$file", None, row(200, 200, 200)),
    (
        "GET",
        "/api/v1/files/$file/download",
        None,
        row(200, 200, 200),
    ),
    (
        "POST",
        "/api/v1/archives",
        Some(r#"{"ids": ["$shared"]}"#),
        row(202, 202, 202),
    ),
];

/// Writing inside the shared folder: new folders, uploads, rename, move within, copy,
/// delete.
const WRITING: &[Line] = &[
    (
        "POST",
        "/api/v1/folders",
        Some(r#"{"name": "dir-$tag", "parent_id": "$shared"}"#),
        row(201, 403, 201),
    ),
    (
        "POST",
        "/api/v1/uploads",
        Some(r#"{"name": "up-$tag.bin", "size": 10, "parent_id": "$sub"}"#),
        row(201, 403, 201),
    ),
    (
        "PATCH",
        "/api/v1/files/$fresh",
        Some(r#"{"name": "renamed-$tag.txt"}"#),
        row(200, 403, 200),
    ),
    (
        "PATCH",
        "/api/v1/files/$fresh",
        Some(r#"{"parent_id": "$sub"}"#),
        row(200, 403, 200),
    ),
    (
        "POST",
        "/api/v1/files/$fresh/copy",
        Some("{}"),
        row(201, 403, 201),
    ),
    ("DELETE", "/api/v1/files/$fresh", None, row(204, 403, 204)),
];

/// The shared folder itself is the owner's, and so are its shares and links.
const OWNING: &[Line] = &[
    (
        "PATCH",
        "/api/v1/files/$shared",
        Some(r#"{"name": "shared-$tag"}"#),
        row(200, 403, 403),
    ),
    (
        "GET",
        "/api/v1/files/$shared/shares",
        None,
        row(200, 403, 403),
    ),
    (
        "GET",
        "/api/v1/files/$shared/links",
        None,
        row(200, 403, 403),
    ),
    (
        "POST",
        "/api/v1/files/$file/links",
        Some("{}"),
        row(201, 403, 403),
    ),
    (
        "POST",
        "/api/v1/files/$shared/shares",
        Some(r#"{"username": "bob", "permission": "read"}"#),
        row(200, 403, 403),
    ),
];

impl World {
    /// Runs every line for every actor and checks each answer.
    async fn check(&self, lines: &[Line], file: &str, bytes: &[u8]) {
        for (method, path, body, want) in lines {
            for (who, want) in EVERYONE.into_iter().zip(*want) {
                let tag = format!("{who:?}").to_lowercase();
                let mut fill = |t: &str| {
                    t.replace("$shared", &self.shared)
                        .replace("$sub", &self.sub)
                        .replace("$file", file)
                        .replace("$tag", &tag)
                };
                let (mut path, mut body) = (fill(path), body.map(&mut fill));
                if path.contains("$fresh") {
                    let fresh = self
                        .file(
                            &format!("t-{tag}-{}.txt", uuid::Uuid::new_v4()),
                            b"0123456789",
                        )
                        .await;
                    path = path.replace("$fresh", &fresh);
                    body = body.map(|b| b.replace("$fresh", &fresh));
                }
                let body = body.map(|b| serde_json::from_str::<Value>(&b).expect("a JSON body"));
                let method = Method::from_bytes(method.as_bytes()).expect("a method");
                let what = format!("{who:?} {method} {path}");
                let got = expect(self.call(who, method, &path, body).await, want, &what).await;
                if want == 200 && path.ends_with("/download") {
                    let res = raw_client()
                        .get(got["url"].as_str().expect("url"))
                        .send()
                        .await
                        .expect("GET");
                    assert_eq!(res.bytes().await.expect("bytes").as_ref(), bytes, "{what}");
                }
            }
        }
    }
}

#[tokio::test]
async fn the_permission_matrix_holds_for_every_file_and_folder_endpoint() {
    let w = World::new().await;
    let bytes = pattern(3000, 7);
    let file = w.file("report.txt", &bytes).await;

    w.check(READING, &file, &bytes).await;
    let listing: Value = w
        .app
        .get_auth(
            &format!("/api/v1/folders/{}/items", w.shared),
            &w.bob.access,
        )
        .await
        .json()
        .await
        .expect("json");
    let names: Vec<&str> = listing["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["name"].as_str().expect("name"))
        .collect();
    assert_eq!(names, ["sub", "report.txt"]);

    w.check(WRITING, &file, &bytes).await;
    w.check(OWNING, &file, &bytes).await;
    // Grantees cannot move things out of the owner's tree, nor delete the shared folder.
    let moving = w.file("moving.txt", b"abc").await;
    assert_error(
        w.app
            .client
            .patch(w.app.url(&format!("/api/v1/files/{moving}")))
            .bearer_auth(&w.carol.access)
            .json(&json!({"parent_id": null}))
            .send()
            .await
            .expect("request"),
        StatusCode::UNPROCESSABLE_ENTITY,
        "CROSS_OWNER_MOVE",
    )
    .await;
    assert_error(
        w.call(
            Who::Writer,
            Method::DELETE,
            &format!("/api/v1/files/{}", w.shared),
            None,
        )
        .await,
        StatusCode::FORBIDDEN,
        "FORBIDDEN",
    )
    .await;

    expect(
        w.call(
            Who::Owner,
            Method::DELETE,
            &format!("/api/v1/files/{}/shares/carol", w.shared),
            None,
        )
        .await,
        204,
        "owner unshares",
    )
    .await;
    expect(
        w.call(
            Who::Writer,
            Method::GET,
            &format!("/api/v1/files/{file}"),
            None,
        )
        .await,
        404,
        "revoked at once",
    )
    .await;
}

#[tokio::test]
async fn uploads_by_a_writer_belong_to_and_are_billed_to_the_owner() {
    let w = World::with(
        spawn_app_with(|s| {
            s.default_quota_bytes = 10_000;
        })
        .await,
    )
    .await;
    let bytes = pattern(4000, 3);
    let id = upload_into(&w.app, &w.carol.access, "from-carol.bin", &w.sub, &bytes).await;
    assert_eq!(w.app.usage(&w.alice.access).await.used_bytes, 4000);
    assert_eq!(w.app.usage(&w.carol.access).await.used_bytes, 0);
    // The owner sees and downloads it; the key lives under the owner's prefix.
    let got = w.app.download(&w.alice.access, &id).await;
    assert_eq!(got.bytes().await.expect("bytes").as_ref(), bytes.as_slice());
    // The owner's quota is the limit, whoever uploads.
    let res = w
        .app
        .start_upload(
            &w.carol.access,
            &json!({"name": "big.bin", "size": 7000, "parent_id": w.sub}),
        )
        .await;
    assert_error(res, StatusCode::PAYLOAD_TOO_LARGE, "QUOTA_EXCEEDED").await;
    // A started upload is the uploader's to finish, until the share ends.
    let started: Value = w
        .app
        .start_upload(
            &w.carol.access,
            &json!({"name": "late.bin", "size": 10, "parent_id": w.sub}),
        )
        .await
        .json()
        .await
        .expect("json");
    let upload = started["upload_id"].as_str().expect("upload id");
    expect(
        w.call(
            Who::Stranger,
            Method::GET,
            &format!("/api/v1/uploads/{upload}"),
            None,
        )
        .await,
        404,
        "stranger",
    )
    .await;
    expect(
        w.call(
            Who::Writer,
            Method::GET,
            &format!("/api/v1/uploads/{upload}"),
            None,
        )
        .await,
        200,
        "uploader",
    )
    .await;
    expect(
        w.call(
            Who::Owner,
            Method::DELETE,
            &format!("/api/v1/files/{}/shares/carol", w.shared),
            None,
        )
        .await,
        204,
        "unshare",
    )
    .await;
    expect(
        w.call(
            Who::Writer,
            Method::GET,
            &format!("/api/v1/uploads/{upload}"),
            None,
        )
        .await,
        404,
        "after the share ended",
    )
    .await;
    assert_eq!(w.app.usage(&w.alice.access).await.reserved_bytes, 10);
    let res = w
        .app
        .post_auth(
            &format!("/api/v1/uploads/{upload}/abort"),
            &w.alice.access,
            &json!({}),
        )
        .await;
    assert!(res.status().is_success(), "owner aborts: {}", res.status());
    assert_eq!(w.app.usage(&w.alice.access).await.reserved_bytes, 0);
}

#[tokio::test]
async fn a_folder_share_follows_files_moved_in_and_out() {
    let w = World::new().await;
    let bytes = pattern(1234, 9);
    let loose = w
        .app
        .upload(&w.alice.access, "loose.txt", &bytes, "text/plain")
        .await;
    let path = format!("/api/v1/files/{loose}");
    expect(
        w.call(Who::Reader, Method::GET, &path, None).await,
        404,
        "not shared yet",
    )
    .await;
    // Deep inside the shared folder, it is shared.
    expect(
        w.call(
            Who::Owner,
            Method::PATCH,
            &path,
            Some(json!({"parent_id": w.sub})),
        )
        .await,
        200,
        "move in",
    )
    .await;
    expect(
        w.call(Who::Reader, Method::GET, &path, None).await,
        200,
        "shared by ancestry",
    )
    .await;
    let got = w.app.download(&w.bob.access, &loose).await;
    assert_eq!(got.bytes().await.expect("bytes").as_ref(), bytes.as_slice());
    // Out again, it is not.
    expect(
        w.call(
            Who::Owner,
            Method::PATCH,
            &path,
            Some(json!({"parent_id": null})),
        )
        .await,
        200,
        "move out",
    )
    .await;
    expect(
        w.call(Who::Reader, Method::GET, &path, None).await,
        404,
        "unshared by moving",
    )
    .await;
    expect(
        w.call(Who::Reader, Method::GET, &format!("{path}/download"), None)
            .await,
        404,
        "no download",
    )
    .await;

    // The owner sees who has access, inherited shares included.
    let shares: Value = w
        .app
        .get_auth(&format!("/api/v1/files/{}/shares", w.sub), &w.alice.access)
        .await
        .json()
        .await
        .expect("json");
    let mut seen: Vec<(String, String, bool)> = shares["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|s| {
            (
                s["username"].as_str().expect("u").to_owned(),
                s["permission"].as_str().expect("p").to_owned(),
                s["inherited"].as_bool().expect("i"),
            )
        })
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        [
            ("bob".into(), "read".into(), true),
            ("carol".into(), "write".into(), true)
        ]
    );

    // Grantees find it under shared-with-me.
    let mine: Value = w
        .app
        .get_auth("/api/v1/shared-with-me?limit=1", &w.bob.access)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(mine["items"][0]["file"]["id"], w.shared.as_str());
    assert_eq!(mine["items"][0]["owner"], "alice");
    assert_eq!(mine["items"][0]["permission"], "read");
    assert!(mine["next_cursor"].is_null());
    let none: Value = w
        .app
        .get_auth("/api/v1/shared-with-me", &w.dave.access)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(none["items"], json!([]));

    // Bad share requests.
    assert_error(
        w.share(&w.shared, "nobody", "read").await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "UNKNOWN_USER",
    )
    .await;
    assert_error(
        w.share(&w.shared, "alice", "read").await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "INVALID_REQUEST",
    )
    .await;
    assert_error(
        w.share(&w.shared, "bob", "admin").await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "INVALID_REQUEST",
    )
    .await;
    assert_error(
        w.share(&loose, "bob", "write").await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "INVALID_REQUEST",
    )
    .await;
}
