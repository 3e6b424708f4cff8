//! `/device`: the page where a signed-in user enters a device's code, sees what asks to
//! sign in, and approves or denies it. Plain HTML, one ES module and one stylesheet,
//! compiled into the binary; a strict CSP (nothing inline, nothing from elsewhere).
//! Names and hosts are set as text, never as markup. It works with the cookie session
//! (`"cookie": true` at login: HttpOnly, Secure, SameSite=Strict cookies).

use actix_web::http::header;
use actix_web::{web, HttpResponse};

use crate::web::CSP;

const PAGE: &str = include_str!("assets/device.html");
const SCRIPT: &str = include_str!("assets/device.js");
const STYLE: &str = include_str!("assets/device.css");

/// `/device`, `/device.js` and `/device.css` (none of them in the OpenAPI document).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/device", web::get().to(page))
        .route("/device.js", web::get().to(script))
        .route("/device.css", web::get().to(style));
}

async fn page() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CONTENT_SECURITY_POLICY, CSP))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .body(PAGE)
}

async fn script() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/javascript; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .body(SCRIPT)
}

async fn style() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .body(STYLE)
}
