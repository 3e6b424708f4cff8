//! HTTP plumbing shared by every route: client IP, rate limits, request logging and
//! security headers, media types, the OpenAPI base.

pub mod body_timeout;
pub mod client_ip;
pub mod context;
pub mod docs;
pub mod media_type;
pub mod middleware;
pub mod openapi;
pub mod ratelimit;
