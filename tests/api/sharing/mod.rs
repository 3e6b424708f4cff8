//! Sharing: the permission matrix, inheritance by ancestry, share links under
//! concurrency, passwords, expiry and revocation, folder links, and their audit trail.
//! The world every test here shares (alice's `shared/` folder, its readers and
//! writers) is defined here; the tests are split by topic.

mod events;
mod links;
mod matrix;

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
