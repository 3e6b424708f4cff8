//! The API documentation pages: Swagger UI at `/docs/` (its assets vendored by
//! utoipa-swagger-ui) and Redoc at `/redoc`, whose script is compiled into the binary
//! (Redoc 2.5.4's `bundles/redoc.standalone.js` from npm), so both work offline; a CDN
//! is used only when `COFFER_REDOC_SCRIPT_URL` says so.

use actix_web::http::header;
use actix_web::{web, HttpResponse};

/// Where the bundled Redoc script is served.
pub const REDOC_SCRIPT_PATH: &str = "/redoc/redoc.standalone.js";
const REDOC_SCRIPT: &[u8] = include_bytes!("assets/redoc.standalone.js");

/// The Redoc page with the spec embedded, rendered once at startup.
#[derive(Clone)]
pub struct RedocPage(String);

impl RedocPage {
    /// `script_url`: `None` serves the bundled script.
    pub fn new(spec: &utoipa::openapi::OpenApi, script_url: Option<&str>) -> RedocPage {
        // `</` cannot end the script element from inside a JSON string this way.
        let spec = spec
            .to_json()
            .unwrap_or_else(|_| "{}".to_owned())
            .replace("</", "<\\/");
        let script = html_attribute(script_url.unwrap_or(REDOC_SCRIPT_PATH));
        RedocPage(format!(
            r#"<!DOCTYPE html>
<html>
  <head>
    <title>Coffer API</title>
    <meta charset="utf-8"/>
    <meta name="viewport" content="width=device-width, initial-scale=1">
  </head>
  <body>
    <div id="redoc-container"></div>
    <script src="{script}"></script>
    <script>
      Redoc.init({spec}, {{}}, document.getElementById("redoc-container"));
    </script>
  </body>
</html>"#
        ))
    }
}

fn html_attribute(value: &str) -> String {
    value
        .replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// `/docs`, `/redoc` and the Redoc script (none of them in the OpenAPI document).
pub fn configure(cfg: &mut web::ServiceConfig, redoc: RedocPage) {
    cfg.app_data(web::Data::new(redoc))
        .route("/docs", web::get().to(docs_redirect))
        .route("/redoc", web::get().to(redoc_page))
        .route(REDOC_SCRIPT_PATH, web::get().to(redoc_script));
}

/// Swagger UI lives under `/docs/`; its relative asset URLs need the slash.
async fn docs_redirect() -> HttpResponse {
    HttpResponse::PermanentRedirect()
        .insert_header((header::LOCATION, "/docs/"))
        .finish()
}

async fn redoc_page(page: web::Data<RedocPage>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        // The page loads nothing from elsewhere: Redoc's sidebar logo, fetched from
        // Redocly's CDN, is refused and hides itself.
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            "default-src 'self'; script-src 'self' 'unsafe-inline' https:; \
             style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; \
             worker-src 'self' blob:; connect-src 'self'",
        ))
        .body(page.0.clone())
}

async fn redoc_script() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/javascript; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "public, max-age=86400"))
        .body(REDOC_SCRIPT)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest as _, Sha256};

    /// The vendored file is npm's redoc@2.5.4 `bundles/redoc.standalone.js`, unchanged
    /// (`npm pack redoc@2.5.4`; the tarball's sha1 is c2b77b368800f56f69d43697d0fc45738fd8f466).
    #[test]
    fn the_bundled_redoc_is_the_published_one() {
        let digest = Sha256::digest(REDOC_SCRIPT);
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "dcaf76612bc4a3fbcc923a8966dee2f6146a5f32e5ce1b6f02dd60cbbf89500b"
        );
    }

    #[test]
    fn the_page_cannot_be_closed_from_inside_the_spec() {
        let mut spec = utoipa::openapi::OpenApi::default();
        spec.info.description = Some("</script><script>alert(1)</script>".into());
        let page = RedocPage::new(&spec, Some("https://cdn.example/r.js?a=1&b=\"2\""));
        assert!(!page.0.contains("</script><script>alert"), "{}", page.0);
        assert!(page
            .0
            .contains(r#"src="https://cdn.example/r.js?a=1&amp;b=&quot;2&quot;""#));
        let local = RedocPage::new(&spec, None);
        assert!(local.0.contains(&format!(r#"src="{REDOC_SCRIPT_PATH}""#)));
    }
}
