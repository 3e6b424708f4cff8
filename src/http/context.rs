//! What the request middleware learns about a request and hands to handlers through
//! its extensions: its id, the client's address, and the two together as the origin
//! stamped on audit events; and what handlers hand back to it (a renewed cookie). A leaf: it imports nothing from the crate but the error
//! type its extractors answer with.

use std::net::IpAddr;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpMessage, HttpRequest};

use crate::error::AppError;

/// A fresh access cookie for the middleware to attach to the response (set by the
/// `AuthUser` extractor when a cookie session is close to expiry).
#[derive(Clone)]
pub struct RenewedAccess(pub actix_web::cookie::Cookie<'static>);

/// The header carrying the request id, in and out.
pub const REQUEST_ID: &str = "x-request-id";

/// The id of the current request, honoured from `X-Request-Id` when it looks sane.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// The client's address: the TCP peer, or what a trusted proxy said it was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

impl FromRequest for ClientIp {
    type Error = AppError;
    type Future = std::future::Ready<Result<ClientIp, AppError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        // Set by the request middleware; the peer address is the fallback.
        let ip = req
            .extensions()
            .get::<ClientIp>()
            .copied()
            .or_else(|| req.peer_addr().map(|a| ClientIp(a.ip())))
            .ok_or_else(|| {
                AppError::bad_request("NO_CLIENT_ADDRESS", "The client address is unknown.")
            });
        std::future::ready(ip)
    }
}

/// Where a request came from, for its audit events.
#[derive(Debug, Clone, Default)]
pub struct Origin {
    pub ip: Option<IpAddr>,
    pub request_id: Option<String>,
}

impl Origin {
    pub fn of(req: &HttpRequest) -> Origin {
        let ext = req.extensions();
        Origin {
            ip: ext
                .get::<ClientIp>()
                .map(|c| c.0)
                .or_else(|| req.peer_addr().map(|a| a.ip())),
            request_id: ext.get::<RequestId>().map(|r| r.0.clone()),
        }
    }
}

impl FromRequest for Origin {
    type Error = AppError;
    type Future = std::future::Ready<Result<Origin, AppError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(Ok(Origin::of(req)))
    }
}
