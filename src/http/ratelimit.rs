//! In-process rate limits (per replica): per client IP on the credential endpoints,
//! per user everywhere else.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use actix_web::http::StatusCode;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use uuid::Uuid;

use std::sync::Arc;

use crate::config::RateLimit;
use crate::error::AppError;
use crate::telemetry::metrics::Metrics;

pub struct RateLimits {
    ip: DefaultKeyedRateLimiter<IpAddr>,
    user: DefaultKeyedRateLimiter<Uuid>,
    public: DefaultKeyedRateLimiter<IpAddr>,
    link_password: DefaultKeyedRateLimiter<Uuid>,
    link_password_ip: DefaultKeyedRateLimiter<IpAddr>,
    device_code: DefaultKeyedRateLimiter<Uuid>,
    device_code_ip: DefaultKeyedRateLimiter<IpAddr>,
    clock: DefaultClock,
    metrics: Arc<Metrics>,
}

fn quota(rl: RateLimit) -> Quota {
    let per_minute = NonZeroU32::new(rl.per_minute).unwrap_or(NonZeroU32::MIN);
    let burst = NonZeroU32::new(rl.burst).unwrap_or(NonZeroU32::MIN);
    Quota::per_minute(per_minute).allow_burst(burst)
}

impl RateLimits {
    pub fn new(
        auth: RateLimit,
        user: RateLimit,
        public: RateLimit,
        link_password: RateLimit,
        device_code: RateLimit,
        metrics: Arc<Metrics>,
    ) -> RateLimits {
        RateLimits {
            metrics,
            ip: RateLimiter::keyed(quota(auth)),
            user: RateLimiter::keyed(quota(user)),
            public: RateLimiter::keyed(quota(public)),
            link_password: RateLimiter::keyed(quota(link_password)),
            link_password_ip: RateLimiter::keyed(quota(link_password)),
            device_code: RateLimiter::keyed(quota(device_code)),
            device_code_ip: RateLimiter::keyed(quota(device_code)),
            clock: DefaultClock::default(),
        }
    }

    fn refused(&self, limit: &'static str, wait: Duration) -> AppError {
        self.metrics.rate_limited(limit);
        AppError::retry_later(
            StatusCode::TOO_MANY_REQUESTS,
            "RATE_LIMITED",
            "Too many requests; slow down.",
            wait.as_secs_f64().ceil() as u64,
        )
    }

    pub fn check_ip(&self, ip: IpAddr) -> Result<(), AppError> {
        self.ip
            .check_key(&ip)
            .map_err(|not_until| self.refused("auth", not_until.wait_time_from(self.clock.now())))
    }

    pub fn check_user(&self, user: Uuid) -> Result<(), AppError> {
        self.user
            .check_key(&user)
            .map_err(|not_until| self.refused("user", not_until.wait_time_from(self.clock.now())))
    }

    /// Every request to a public share-link endpoint.
    pub fn check_public(&self, ip: IpAddr) -> Result<(), AppError> {
        self.public
            .check_key(&ip)
            .map_err(|not_until| self.refused("public", not_until.wait_time_from(self.clock.now())))
    }

    /// A password attempt on a share link: limited per link and per client IP.
    pub fn check_link_password(&self, link: Uuid, ip: IpAddr) -> Result<(), AppError> {
        let wait = |not_until: governor::NotUntil<_>| {
            self.refused("link_password", not_until.wait_time_from(self.clock.now()))
        };
        self.link_password_ip.check_key(&ip).map_err(wait)?;
        self.link_password.check_key(&link).map_err(wait)
    }

    /// A look at (or decision on) a device login by its user code: limited per user and
    /// per client IP, so user codes cannot be guessed.
    pub fn check_device_code(&self, user: Uuid, ip: IpAddr) -> Result<(), AppError> {
        let wait = |not_until: governor::NotUntil<_>| {
            self.refused("device_code", not_until.wait_time_from(self.clock.now()))
        };
        self.device_code_ip.check_key(&ip).map_err(wait)?;
        self.device_code.check_key(&user).map_err(wait)
    }

    /// Forgets keys whose limits have fully recovered, so memory stays bounded.
    pub fn shrink(&self) {
        self.device_code.retain_recent();
        self.device_code_ip.retain_recent();
        self.ip.retain_recent();
        self.user.retain_recent();
        self.public.retain_recent();
        self.link_password.retain_recent();
        self.link_password_ip.retain_recent();
    }
}
