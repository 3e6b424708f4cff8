//! Cookie mode for browsers: tokens in HttpOnly, Secure, SameSite=Strict cookies.

use actix_web::cookie::{time, Cookie, SameSite};

pub const ACCESS_COOKIE: &str = "coffer_access";
pub const REFRESH_COOKIE: &str = "coffer_refresh";
/// The refresh cookie is only sent to the auth endpoints.
const REFRESH_PATH: &str = "/api/v1/auth";

fn build(
    name: &'static str,
    value: String,
    path: &'static str,
    max_age_secs: i64,
) -> Cookie<'static> {
    Cookie::build(name, value)
        .path(path)
        .http_only(true)
        .secure(true)
        .same_site(SameSite::Strict)
        .max_age(time::Duration::seconds(max_age_secs.max(0)))
        .finish()
}

pub fn access(token: String, max_age_secs: i64) -> Cookie<'static> {
    build(ACCESS_COOKIE, token, "/", max_age_secs)
}

pub fn refresh(token: String, max_age_secs: i64) -> Cookie<'static> {
    build(REFRESH_COOKIE, token, REFRESH_PATH, max_age_secs)
}

/// Cookies that make the browser forget both tokens.
pub fn cleared() -> [Cookie<'static>; 2] {
    [
        build(ACCESS_COOKIE, String::new(), "/", 0),
        build(REFRESH_COOKIE, String::new(), REFRESH_PATH, 0),
    ]
}
