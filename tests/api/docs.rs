//! OpenAPI, Swagger UI and Redoc; the committed spec must match the code.

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{spawn_app, spawn_app_with, TestApp};

const SPEC_FILE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/openapi.json");

/// Fails when `openapi/openapi.json` differs from the code. `COFFER_UPDATE_OPENAPI=1`
/// rewrites the file on purpose.
#[test]
fn committed_openapi_matches_the_code() {
    let generated = coffer::routes::spec()
        .to_pretty_json()
        .expect("serialise spec")
        + "\n";
    if std::env::var("COFFER_UPDATE_OPENAPI").is_ok_and(|v| v == "1") {
        std::fs::write(SPEC_FILE, &generated).expect("write openapi/openapi.json");
    }
    let committed = std::fs::read_to_string(SPEC_FILE).unwrap_or_default();
    assert!(
        committed == generated,
        "openapi/openapi.json is stale: run `COFFER_UPDATE_OPENAPI=1 cargo test --test api committed_openapi` \
         (or `cargo run -- openapi > openapi/openapi.json`) and commit it"
    );
}

#[tokio::test]
async fn served_spec_is_openapi_3_1_and_documents_every_route() {
    let app = spawn_app().await;
    let spec: Value = app
        .client
        .get(app.url("/openapi.json"))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    assert!(spec["openapi"]
        .as_str()
        .expect("version")
        .starts_with("3.1"));
    assert_eq!(
        spec,
        serde_json::to_value(coffer::routes::spec()).expect("value")
    );
    assert_eq!(
        spec["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    let paths = spec["paths"].as_object().expect("paths");
    for path in [
        "/healthz",
        "/readyz",
        "/api/v1/auth/register",
        "/api/v1/auth/login",
        "/api/v1/auth/refresh",
        "/api/v1/auth/logout",
        "/api/v1/auth/logout-all",
        "/api/v1/auth/me",
        "/api/v1/auth/password",
    ] {
        assert!(paths.contains_key(path), "{path} is documented");
    }
    for (path, item) in paths {
        for (method, op) in item.as_object().expect("item") {
            let responses = op["responses"].as_object().expect("responses");
            let secured = op
                .get("security")
                .is_some_and(|s| s.as_array().is_some_and(|a| !a.is_empty()));
            if secured {
                assert!(
                    responses.contains_key("401"),
                    "{method} {path} documents 401"
                );
            }
            if path.starts_with("/api/") {
                for status in ["429", "500", "503"] {
                    assert!(
                        responses.contains_key(status),
                        "{method} {path} documents {status}"
                    );
                }
            }
            if op.get("requestBody").is_some() {
                assert!(
                    responses.contains_key("400"),
                    "{method} {path} documents 400"
                );
            }
        }
    }
    let me = &spec["paths"]["/api/v1/auth/me"]["get"];
    assert_eq!(me["security"][0]["bearer"], serde_json::json!([]));
}

#[tokio::test]
async fn swagger_ui_and_redoc_render_offline() {
    let app = spawn_app().await;
    let res = app
        .client
        .get(app.url("/docs/"))
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), StatusCode::OK);
    let html = res.text().await.expect("text");
    assert!(html.contains("swagger-ui"), "swagger page: {html}");
    assert!(!html.contains("https://"), "no CDN assets in the page");
    // The vendored assets are served by cofferd itself.
    for asset in [
        "/docs/swagger-ui.css",
        "/docs/swagger-ui-bundle.js",
        "/docs/swagger-initializer.js",
    ] {
        let res = app
            .client
            .get(app.url(asset))
            .send()
            .await
            .expect("request");
        assert_eq!(res.status(), StatusCode::OK, "{asset}");
        assert!(
            !res.bytes().await.expect("body").is_empty(),
            "{asset} has content"
        );
    }
    let init = app
        .client
        .get(app.url("/docs/swagger-initializer.js"))
        .send()
        .await
        .expect("request")
        .text()
        .await
        .expect("text");
    assert!(init.contains("/openapi.json"));

    let res = get(&app, "/redoc").await;
    assert_eq!(res.status(), StatusCode::OK);
    let csp = res.headers()["content-security-policy"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(csp.contains("img-src 'self' data:"), "{csp}");
    let html = res.text().await.expect("text");
    assert!(
        html.contains("Redoc.init") && html.contains("\"openapi\""),
        "redoc embeds the spec"
    );
    // Its script comes from cofferd, not a CDN.
    let src = regex::Regex::new(r#"<script src="([^"]+)""#)
        .expect("regex")
        .captures(&html)
        .map(|c| c[1].to_owned())
        .expect("a script element with src");
    assert_eq!(src, "/redoc/redoc.standalone.js");
    let res = get(&app, &src).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers()["content-type"]
        .to_str()
        .expect("ascii")
        .starts_with("text/javascript"));
    let script = res.text().await.expect("text");
    assert!(script.len() > 1_000_000, "the whole bundle");
    assert!(script.contains("Redoc"), "Redoc's standalone bundle");

    // `/docs` without the slash leads to Swagger UI.
    let res = get(&app, "/docs").await;
    assert_eq!(res.status(), StatusCode::PERMANENT_REDIRECT);
    assert_eq!(res.headers()["location"], "/docs/");
}

/// An unauthenticated GET, its redirects not followed.
async fn get(app: &TestApp, path: &str) -> reqwest::Response {
    app.client.get(app.url(path)).send().await.expect("request")
}

#[tokio::test]
async fn redoc_loads_from_a_cdn_only_when_configured() {
    let app = spawn_app_with(|s| {
        s.redoc_script_url = Some("https://cdn.example.org/redoc.standalone.js".into())
    })
    .await;
    let html = get(&app, "/redoc").await.text().await.expect("text");
    assert!(
        html.contains(r#"<script src="https://cdn.example.org/redoc.standalone.js">"#),
        "{html}"
    );
}

#[test]
fn env_example_lists_every_setting() {
    let root = env!("CARGO_MANIFEST_DIR");
    let config: String = ["mod.rs", "sections.rs"]
        .iter()
        .map(|f| std::fs::read_to_string(format!("{root}/src/config/{f}")).expect("config"))
        .collect();
    let example = std::fs::read_to_string(format!("{root}/.env.example")).expect(".env.example");
    let names = regex::Regex::new(r#""((?:COFFER|DATABASE)_[A-Z0-9_]+)""#).expect("regex");
    let mut seen = 0;
    for cap in names.captures_iter(&config) {
        let name = &cap[1];
        seen += 1;
        assert!(
            example.contains(&format!("{name}=")),
            ".env.example lacks {name}"
        );
    }
    assert!(seen > 20, "found only {seen} settings in config.rs");
}
