//! The request middleware: request id, client IP, one log line per request, and renewed
//! access cookies; the security headers every answer carries.

use std::sync::Arc;
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::middleware::{DefaultHeaders, Next};
use actix_web::{web, Error, HttpMessage, ResponseError as _};
use tracing::Instrument as _;

use super::body_timeout;
use super::client_ip::resolve;
use super::context::{ClientIp, RenewedAccess, RequestId, REQUEST_ID};
use crate::telemetry::metrics::Metrics;

/// What the request middleware reads, registered as its own `web::Data`.
pub struct RequestConfig {
    /// Proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// How long a request body may take to arrive.
    pub body_read_timeout: std::time::Duration,
    pub metrics: Arc<Metrics>,
}

fn request_id(req: &ServiceRequest) -> String {
    req.headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty()
                && v.len() <= 128
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
        })
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
}

/// Security headers on every answer, unless a handler set its own (the docs pages set
/// their CSP). Outermost, so answers made by the middleware itself get them too.
pub fn security_headers() -> DefaultHeaders {
    DefaultHeaders::new()
        .add((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .add((header::REFERRER_POLICY, "no-referrer"))
        .add((header::CONTENT_SECURITY_POLICY, "frame-ancestors 'none'"))
        .add((header::X_FRAME_OPTIONS, "DENY"))
}

pub async fn request_context(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let started = Instant::now();
    let id = request_id(&req);
    let config = req.app_data::<web::Data<RequestConfig>>().cloned();
    let body_timed_out = match &config {
        Some(c) => body_timeout::limit(&mut req, c.body_read_timeout),
        None => Default::default(),
    };
    let forwarded = req
        .headers()
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok());
    let trusted = config.as_ref().map_or(&[][..], |c| &c.trusted_proxies[..]);
    let ip = resolve(req.peer_addr().map(|a| a.ip()), forwarded, trusted);
    if let Some(ip) = ip {
        req.extensions_mut().insert(ClientIp(ip));
    }
    req.extensions_mut().insert(RequestId(id.clone()));
    let method = req.method().clone();
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        method = %method,
        route = tracing::field::Empty,
        client_ip = tracing::field::Empty,
        user_id = tracing::field::Empty,
    );
    if let Some(ip) = ip {
        span.record("client_ip", tracing::field::display(ip));
    }

    let res = next.call(req).instrument(span.clone()).await?;
    let mut res = if body_timed_out.get() {
        let (req, _) = res.into_parts();
        ServiceResponse::new(req, body_timeout::timed_out().error_response()).map_into_boxed_body()
    } else {
        res.map_into_boxed_body()
    };

    if let Ok(v) = HeaderValue::from_str(&id) {
        res.headers_mut()
            .insert(HeaderName::from_static(REQUEST_ID), v);
    }
    let renewed = res.request().extensions().get::<RenewedAccess>().cloned();
    if let Some(RenewedAccess(cookie)) = renewed {
        let _ = res.response_mut().add_cookie(&cookie);
    }

    // Only the route pattern is logged, never the raw path or query (they may hold
    // tokens). Asked once routing is done, actix finds it without matching the path
    // against every route's pattern again.
    let route = res
        .request()
        .match_pattern()
        .unwrap_or_else(|| "-".to_owned());
    span.record("route", route.as_str());
    let status = res.status().as_u16();
    let took = started.elapsed();
    if let Some(config) = &config {
        config
            .metrics
            .observe_request(method.as_str(), &route, status, took);
    }
    let latency_ms = took.as_secs_f64() * 1000.0;
    span.in_scope(|| {
        if status >= 500 {
            tracing::error!(status, latency_ms, "request finished");
        } else {
            tracing::info!(status, latency_ms, "request finished");
        }
    });
    Ok(res)
}
