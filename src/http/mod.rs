//! HTTP plumbing shared by every route: client IP, rate limits, request logging and
//! security headers, health checks, OpenAPI.

pub mod body_timeout;
pub mod client_ip;
pub mod context;
pub mod docs;
pub mod health;
pub mod metrics;
pub mod middleware;
pub mod openapi;
pub mod ratelimit;
