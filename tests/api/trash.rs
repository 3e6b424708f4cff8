//! The trash: deletes keep files restorable for `trash_retention_days`, still counted
//! in the owner's usage; restore, delete for good, empty, expiry.

use reqwest::StatusCode;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{json, Value};

use crate::helpers::{
    assert_error, folder, pattern, raw_client, spawn_app_with, upload_into, TestApp,
};

async fn trashing_app() -> TestApp {
    spawn_app_with(|s| s.trash_retention_days = 30).await
}

async fn delete(app: &TestApp, access: &str, id: &str) -> StatusCode {
    app.client
        .delete(app.url(&format!("/api/v1/files/{id}")))
        .bearer_auth(access)
        .send()
        .await
        .expect("DELETE")
        .status()
}

async fn trash(app: &TestApp, access: &str) -> Vec<Value> {
    let res = app.get_auth("/api/v1/trash", access).await;
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.expect("json");
    body["items"].as_array().expect("items").clone()
}

async fn names(app: &TestApp, access: &str, folder: &str) -> Vec<String> {
    let body: Value = app
        .get_auth(&format!("/api/v1/folders/{folder}/items"), access)
        .await
        .json()
        .await
        .expect("json");
    let mut names: Vec<String> = body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["name"].as_str().expect("name").to_owned())
        .collect();
    names.sort();
    names
}

async fn download(app: &TestApp, access: &str, id: &str) -> Vec<u8> {
    let res = app.download(access, id).await;
    assert_eq!(res.status(), StatusCode::OK);
    res.bytes().await.expect("body").to_vec()
}

async fn redeem(app: &TestApp, token: &str) -> reqwest::Response {
    app.client
        .post(app.url(&format!("/s/{token}/download")))
        .send()
        .await
        .expect("POST")
}

async fn consistent(app: &TestApp, owner_id: &str) {
    let drift = coffer::quotas::service::check_usage(&app.app_state.db)
        .await
        .expect("usage check");
    assert!(drift.is_empty(), "{drift:?}");
    let report = coffer::cli::storage_report(
        &app.app_state.db,
        app.app_state.store.as_ref(),
        &format!("{owner_id}/"),
    )
    .await
    .expect("storage check");
    assert_eq!(report, coffer::cli::StorageReport::default());
}

async fn user_id(app: &TestApp, access: &str) -> String {
    let me: Value = app.me(access).await.json().await.expect("json");
    me["id"].as_str().expect("id").to_owned()
}

#[tokio::test]
async fn a_deleted_folder_waits_in_the_trash_and_comes_back_with_its_shares_and_links() {
    let app = trashing_app().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let alice_id = user_id(&app, &alice.access).await;
    let (a, b, c) = (pattern(3000, 1), pattern(5000, 2), pattern(700, 3));
    let results = folder(&app, &alice.access, "results", None).await;
    let sub = folder(&app, &alice.access, "sub", Some(&results)).await;
    let a_id = upload_into(&app, &alice.access, "a.txt", &results, &a).await;
    let b_id = upload_into(&app, &alice.access, "b.bin", &sub, &b).await;
    app.upload(&alice.access, "c.txt", &c, "text/plain").await;
    let res = app
        .post_auth(
            &format!("/api/v1/files/{results}/shares"),
            &alice.access,
            &json!({"username": "bob", "permission": "read"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let link: Value = app
        .post_auth(
            &format!("/api/v1/files/{a_id}/links"),
            &alice.access,
            &json!({}),
        )
        .await
        .json()
        .await
        .expect("json");
    let token = link["token"].as_str().expect("token").to_owned();
    let before = app.usage(&alice.access).await;
    assert_eq!(before.used_bytes, 8700);

    assert_eq!(
        delete(&app, &alice.access, &results).await,
        StatusCode::NO_CONTENT
    );
    app.run_tasks().await;
    // Gone from everywhere else...
    assert_eq!(names(&app, &alice.access, "root").await, vec!["c.txt"]);
    for id in [&results, &a_id, &b_id] {
        let res = app
            .get_auth(&format!("/api/v1/files/{id}"), &alice.access)
            .await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND);
    }
    let res = app
        .get_auth(&format!("/api/v1/files/{b_id}"), &bob.access)
        .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert_eq!(redeem(&app, &token).await.status(), StatusCode::NOT_FOUND);
    // ... but in the trash, still counted, its objects kept.
    let items = trash(&app, &alice.access).await;
    assert_eq!(items.len(), 1);
    let item = &items[0];
    assert_eq!(item["name"], "results");
    assert_eq!(item["kind"], "folder");
    assert_eq!(item["file_id"], results.as_str());
    assert_eq!(item["size"], 8000);
    assert_eq!(item["files"], 2);
    assert!(item["original_parent_id"].is_null());
    let usage = app.usage(&alice.access).await;
    assert_eq!(usage.used_bytes, 8700);
    assert_eq!(usage.used_objects, 3);
    assert_eq!((usage.trash_bytes, usage.trash_objects), (8000, 2));
    consistent(&app, &alice_id).await;
    // Another user cannot see or restore it.
    assert!(trash(&app, &bob.access).await.is_empty());
    let item_id = item["id"].as_str().expect("id").to_owned();
    let res = app
        .post_auth(
            &format!("/api/v1/trash/{item_id}/restore"),
            &bob.access,
            &json!({}),
        )
        .await;
    assert_error(res, StatusCode::NOT_FOUND, "NOT_FOUND").await;

    // Its name was taken meanwhile: it comes back suffixed, with its old id.
    folder(&app, &alice.access, "results", None).await;
    let res = app
        .post_auth(
            &format!("/api/v1/trash/{item_id}/restore"),
            &alice.access,
            &json!({}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let restored: Value = res.json().await.expect("json");
    assert_eq!(restored["name"], "results (1)");
    assert_eq!(restored["id"], results.as_str());
    assert_eq!(
        names(&app, &alice.access, &results).await,
        vec!["a.txt", "sub"]
    );
    assert_eq!(names(&app, &alice.access, &sub).await, vec!["b.bin"]);
    assert_eq!(download(&app, &alice.access, &a_id).await, a);
    assert_eq!(
        download(&app, &bob.access, &b_id).await,
        b,
        "the share is back"
    );
    let res = redeem(&app, &token).await;
    assert_eq!(res.status(), StatusCode::FOUND, "the link is back");
    let url = res.headers()["location"]
        .to_str()
        .expect("ascii")
        .to_owned();
    let got = raw_client().get(&url).send().await.expect("GET");
    assert_eq!(got.bytes().await.expect("body").to_vec(), a);
    assert!(trash(&app, &alice.access).await.is_empty());
    let usage = app.usage(&alice.access).await;
    assert_eq!((usage.used_bytes, usage.trash_bytes), (8700, 0));
    consistent(&app, &alice_id).await;
}

#[tokio::test]
async fn purging_frees_exactly_the_trashed_bytes_and_restores_go_to_the_root_when_the_folder_is_gone(
) {
    let app = trashing_app().await;
    let alice = app.user("alice").await;
    let alice_id = user_id(&app, &alice.access).await;
    let x = app
        .upload(
            &alice.access,
            "x.dat",
            &pattern(1000, 4),
            "application/octet-stream",
        )
        .await;
    let y = app
        .upload(
            &alice.access,
            "y.dat",
            &pattern(2000, 5),
            "application/octet-stream",
        )
        .await;
    let (x_key, y_key) = (key_of(&app, &x).await, key_of(&app, &y).await);
    assert_eq!(
        delete(&app, &alice.access, &x).await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        delete(&app, &alice.access, &y).await,
        StatusCode::NO_CONTENT
    );
    let items = trash(&app, &alice.access).await;
    assert_eq!(items.len(), 2);
    // Newest first.
    assert_eq!(items[0]["name"], "y.dat");
    let id_of = |name: &str| -> String {
        items
            .iter()
            .find(|i| i["name"] == name)
            .and_then(|i| i["id"].as_str())
            .expect("item")
            .to_owned()
    };
    let (x_item, y_item) = (id_of("x.dat"), id_of("y.dat"));
    // Pages of one.
    let page: Value = app
        .get_auth("/api/v1/trash?limit=1", &alice.access)
        .await
        .json()
        .await
        .expect("json");
    let cursor = page["next_cursor"].as_str().expect("cursor");
    let next: Value = app
        .get_auth(
            &format!("/api/v1/trash?limit=1&cursor={cursor}"),
            &alice.access,
        )
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(next["items"][0]["name"], "x.dat");
    assert!(next["next_cursor"].is_null());
    let res = app
        .get_auth("/api/v1/trash?cursor=nonsense", &alice.access)
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);

    // Deleted for good: exactly its bytes leave the usage, its object is purged.
    let res = app
        .client
        .delete(app.url(&format!("/api/v1/trash/{x_item}")))
        .bearer_auth(&alice.access)
        .send()
        .await
        .expect("DELETE");
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    app.run_tasks().await;
    assert!(app.object_gone(&x_key).await);
    assert!(!app.object_gone(&y_key).await);
    let usage = app.usage(&alice.access).await;
    assert_eq!((usage.used_bytes, usage.used_objects), (2000, 1));
    assert_eq!((usage.trash_bytes, usage.trash_objects), (2000, 1));
    let res = app
        .client
        .delete(app.url(&format!("/api/v1/trash/{x_item}")))
        .bearer_auth(&alice.access)
        .send()
        .await
        .expect("DELETE");
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    consistent(&app, &alice_id).await;

    // The retention ends: the worker purges it.
    coffer::entity::trash_items::Entity::update_many()
        .col_expr(
            coffer::entity::trash_items::Column::ExpiresAt,
            Expr::value(chrono::Utc::now() - chrono::Duration::seconds(1)),
        )
        .exec(&app.app_state.db)
        .await
        .expect("expire");
    let service =
        coffer::trash::service::TrashService::new(coffer::db::Db::new(app.app_state.db.clone()));
    assert_eq!(service.purge_expired(100).await.expect("purge"), 1);
    assert_eq!(service.purge_expired(100).await.expect("purge"), 0);
    app.run_tasks().await;
    assert!(app.object_gone(&y_key).await);
    let usage = app.usage(&alice.access).await;
    assert_eq!(
        (usage.used_bytes, usage.used_objects, usage.trash_bytes),
        (0, 0, 0)
    );
    let _ = y_item;

    // A file whose folder was deleted after it comes back at the root.
    let f = folder(&app, &alice.access, "f", None).await;
    let g = upload_into(&app, &alice.access, "g.txt", &f, &pattern(300, 6)).await;
    assert_eq!(
        delete(&app, &alice.access, &g).await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        delete(&app, &alice.access, &f).await,
        StatusCode::NO_CONTENT
    );
    let items = trash(&app, &alice.access).await;
    let g_item = items
        .iter()
        .find(|i| i["name"] == "g.txt")
        .and_then(|i| i["id"].as_str())
        .expect("g")
        .to_owned();
    let restored: Value = app
        .post_auth(
            &format!("/api/v1/trash/{g_item}/restore"),
            &alice.access,
            &json!({}),
        )
        .await
        .json()
        .await
        .expect("json");
    assert!(restored["parent_id"].is_null());
    assert_eq!(names(&app, &alice.access, "root").await, vec!["g.txt"]);
    assert_eq!(download(&app, &alice.access, &g).await, pattern(300, 6));

    // Emptying the trash purges the rest.
    let res = app
        .client
        .delete(app.url("/api/v1/trash"))
        .bearer_auth(&alice.access)
        .send()
        .await
        .expect("DELETE");
    assert_eq!(res.status(), StatusCode::OK);
    let emptied: Value = res.json().await.expect("json");
    assert_eq!(emptied["items"], 1);
    assert_eq!(emptied["files"], 0, "the folder held nothing any more");
    app.run_tasks().await;
    assert!(trash(&app, &alice.access).await.is_empty());
    let usage = app.usage(&alice.access).await;
    assert_eq!((usage.used_bytes, usage.used_objects), (300, 1));
    consistent(&app, &alice_id).await;
}

async fn key_of(app: &TestApp, id: &str) -> String {
    coffer::entity::files::Entity::find_by_id(uuid::Uuid::parse_str(id).expect("uuid"))
        .one(&app.app_state.db)
        .await
        .expect("query")
        .expect("row")
        .object_key
        .expect("key")
}

#[tokio::test]
async fn lifecycle_rules_trash_or_delete_old_files_on_each_run_and_plan_them_in_a_dry_run() {
    let app = spawn_app_with(|s| {
        s.trash_retention_days = 30;
        s.bootstrap_admin_username = Some("rules-admin".into());
        s.bootstrap_admin_password = Some("the rules admin's passphrase".to_owned().into());
    })
    .await;
    let admin = crate::helpers::tokens_of(
        app.login("rules-admin", "the rules admin's passphrase")
            .await,
    )
    .await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let scratch = folder(&app, &alice.access, "scratch", None).await;
    let old = upload_into(&app, &alice.access, "old.dat", &scratch, &pattern(1000, 1)).await;
    let new = upload_into(&app, &alice.access, "new.dat", &scratch, &pattern(500, 2)).await;
    let keep = app
        .upload(&alice.access, "keep.dat", &pattern(300, 3), "text/plain")
        .await;
    let bobs = app
        .upload(&bob.access, "b.dat", &pattern(700, 4), "text/plain")
        .await;
    let bobs_key = key_of(&app, &bobs).await;
    // Three of them last changed 100 days ago.
    for id in [&old, &keep, &bobs] {
        coffer::entity::files::Entity::update_many()
            .col_expr(
                coffer::entity::files::Column::UpdatedAt,
                Expr::value(chrono::Utc::now() - chrono::Duration::days(100)),
            )
            .filter(coffer::entity::files::Column::Id.eq(uuid::Uuid::parse_str(id).expect("uuid")))
            .exec(&app.app_state.db)
            .await
            .expect("age");
    }
    let patch = |body: Value| {
        app.client
            .patch(app.url("/api/v1/admin/settings"))
            .bearer_auth(&admin.access)
            .json(&body)
            .send()
    };
    let res = patch(json!({"lifecycle_rules": [{"name": "x", "min_age_days": 0}]}))
        .await
        .expect("PATCH");
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    // Without rules (and without a cloud tier) there is nothing to run.
    let res = app
        .post_auth("/api/v1/admin/tiering/run", &admin.access, &json!({}))
        .await;
    assert_error(res, StatusCode::CONFLICT, "TIERING_DISABLED").await;
    let res = patch(json!({"lifecycle_rules": [
        {"name": "old scratch", "min_age_days": 90, "users": ["alice"], "folder_id": scratch},
        {"name": "bob's old files", "min_age_days": 90, "users": ["bob"], "action": "delete"},
    ]}))
    .await
    .expect("PATCH");
    assert_eq!(res.status(), StatusCode::OK);

    let plan: Value = app
        .post_auth(
            "/api/v1/admin/tiering/run?dry_run=true",
            &admin.access,
            &json!({}),
        )
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(plan["expire_files"], 2, "{plan}");
    assert_eq!(plan["expire_bytes"], 1700);
    assert_eq!(plan["files"], 0, "no cloud tier: nothing to copy");
    let status: Value = app
        .get_auth("/api/v1/admin/tiering", &admin.access)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(status["enabled"], false);
    assert!(status["next_run_at"].is_string());
    assert!(status["last_run"].is_null(), "a dry run records nothing");
    assert_eq!(
        names(&app, &alice.access, &scratch).await,
        vec!["new.dat", "old.dat"]
    );

    let res = app
        .post_auth("/api/v1/admin/tiering/run", &admin.access, &json!({}))
        .await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    app.run_tasks().await;
    let status: Value = app
        .get_auth("/api/v1/admin/tiering", &admin.access)
        .await
        .json()
        .await
        .expect("json");
    let run = &status["last_run"];
    assert_eq!(run["state"], "done", "{run}");
    assert_eq!(run["files_expired"], 2);
    assert_eq!(run["bytes_expired"], 1700);
    // alice's old scratch file is in her trash (still counted); the rest of hers stays.
    assert_eq!(names(&app, &alice.access, &scratch).await, vec!["new.dat"]);
    assert_eq!(
        names(&app, &alice.access, "root").await,
        vec!["keep.dat", "scratch"]
    );
    let items = trash(&app, &alice.access).await;
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["name"], "old.dat");
    let usage = app.usage(&alice.access).await;
    assert_eq!((usage.used_bytes, usage.trash_bytes), (1800, 1000));
    // bob's was deleted for good.
    assert!(trash(&app, &bob.access).await.is_empty());
    assert!(app.object_gone(&bobs_key).await);
    assert_eq!(app.usage(&bob.access).await.used_bytes, 0);
    let _ = (new, keep);
    // A second run finds nothing more.
    let res = app
        .post_auth("/api/v1/admin/tiering/run", &admin.access, &json!({}))
        .await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    app.run_tasks().await;
    let status: Value = app
        .get_auth("/api/v1/admin/tiering", &admin.access)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(status["last_run"]["files_expired"], 0);
    let drift = coffer::quotas::service::check_usage(&app.app_state.db)
        .await
        .expect("usage check");
    assert!(drift.is_empty(), "{drift:?}");
}
