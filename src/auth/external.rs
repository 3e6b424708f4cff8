//! An institution's identity service vouching for its users. At login, a name that is
//! not a local account is sent with its password to `COFFER_AUTH_EXTERNAL_URL`: a JSON
//! POST `{username, password, client_ip}` signed with an HMAC-SHA256 of the timestamp
//! and the body (`X-Coffer-Timestamp`, `X-Coffer-Signature: sha256=<hex>`), within a
//! timeout, over verified TLS. `200 {subject, username, email, groups}` vouches for the
//! user; `401`/`403` refuses the password; anything else — an error status, a timeout,
//! a refused connection, a body that does not parse — is a failure, and after
//! `breaker_failures` failures in a row nothing is forwarded for `breaker_open` (login
//! answers `503 IDENTITY_PROVIDER_UNAVAILABLE` at once). The password is never stored
//! and never logged.

use std::sync::atomic::{AtomicI64, AtomicU32, Ordering};
use std::time::Duration;

use secrecy::{ExposeSecret as _, SecretString};
use serde::Deserialize;

use super::AuthError;
use crate::config::ExternalAuthSettings;

/// Who the provider says the user is.
#[derive(Debug, Clone, Deserialize)]
pub struct Identity {
    /// The provider's stable id of the user.
    pub subject: String,
    pub username: String,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub groups: Vec<String>,
}

/// The provider's answer to a password.
pub enum Verdict {
    Valid(Identity),
    /// A wrong password or an unknown user.
    Refused,
}

/// Counts failures in a row and stops forwarding for a while after too many.
struct Breaker {
    failures: AtomicU32,
    open_until_ms: AtomicI64,
    threshold: u32,
    open_for: Duration,
}

impl Breaker {
    fn closed(&self) -> bool {
        chrono::Utc::now().timestamp_millis() >= self.open_until_ms.load(Ordering::Acquire)
    }

    fn success(&self) {
        self.failures.store(0, Ordering::Release);
    }

    fn failure(&self) {
        let failures = self.failures.fetch_add(1, Ordering::AcqRel) + 1;
        if failures >= self.threshold {
            let until = chrono::Utc::now().timestamp_millis() + self.open_for.as_millis() as i64;
            self.open_until_ms.store(until, Ordering::Release);
            tracing::warn!(
                failures,
                open_seconds = self.open_for.as_secs(),
                "identity provider failing: not forwarding logins for a while"
            );
        }
    }
}

/// The configured identity provider.
pub struct ExternalProvider {
    client: reqwest::Client,
    url: String,
    secret: SecretString,
    /// Half of the key of its users' accounts (with their subject).
    pub name: String,
    admin_groups: Vec<String>,
    breaker: Breaker,
}

/// Longest subject accepted (the column's size).
const MAX_SUBJECT: usize = 255;

impl ExternalProvider {
    /// The provider `settings` describe; `None` when none is configured.
    pub fn from_settings(
        settings: &ExternalAuthSettings,
    ) -> Result<Option<ExternalProvider>, String> {
        let (Some(url), Some(secret)) = (&settings.url, &settings.secret) else {
            return Ok(None);
        };
        let client = reqwest::Client::builder()
            .timeout(settings.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Some(ExternalProvider {
            client,
            url: url.clone(),
            secret: secret.clone(),
            name: settings.name.clone(),
            admin_groups: settings.admin_groups.clone(),
            breaker: Breaker {
                failures: AtomicU32::new(0),
                open_until_ms: AtomicI64::new(0),
                threshold: settings.breaker_failures,
                open_for: settings.breaker_open,
            },
        }))
    }

    /// Whether `identity` belongs to a group mapped to the admin role.
    pub fn is_admin(&self, identity: &Identity) -> bool {
        identity
            .groups
            .iter()
            .any(|g| self.admin_groups.iter().any(|a| a == g))
    }

    /// Asks the provider about `username` and `password`.
    pub async fn check(
        &self,
        username: &str,
        password: &SecretString,
        client_ip: Option<&str>,
    ) -> Result<Verdict, AuthError> {
        if !self.breaker.closed() {
            return Err(AuthError::ProviderUnavailable);
        }
        let body = serde_json::to_vec(&serde_json::json!({
            "username": username,
            "password": password.expose_secret(),
            "client_ip": client_ip,
        }))
        .map_err(|e| AuthError::Internal(e.to_string()))?;
        let timestamp = chrono::Utc::now().timestamp().to_string();
        let signature = sign(self.secret.expose_secret().as_bytes(), &timestamp, &body);
        let sent = self
            .client
            .post(&self.url)
            .header("content-type", "application/json")
            .header("x-coffer-timestamp", &timestamp)
            .header("x-coffer-signature", format!("sha256={signature}"))
            .body(body)
            .send()
            .await;
        let verdict = match sent {
            Ok(res) if res.status().as_u16() == 200 => match res.json::<Identity>().await {
                Ok(identity) if valid(&identity) => Some(Verdict::Valid(identity)),
                _ => {
                    tracing::warn!("identity provider answered a body that is not an identity");
                    None
                }
            },
            Ok(res) if matches!(res.status().as_u16(), 401 | 403) => Some(Verdict::Refused),
            Ok(res) => {
                tracing::warn!(status = res.status().as_u16(), "identity provider failed");
                None
            }
            Err(e) => {
                // The error names the URL, never the body.
                let timeout = e.is_timeout();
                tracing::warn!(error = %e.without_url(), timeout, "identity provider unreachable");
                None
            }
        };
        match verdict {
            Some(v) => {
                self.breaker.success();
                Ok(v)
            }
            None => {
                self.breaker.failure();
                Err(AuthError::ProviderUnavailable)
            }
        }
    }
}

/// Whether the answer names a subject. (Whether its username suits Coffer is the
/// caller's check.)
fn valid(identity: &Identity) -> bool {
    !identity.subject.is_empty() && identity.subject.len() <= MAX_SUBJECT
}

/// HMAC-SHA256 of `timestamp`, a dot and `body`, in hex: what the provider checks.
pub fn sign(secret: &[u8], timestamp: &str, body: &[u8]) -> String {
    let message = [timestamp.as_bytes(), b".", body].concat();
    hex::encode(crate::storage::sigv4::hmac(secret, &message))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_cover_the_timestamp_and_the_body() {
        let a = sign(b"k", "1700000000", b"{}");
        assert_eq!(a.len(), 64);
        assert_ne!(a, sign(b"k", "1700000001", b"{}"));
        assert_ne!(a, sign(b"k", "1700000000", b"{ }"));
        assert_ne!(a, sign(b"j", "1700000000", b"{}"));
        // Python: hmac.new(b"k", b"1700000000.{}", hashlib.sha256).hexdigest()
        assert_eq!(
            a,
            "c6ef4734033cee2367414a0939385eca0397754aa7a59716da7463a9298b5146"
        );
    }
}
