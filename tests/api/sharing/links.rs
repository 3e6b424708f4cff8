//! Share links: exact download limits under concurrency, passwords and their
//! throttling, the one 404 for unknown, revoked, expired and used-up links, folder links.

use super::*;

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
    let (mut bodies, mut pages) = (Vec::new(), Vec::new());
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
        // A browser gets the one "not available" page for each of them.
        let res = raw_client()
            .get(app.url(&format!("/s/{token}")))
            .header("accept", BROWSER_ACCEPT)
            .send()
            .await
            .expect("GET");
        assert_eq!(res.status(), StatusCode::NOT_FOUND);
        assert!(res.headers()["content-type"]
            .to_str()
            .expect("ascii")
            .starts_with("text/html"));
        pages.push(res.text().await.expect("a page"));
    }
    assert!(bodies.windows(2).all(|p| p[0] == p[1]), "{bodies:?}");
    assert!(pages.windows(2).all(|p| p[0] == p[1]), "one page for all");
    assert!(pages[0].contains("This link is not available"));
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

/// What Chromium sends when it navigates to a page.
const BROWSER_ACCEPT: &str =
    "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8";

#[tokio::test]
async fn a_browser_gets_the_link_page_and_api_clients_keep_their_json() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let file = app
        .upload(
            &alice.access,
            "<img src=x onerror=alert(1)>.csv",
            b"a,b\n",
            "text/csv",
        )
        .await;
    let link = create_link(
        &app,
        &alice.access,
        &file,
        json!({"password": "open sesame 1"}),
    )
    .await;
    let token = link["token"].as_str().expect("token");
    let res = raw_client()
        .get(app.url(&format!("/s/{token}")))
        .header("accept", BROWSER_ACCEPT)
        .send()
        .await
        .expect("GET");
    assert_eq!(res.status(), StatusCode::OK);
    let headers = res.headers().clone();
    let csp = headers["content-security-policy"].to_str().expect("ascii");
    assert!(csp.contains("default-src 'none'") && csp.contains("script-src 'self'"));
    assert!(!csp.contains("unsafe-inline"));
    assert!(headers["vary"].to_str().expect("ascii").contains("Accept"));
    assert_eq!(headers["cache-control"], "no-store");
    let page = res.text().await.expect("a page");
    assert!(page.contains(r#"<script type="module" src="/ui/link.js">"#));
    // The page is the same for every link: the name is set as text by the script.
    assert!(!page.contains("onerror") && !page.contains(token));
    assert!(
        !page.contains("<script>") && !page.contains(" style="),
        "nothing inline"
    );

    // curl, API clients and the page's own fetch calls get the JSON, as before.
    for accept in [None, Some("*/*"), Some("application/json")] {
        let mut req = raw_client().get(app.url(&format!("/s/{token}")));
        if let Some(a) = accept {
            req = req.header("accept", a);
        }
        let res = req.send().await.expect("GET");
        assert_eq!(res.status(), StatusCode::OK, "{accept:?}");
        let info: Value = res.json().await.expect("JSON");
        assert_eq!(
            (info["name"].as_str(), info["password_required"].as_bool()),
            (Some("<img src=x onerror=alert(1)>.csv"), Some(true))
        );
    }
    // The page's script and style, from cofferd itself.
    for (path, kind, needle) in [
        ("/ui/link.js", "text/javascript", "textContent"),
        ("/ui/app.js", "text/javascript", "X-Coffer-CSRF"),
        ("/ui/web.css", "text/css", "body"),
    ] {
        let res = raw_client().get(app.url(path)).send().await.expect("GET");
        assert_eq!(res.status(), StatusCode::OK, "{path}");
        assert!(res.headers()["content-type"]
            .to_str()
            .expect("ascii")
            .starts_with(kind));
        let body = res.text().await.expect("text");
        assert!(body.contains(needle), "{path}");
        assert!(!body.contains("innerHTML"), "{path}: names are set as text");
    }
    // The web interface itself, at the root, under the same CSP but for one addition:
    // it may connect to the store its presigned URLs point at (uploads go there).
    let res = raw_client().get(app.url("/")).send().await.expect("GET /");
    assert_eq!(res.status(), StatusCode::OK);
    let store = app.app_state.store.presign_origin();
    let with_store = csp.replace(
        "connect-src 'self';",
        &format!("connect-src 'self' {store};"),
    );
    assert_eq!(
        res.headers()["content-security-policy"].to_str().ok(),
        Some(with_store.as_str())
    );
    assert!(res
        .text()
        .await
        .expect("a page")
        .contains(r#"<script type="module" src="/ui/app.js">"#));
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
