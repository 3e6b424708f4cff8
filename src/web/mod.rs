//! The web interface's pages, compiled into the binary: plain HTML, ES modules and one
//! stylesheet under `/ui/`, with a strict CSP (nothing inline, nothing from another
//! origin; `nosniff` and `no-referrer` come with every answer, see
//! [`crate::http::middleware::security_headers`]). The app at `/` (sign in, files,
//! uploads, sharing, the admin area; `assets/app.js`) and the public page of a share
//! link, which `/s/{token}` answers to a browser (see [`wants_html`]).

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};

const APP_PAGE: &str = include_str!("assets/app.html");
const APP_SCRIPT: &str = include_str!("assets/app.js");
const LINK_PAGE: &str = include_str!("assets/link.html");
const GONE_PAGE: &str = include_str!("assets/gone.html");
const LINK_SCRIPT: &str = include_str!("assets/link.js");
const COMMON_SCRIPT: &str = include_str!("assets/common.js");
const STYLE: &str = include_str!("assets/web.css");

/// Nothing inline, nothing from another origin, never framed.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     connect-src 'self'; img-src 'self'; form-action 'self'; base-uri 'none'; \
     frame-ancestors 'none'";

/// What the pages need from the running service: the app's CSP, which lets it connect
/// to the store's origin too (uploads go straight there).
pub struct Pages {
    app_csp: String,
}

impl Pages {
    /// `store_origin`: where presigned URLs point (`scheme://host[:port]`); left out
    /// of the CSP if it is not a plain origin.
    pub fn new(store_origin: &str) -> Pages {
        let plain = !store_origin.is_empty()
            && store_origin
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b":/.-[]".contains(&b));
        let app_csp = match plain {
            true => CSP.replace(
                "connect-src 'self';",
                &format!("connect-src 'self' {store_origin};"),
            ),
            false => CSP.to_owned(),
        };
        Pages { app_csp }
    }
}

/// `/` (the app), `/ui/app.js`, `/ui/link.js`, `/ui/common.js` (what both share) and
/// `/ui/web.css` (not in the OpenAPI document).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(app_page))
        .route("/ui/app.js", web::get().to(|| script(APP_SCRIPT)))
        .route("/ui/link.js", web::get().to(|| script(LINK_SCRIPT)))
        .route("/ui/common.js", web::get().to(|| script(COMMON_SCRIPT)))
        .route("/ui/web.css", web::get().to(style));
}

/// Whether the request asks for a page rather than JSON: `text/html` accepted, and
/// preferred to `application/json` (a browser's navigation; `curl`, API clients and
/// the page's own `fetch` calls get JSON).
pub fn wants_html(req: &HttpRequest) -> bool {
    let Some(accept) = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let (mut html, mut json) = (0.0_f32, 0.0_f32);
    for item in accept.split(',') {
        let mut parts = item.split(';').map(str::trim);
        let media = parts.next().unwrap_or_default().to_ascii_lowercase();
        let q = parts
            .find_map(|p| p.strip_prefix("q="))
            .and_then(|q| q.parse::<f32>().ok())
            .unwrap_or(1.0);
        match media.as_str() {
            "text/html" => html = html.max(q),
            "application/json" => json = json.max(q),
            _ => {}
        }
    }
    html > 0.0 && html > json
}

fn page(status: actix_web::http::StatusCode, body: &'static str) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CONTENT_SECURITY_POLICY, CSP))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::VARY, "Accept"))
        .body(body)
}

/// The page of a live share link; its script reads the link through the JSON API.
pub fn link_page() -> HttpResponse {
    page(actix_web::http::StatusCode::OK, LINK_PAGE)
}

/// The one page for every link that is not available (unknown, revoked, expired, used
/// up): 404, and the same for all of them.
pub fn gone_page() -> HttpResponse {
    page(actix_web::http::StatusCode::NOT_FOUND, GONE_PAGE)
}

/// The web interface: sign in, the file browser (see `assets/app.js`).
async fn app_page(pages: web::Data<Pages>) -> HttpResponse {
    let mut res = page(actix_web::http::StatusCode::OK, APP_PAGE);
    if let Ok(csp) = header::HeaderValue::from_str(&pages.app_csp) {
        res.headers_mut()
            .insert(header::CONTENT_SECURITY_POLICY, csp);
    }
    res
}

async fn script(body: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/javascript; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .body(body)
}

async fn style() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .body(STYLE)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accepts(accept: &str) -> bool {
        let req = actix_web::test::TestRequest::default()
            .insert_header((header::ACCEPT, accept))
            .to_http_request();
        wants_html(&req)
    }

    #[test]
    fn the_app_may_connect_to_the_store_and_nowhere_else() {
        let csp = Pages::new("http://127.0.0.1:9010").app_csp;
        assert!(
            csp.contains("connect-src 'self' http://127.0.0.1:9010;"),
            "{csp}"
        );
        assert!(csp.contains("script-src 'self';"));
        for odd in ["", "http://x; script-src *", "http://a b"] {
            assert_eq!(Pages::new(odd).app_csp, CSP, "{odd:?}");
        }
    }

    #[test]
    fn browsers_get_pages_and_api_clients_json() {
        let chromium = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,*/*;q=0.8";
        assert!(accepts(chromium));
        assert!(accepts("text/html"));
        assert!(accepts("application/json;q=0.5, text/html"));
        assert!(!accepts("*/*"));
        assert!(!accepts("application/json"));
        assert!(!accepts("application/json, text/html;q=0.9"));
        assert!(!accepts("text/html;q=0"));
        assert!(!wants_html(
            &actix_web::test::TestRequest::default().to_http_request()
        ));
    }
}
