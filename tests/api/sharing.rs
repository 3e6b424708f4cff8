//! Sharing: the permission matrix, inheritance by ancestry, share links under
//! concurrency, passwords, expiry and revocation, folder links, and their audit trail.

use reqwest::{Method, StatusCode};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{json, Value};

use crate::helpers::{
    assert_error, folder, pattern, raw_client, read_zip, spawn_app, spawn_app_with, upload_into,
    TestApp, Tokens,
};

/// Who makes a request in the matrix.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Who {
    Owner,
    Reader,
    Writer,
    Stranger,
    Anonymous,
}

const EVERYONE: [Who; 5] = [
    Who::Owner,
    Who::Reader,
    Who::Writer,
    Who::Stranger,
    Who::Anonymous,
];

/// alice owns `shared/` (holding `sub/`), shared read with bob and write with carol;
/// dave is a stranger.
struct World {
    app: TestApp,
    alice: Tokens,
    bob: Tokens,
    carol: Tokens,
    dave: Tokens,
    shared: String,
    sub: String,
}

impl World {
    async fn new() -> World {
        World::with(spawn_app().await).await
    }

    async fn with(app: TestApp) -> World {
        let alice = app.user("alice").await;
        let bob = app.user("bob").await;
        let carol = app.user("carol").await;
        let dave = app.user("dave").await;
        let shared = folder(&app, &alice.access, "shared", None).await;
        let sub = folder(&app, &alice.access, "sub", Some(&shared)).await;
        let w = World {
            app,
            alice,
            bob,
            carol,
            dave,
            shared,
            sub,
        };
        assert_eq!(w.share(&w.shared, "bob", "read").await.status(), 201);
        assert_eq!(w.share(&w.shared, "carol", "write").await.status(), 201);
        w
    }

    async fn share(&self, id: &str, username: &str, permission: &str) -> reqwest::Response {
        self.app
            .post_auth(
                &format!("/api/v1/files/{id}/shares"),
                &self.alice.access,
                &json!({"username": username, "permission": permission}),
            )
            .await
    }

    fn token(&self, who: Who) -> Option<&str> {
        match who {
            Who::Owner => Some(&self.alice.access),
            Who::Reader => Some(&self.bob.access),
            Who::Writer => Some(&self.carol.access),
            Who::Stranger => Some(&self.dave.access),
            Who::Anonymous => None,
        }
    }

    async fn call(
        &self,
        who: Who,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> reqwest::Response {
        let mut req = self.app.client.request(method, self.app.url(path));
        if let Some(t) = self.token(who) {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        req.send().await.expect("request")
    }

    /// A fresh file of alice's in `shared/`, for one actor to act on.
    async fn file(&self, name: &str, bytes: &[u8]) -> String {
        upload_into(&self.app, &self.alice.access, name, &self.shared, bytes).await
    }
}

/// Asserts the status, and for refusals the documented error shape.
async fn expect(res: reqwest::Response, want: u16, what: &str) -> Value {
    let status = res.status().as_u16();
    let body: Value = res.json().await.unwrap_or(Value::Null);
    assert_eq!(status, want, "{what}: {body}");
    if want >= 400 {
        assert!(
            body["error_code"].is_string() && body["detail"].is_string(),
            "{what}: {body}"
        );
    }
    body
}

/// What each actor gets: owner, reader, writer, stranger, anonymous.
fn row(owner: u16, reader: u16, writer: u16) -> [u16; 5] {
    [owner, reader, writer, 404, 401]
}

#[tokio::test]
async fn the_permission_matrix_holds_for_every_file_and_folder_endpoint() {
    let w = World::new().await;
    let bytes = pattern(3000, 7);
    let file = w.file("report.txt", &bytes).await;

    // Reading: metadata, listings, downloads (bytes compared), archives.
    for (who, want) in EVERYONE.into_iter().zip(row(200, 200, 200)) {
        for path in [
            format!("/api/v1/files/{}", w.shared),
            format!("/api/v1/folders/{}/items", w.shared),
            format!("/api/v1/folders/{}/items", w.sub),
            format!("/api/v1/files/{file}"),
        ] {
            expect(
                w.call(who, Method::GET, &path, None).await,
                want,
                &format!("{who:?} GET {path}"),
            )
            .await;
        }
        let body = expect(
            w.call(
                who,
                Method::GET,
                &format!("/api/v1/files/{file}/download"),
                None,
            )
            .await,
            want,
            &format!("{who:?} download"),
        )
        .await;
        if want == 200 {
            let got = raw_client()
                .get(body["url"].as_str().expect("url"))
                .send()
                .await
                .expect("GET");
            assert_eq!(
                got.bytes().await.expect("bytes").as_ref(),
                bytes.as_slice(),
                "{who:?}"
            );
        }
        expect(
            w.call(
                who,
                Method::POST,
                "/api/v1/archives",
                Some(json!({"ids": [w.shared]})),
            )
            .await,
            if want == 200 { 202 } else { want },
            &format!("{who:?} archive"),
        )
        .await;
    }
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

    // Writing inside: new folders, uploads, rename, move within, copy, delete.
    for (who, want) in EVERYONE.into_iter().zip(row(201, 403, 201)) {
        let tag = format!("{who:?}").to_lowercase();
        expect(
            w.call(
                who,
                Method::POST,
                "/api/v1/folders",
                Some(json!({"name": format!("dir-{tag}"), "parent_id": w.shared})),
            )
            .await,
            want,
            &format!("{who:?} create folder"),
        )
        .await;
        expect(
            w.call(
                who,
                Method::POST,
                "/api/v1/uploads",
                Some(json!({"name": format!("up-{tag}.bin"), "size": 10, "parent_id": w.sub})),
            )
            .await,
            want,
            &format!("{who:?} upload start"),
        )
        .await;
        let target = w.file(&format!("t-{tag}.txt"), b"0123456789").await;
        let ok = if want == 201 { 200 } else { want };
        expect(
            w.call(
                who,
                Method::PATCH,
                &format!("/api/v1/files/{target}"),
                Some(json!({"name": format!("renamed-{tag}.txt")})),
            )
            .await,
            ok,
            &format!("{who:?} rename"),
        )
        .await;
        expect(
            w.call(
                who,
                Method::PATCH,
                &format!("/api/v1/files/{target}"),
                Some(json!({"parent_id": w.sub})),
            )
            .await,
            ok,
            &format!("{who:?} move within"),
        )
        .await;
        expect(
            w.call(
                who,
                Method::POST,
                &format!("/api/v1/files/{target}/copy"),
                Some(json!({})),
            )
            .await,
            want,
            &format!("{who:?} copy beside"),
        )
        .await;
        expect(
            w.call(
                who,
                Method::DELETE,
                &format!("/api/v1/files/{target}"),
                None,
            )
            .await,
            if want == 201 { 204 } else { want },
            &format!("{who:?} delete"),
        )
        .await;
    }

    // The shared folder itself is the owner's: grantees can neither rename nor delete it,
    // nor move things out of the owner's tree.
    for (who, want) in EVERYONE.into_iter().zip(row(200, 403, 403)) {
        let tag = format!("{who:?}").to_lowercase();
        expect(
            w.call(
                who,
                Method::PATCH,
                &format!("/api/v1/files/{}", w.shared),
                Some(json!({"name": format!("shared-{tag}")})),
            )
            .await,
            want,
            &format!("{who:?} rename the shared folder"),
        )
        .await;
    }
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

    // Only the owner manages shares and links.
    for (who, want) in EVERYONE.into_iter().zip(row(200, 403, 403)) {
        for path in [
            format!("/api/v1/files/{}/shares", w.shared),
            format!("/api/v1/files/{}/links", w.shared),
        ] {
            expect(
                w.call(who, Method::GET, &path, None).await,
                want,
                &format!("{who:?} GET {path}"),
            )
            .await;
        }
        let created = if want == 200 { 201 } else { want };
        expect(
            w.call(
                who,
                Method::POST,
                &format!("/api/v1/files/{file}/links"),
                Some(json!({})),
            )
            .await,
            created,
            &format!("{who:?} create link"),
        )
        .await;
        let status = if who == Who::Owner { 200 } else { want };
        expect(
            w.call(
                who,
                Method::POST,
                &format!("/api/v1/files/{}/shares", w.shared),
                Some(json!({"username": "bob", "permission": "read"})),
            )
            .await,
            status,
            &format!("{who:?} share"),
        )
        .await;
    }
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
    assert_eq!(w.app.usage(&w.alice.access).await["used_bytes"], 4000);
    assert_eq!(w.app.usage(&w.carol.access).await["used_bytes"], 0);
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
    assert_eq!(w.app.usage(&w.alice.access).await["reserved_bytes"], 10);
    let res = w
        .app
        .post_auth(
            &format!("/api/v1/uploads/{upload}/abort"),
            &w.alice.access,
            &json!({}),
        )
        .await;
    assert!(res.status().is_success(), "owner aborts: {}", res.status());
    assert_eq!(w.app.usage(&w.alice.access).await["reserved_bytes"], 0);
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

async fn create_link(app: &TestApp, access: &str, id: &str, body: Value) -> Value {
    let res = app
        .post_auth(&format!("/api/v1/files/{id}/links"), access, &body)
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    res.json().await.expect("json")
}

async fn redeem(app: &TestApp, token: &str, body: Value) -> reqwest::Response {
    raw_client()
        .post(app.url(&format!("/s/{token}/download")))
        .json(&body)
        .send()
        .await
        .expect("request")
}

#[tokio::test]
async fn a_link_with_max_downloads_5_allows_exactly_5_of_50_concurrent_redemptions() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let bytes = pattern(5000, 1);
    let file = app
        .upload(
            &alice.access,
            "data.bin",
            &bytes,
            "application/octet-stream",
        )
        .await;
    let link = create_link(&app, &alice.access, &file, json!({"max_downloads": 5})).await;
    let token = link["token"].as_str().expect("token").to_owned();
    assert!(link["url"]
        .as_str()
        .expect("url")
        .ends_with(&format!("/s/{token}")));
    assert_eq!(link["state"], "active");

    let attempts = (0..50).map(|_| redeem(&app, &token, json!({})));
    let results = futures::future::join_all(attempts).await;
    let mut redirects = Vec::new();
    for res in results {
        match res.status() {
            StatusCode::FOUND => redirects.push(
                res.headers()["location"]
                    .to_str()
                    .expect("ascii")
                    .to_owned(),
            ),
            StatusCode::NOT_FOUND => {}
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(redirects.len(), 5);
    for url in &redirects {
        let got = raw_client().get(url).send().await.expect("GET");
        assert_eq!(got.status(), StatusCode::OK);
        assert!(got.headers()["content-disposition"]
            .to_str()
            .expect("ascii")
            .contains("data.bin"));
        assert_eq!(got.bytes().await.expect("bytes").as_ref(), bytes.as_slice());
    }
    // The presigned URL lives about a minute, not the API's ten.
    let expires: u64 = redirects[0]
        .split(['?', '&'])
        .find_map(|kv| kv.strip_prefix("X-Amz-Expires="))
        .expect("X-Amz-Expires")
        .parse()
        .expect("number");
    assert!(expires <= 60, "{expires}");
    let links: Value = app
        .get_auth(&format!("/api/v1/files/{file}/links"), &alice.access)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(links["items"][0]["download_count"], 5);
    assert_eq!(links["items"][0]["state"], "exhausted");
    assert!(links["items"][0].get("token").is_none());
    // `curl -L` style: following the redirect gives the bytes.
    let second = create_link(&app, &alice.access, &file, json!({})).await;
    let got = reqwest::Client::new()
        .post(second["url"].as_str().expect("url").to_owned() + "/download")
        .send()
        .await
        .expect("request");
    assert_eq!(got.status(), StatusCode::OK);
    assert_eq!(got.bytes().await.expect("bytes").as_ref(), bytes.as_slice());
    let info: Value = raw_client()
        .get(second["url"].as_str().expect("url"))
        .send()
        .await
        .expect("GET")
        .json()
        .await
        .expect("json");
    assert_eq!(info["name"], "data.bin");
    assert_eq!(info["size"], 5000);
    assert_eq!(info["kind"], "file");
    assert_eq!(info["password_required"], false);
    assert!(info["expires_at"].is_null());
}

#[tokio::test]
async fn link_passwords_are_checked_and_attempts_throttled_per_link_and_per_ip() {
    let app = spawn_app_with(|s| {
        s.rate_limit_link_password = coffer::config::RateLimit {
            per_minute: 1,
            burst: 3,
        };
    })
    .await;
    let alice = app.user("alice").await;
    let bytes = pattern(100, 2);
    let file = app
        .upload(&alice.access, "secret.txt", &bytes, "text/plain")
        .await;
    let link = create_link(
        &app,
        &alice.access,
        &file,
        json!({"password": "open sesame 42"}),
    )
    .await;
    let token = link["token"].as_str().expect("token");
    let info: Value = raw_client()
        .get(app.url(&format!("/s/{token}")))
        .send()
        .await
        .expect("GET")
        .json()
        .await
        .expect("json");
    assert_eq!(info["password_required"], true);

    assert_error(
        redeem(&app, token, json!({})).await,
        StatusCode::UNAUTHORIZED,
        "LINK_PASSWORD_REQUIRED",
    )
    .await;
    let ok = redeem(&app, token, json!({"password": "open sesame 42"})).await;
    assert_eq!(ok.status(), StatusCode::FOUND);
    let got = raw_client()
        .get(ok.headers()["location"].to_str().expect("ascii"))
        .send()
        .await
        .expect("GET");
    assert_eq!(got.bytes().await.expect("bytes").as_ref(), bytes.as_slice());
    for _ in 0..2 {
        assert_error(
            redeem(&app, token, json!({"password": "guess"})).await,
            StatusCode::UNAUTHORIZED,
            "LINK_PASSWORD_INVALID",
        )
        .await;
    }
    // The burst of 3 attempts is spent: even the right password waits now.
    let res = redeem(&app, token, json!({"password": "open sesame 42"})).await;
    assert!(res.headers().contains_key("retry-after"));
    assert_error(res, StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED").await;
    // The same client is throttled on another link too (per IP).
    let other = create_link(
        &app,
        &alice.access,
        &file,
        json!({"password": "another pass 7"}),
    )
    .await;
    assert_error(
        redeem(
            &app,
            other["token"].as_str().expect("token"),
            json!({"password": "another pass 7"}),
        )
        .await,
        StatusCode::TOO_MANY_REQUESTS,
        "RATE_LIMITED",
    )
    .await;
    // Weak link passwords are refused up front.
    let res = app
        .post_auth(
            &format!("/api/v1/files/{file}/links"),
            &alice.access,
            &json!({"password": "short"}),
        )
        .await;
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "WEAK_PASSWORD").await;
}

#[tokio::test]
async fn unknown_revoked_expired_and_used_up_links_answer_the_same_404() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let file = app
        .upload(&alice.access, "a.txt", b"hello", "text/plain")
        .await;
    let expiring = create_link(
        &app,
        &alice.access,
        &file,
        json!({"expires_at": chrono::Utc::now() + chrono::Duration::hours(1)}),
    )
    .await;
    let revoked = create_link(&app, &alice.access, &file, json!({})).await;
    let used = create_link(&app, &alice.access, &file, json!({"max_downloads": 1})).await;
    for l in [&expiring, &revoked, &used] {
        assert_eq!(
            redeem(&app, l["token"].as_str().expect("token"), json!({}))
                .await
                .status(),
            StatusCode::FOUND
        );
    }
    // Expire one (as time would), revoke one; `used` is used up.
    coffer::entity::share_links::Entity::update_many()
        .col_expr(
            coffer::entity::share_links::Column::ExpiresAt,
            Expr::value(Some(chrono::Utc::now() - chrono::Duration::seconds(1))),
        )
        .filter(
            coffer::entity::share_links::Column::Id
                .eq(uuid::Uuid::parse_str(expiring["id"].as_str().expect("id")).expect("uuid")),
        )
        .exec(&app.app_state.db)
        .await
        .expect("expire");
    let res = app
        .client
        .delete(app.url(&format!(
            "/api/v1/files/{file}/links/{}",
            revoked["id"].as_str().expect("id")
        )))
        .bearer_auth(&alice.access)
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), StatusCode::NO_CONTENT);

    let unknown = "A".repeat(43);
    let mut bodies = Vec::new();
    for token in [
        unknown.as_str(),
        "short",
        expiring["token"].as_str().expect("t"),
        revoked["token"].as_str().expect("t"),
        used["token"].as_str().expect("t"),
    ] {
        let res = redeem(&app, token, json!({})).await;
        bodies.push(assert_error(res, StatusCode::NOT_FOUND, "NOT_FOUND").await);
        let res = raw_client()
            .get(app.url(&format!("/s/{token}")))
            .send()
            .await
            .expect("GET");
        bodies.push(assert_error(res, StatusCode::NOT_FOUND, "NOT_FOUND").await);
    }
    assert!(bodies.windows(2).all(|p| p[0] == p[1]), "{bodies:?}");
    // Links that cannot be made.
    for body in [
        json!({"expires_at": "2001-01-01T00:00:00Z"}),
        json!({"max_downloads": 0}),
    ] {
        let res = app
            .post_auth(&format!("/api/v1/files/{file}/links"), &alice.access, &body)
            .await;
        assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "INVALID_REQUEST").await;
    }
    let links: Value = app
        .get_auth(&format!("/api/v1/files/{file}/links"), &alice.access)
        .await
        .json()
        .await
        .expect("json");
    let states: Vec<&str> = links["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|l| l["state"].as_str().expect("state"))
        .collect();
    assert_eq!(states, ["expired", "revoked", "exhausted"]);
}

#[tokio::test]
async fn a_folder_link_lists_downloads_inside_only_and_zips_everything() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let top = folder(&app, &alice.access, "results", None).await;
    let sub = folder(&app, &alice.access, "run-1", Some(&top)).await;
    let a = pattern(2000, 4);
    let b = pattern(3000, 5);
    let fa = upload_into(&app, &alice.access, "a.txt", &top, &a).await;
    let fb = upload_into(&app, &alice.access, "b.txt", &sub, &b).await;
    let outside = app
        .upload(&alice.access, "outside.txt", b"private", "text/plain")
        .await;
    let link = create_link(&app, &alice.access, &top, json!({"max_downloads": 3})).await;
    let token = link["token"].as_str().expect("token");

    let info: Value = raw_client()
        .get(app.url(&format!("/s/{token}")))
        .send()
        .await
        .expect("GET")
        .json()
        .await
        .expect("json");
    assert_eq!(info["kind"], "folder");
    let names: Vec<&str> = info["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["name"].as_str().expect("name"))
        .collect();
    assert_eq!(names, ["run-1", "a.txt"]);
    assert!(info["items"][0].get("owner_id").is_none());
    let inner: Value = raw_client()
        .get(app.url(&format!("/s/{token}?folder_id={sub}")))
        .send()
        .await
        .expect("GET")
        .json()
        .await
        .expect("json");
    assert_eq!(inner["items"][0]["id"], fb.as_str());
    let res = raw_client()
        .get(app.url(&format!("/s/{token}?folder_id={outside}")))
        .send()
        .await
        .expect("GET");
    assert_error(res, StatusCode::NOT_FOUND, "NOT_FOUND").await;

    assert_error(
        redeem(&app, token, json!({})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "INVALID_REQUEST",
    )
    .await;
    assert_error(
        redeem(&app, token, json!({"file_id": outside})).await,
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
    )
    .await;
    let res = redeem(&app, token, json!({"file_id": fb})).await;
    assert_eq!(res.status(), StatusCode::FOUND);
    let got = raw_client()
        .get(res.headers()["location"].to_str().expect("ascii"))
        .send()
        .await
        .expect("GET");
    assert_eq!(got.bytes().await.expect("bytes").as_ref(), b.as_slice());

    // Download all: one download, a zip built by the worker.
    let res = raw_client()
        .post(app.url(&format!("/s/{token}/archives")))
        .send()
        .await
        .expect("POST");
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let task = res.json::<Value>().await.expect("json")["task_id"]
        .as_str()
        .expect("task")
        .to_owned();
    assert!(app.run_tasks().await >= 1);
    // The owner's task API does not show it; the link's does.
    assert_eq!(
        app.get_auth(&format!("/api/v1/tasks/{task}"), &alice.access)
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    let done: Value = raw_client()
        .get(app.url(&format!("/s/{token}/archives/{task}")))
        .send()
        .await
        .expect("GET")
        .json()
        .await
        .expect("json");
    assert_eq!(done["state"], "done", "{done}");
    let zip = raw_client()
        .get(done["download"]["url"].as_str().expect("url"))
        .send()
        .await
        .expect("GET")
        .bytes()
        .await
        .expect("zip")
        .to_vec();
    let entries = read_zip(zip);
    assert_eq!(
        entries,
        [
            ("results/a.txt".to_owned(), a.clone()),
            ("results/run-1/b.txt".to_owned(), b.clone())
        ]
    );
    let _ = fa;
    // A third download uses the link up; its archive can still be fetched.
    assert_eq!(
        redeem(&app, token, json!({"file_id": fb})).await.status(),
        StatusCode::FOUND
    );
    assert_eq!(
        redeem(&app, token, json!({"file_id": fb})).await.status(),
        StatusCode::NOT_FOUND
    );
    let again = raw_client()
        .get(app.url(&format!("/s/{token}/archives/{task}")))
        .send()
        .await
        .expect("GET");
    assert_eq!(again.status(), StatusCode::OK);
}

/// The stored sharing events (`share.*`, `link.*`) once the writer has stored every
/// event recorded so far; at least `n` of them.
async fn sharing_events(app: &TestApp, n: usize) -> Vec<coffer::audit::repo::StoredEvent> {
    app.app_state.audit.flush().await;
    let filter = coffer::audit::repo::Filter::default();
    let mut events = coffer::audit::repo::query(&app.app_state.db, &filter, 1000)
        .await
        .expect("query");
    events.retain(|e| e.action.starts_with("share.") || e.action.starts_with("link."));
    assert!(events.len() >= n, "fewer than {n} sharing audit events");
    events
}

#[tokio::test]
async fn share_and_link_changes_and_redemptions_are_audited_with_request_ids() {
    let w = World::new().await;
    let file = w.file("audited.txt", b"audit me").await;
    let link = create_link(
        &w.app,
        &w.alice.access,
        &file,
        json!({"password": "a fine password"}),
    )
    .await;
    let token = link["token"].as_str().expect("token");
    let res = raw_client()
        .post(w.app.url(&format!("/s/{token}/download")))
        .header("x-request-id", "redeem-ok-1")
        .json(&json!({"password": "a fine password"}))
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), StatusCode::FOUND);
    let res = raw_client()
        .post(w.app.url(&format!("/s/{token}/download")))
        .header("x-request-id", "redeem-bad-1")
        .json(&json!({"password": "wrong password"}))
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let res = w
        .app
        .client
        .delete(w.app.url(&format!(
            "/api/v1/files/{file}/links/{}",
            link["id"].as_str().expect("id")
        )))
        .bearer_auth(&w.alice.access)
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    expect(
        w.call(
            Who::Owner,
            Method::DELETE,
            &format!("/api/v1/files/{}/shares/bob", w.shared),
            None,
        )
        .await,
        204,
        "unshare",
    )
    .await;

    let events = sharing_events(&w.app, 7).await;
    let actions: Vec<(&str, &str)> = events
        .iter()
        .map(|e| (e.action.as_str(), e.outcome.as_str()))
        .collect();
    assert_eq!(
        actions,
        [
            ("share.created", "ok"),
            ("share.created", "ok"),
            ("link.created", "ok"),
            ("link.redeemed", "ok"),
            ("link.refused", "denied"),
            ("link.revoked", "ok"),
            ("share.revoked", "ok"),
        ]
    );
    let link_target = format!("link:{}", link["id"].as_str().expect("id"));
    assert_eq!(events[3].request_id.as_deref(), Some("redeem-ok-1"));
    assert_eq!(events[3].target.as_deref(), Some(link_target.as_str()));
    assert!(events[3].actor_id.is_none(), "anonymous");
    assert_eq!(events[4].request_id.as_deref(), Some("redeem-bad-1"));
    assert_eq!(
        events[4].detail.as_ref().expect("detail")["reason"],
        "password_invalid"
    );
    assert_eq!(events[0].actor_name.as_deref(), Some("alice"));
    assert!(events
        .iter()
        .all(|e| e.request_id.is_some() && e.ip.is_some()));
    // Neither the token nor the password is in the trail.
    let all = format!("{events:?}");
    assert!(
        !all.contains(token) && !all.contains("a fine password") && !all.contains("wrong password")
    );
}
