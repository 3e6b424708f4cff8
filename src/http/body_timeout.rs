//! A deadline for reading the request body. Without one, a client that sends its
//! headers and then dribbles or stops sending the body holds a connection (and a
//! handler) forever. The body is wrapped in a stream that fails once the deadline,
//! counted from the request's arrival, has passed; the request then answers `408` in
//! the documented error shape, whichever extractor was reading.

use std::cell::Cell;
use std::future::Future as _;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::dev::{Payload, ServiceRequest};
use actix_web::error::PayloadError;
use actix_web::web::Bytes;
use actix_web::HttpMessage as _;
use futures_util::Stream;
use tokio::time::Sleep;

use crate::error::AppError;

/// The body of one request, failing once `sleep` fires.
struct TimedPayload {
    inner: Payload,
    sleep: Pin<Box<Sleep>>,
    timed_out: Rc<Cell<bool>>,
}

impl Stream for TimedPayload {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if let Poll::Ready(item) = Pin::new(&mut self.inner).poll_next(cx) {
            return Poll::Ready(item);
        }
        if self.sleep.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        self.timed_out.set(true);
        let timeout = std::io::Error::new(std::io::ErrorKind::TimedOut, "request body timeout");
        Poll::Ready(Some(Err(PayloadError::Io(timeout))))
    }
}

/// Puts the deadline on `req`'s body, if it has one; the flag turns true when it fired.
pub fn limit(req: &mut ServiceRequest, timeout: Duration) -> Rc<Cell<bool>> {
    let timed_out = Rc::new(Cell::new(false));
    let inner = req.take_payload();
    if matches!(inner, Payload::None) {
        return timed_out;
    }
    let timed = TimedPayload {
        inner,
        sleep: Box::pin(tokio::time::sleep(timeout)),
        timed_out: timed_out.clone(),
    };
    req.set_payload(Payload::from(Box::pin(timed) as Pin<Box<_>>));
    timed_out
}

/// The answer to a request whose body did not arrive in time.
pub fn timed_out() -> AppError {
    AppError::new(
        actix_web::http::StatusCode::REQUEST_TIMEOUT,
        "BODY_TIMEOUT",
        "The request body did not arrive in time.",
    )
}
