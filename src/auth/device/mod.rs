//! Device login (RFC 8628) for command-line clients on machines without a browser: the
//! client asks for a device code and a short user code, shows the user code and a link,
//! and polls; a signed-in user opens the link, sees what is asking (client name, host,
//! IP, time) and approves or denies; the next poll after an approval gets a session.
//!
//! Both codes are stored only as SHA-256 hashes. A device code is redeemed once. User
//! codes are 8 letters from `BCDFGHJKLMNPQRSTVWXZ` (no vowels, no look-alikes: 20⁸ ≈
//! 2.6·10¹⁰), live 10 minutes, and every lookup of one counts against per-user and
//! per-IP limits, so they cannot be guessed.

pub mod dto;
pub mod page;
pub mod repo;
pub mod routes;

use chrono::{Duration, Utc};
use rand::RngCore as _;
use uuid::Uuid;

use super::tokens::hash_token;
use crate::db::Db;
use crate::entity::device_codes::{DeviceState, Model};
use crate::runtime::Runtime;

/// The letters of user codes.
pub const USER_CODE_ALPHABET: &[u8; 20] = b"BCDFGHJKLMNPQRSTVWXZ";
/// Letters in a user code.
const USER_CODE_LEN: usize = 8;
/// Seconds a device code lives.
pub const EXPIRES_IN: i64 = 600;
/// Seconds a device waits between polls, at first.
pub const INTERVAL: i32 = 5;
/// Seconds added to the interval on each `slow_down`.
pub const SLOW_DOWN_STEP: i32 = 5;
/// Longest client name and host.
const MAX_NAME_CHARS: usize = 100;
const MAX_HOST_CHARS: usize = 255;
/// Codes that ended longer ago than this are cleared.
const KEEP_ENDED: Duration = Duration::hours(1);

/// Why a device-login step failed; knows nothing of HTTP.
#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    #[error("device login is turned off")]
    Disabled,
    #[error("{0}")]
    Invalid(String),
    #[error("no such user code, or it expired")]
    UnknownCode,
    #[error("the request was already approved or denied")]
    Decided,
    #[error("database: {0}")]
    Db(#[from] sea_orm::DbErr),
}

/// A started device login: what the device shows and keeps.
pub struct Started {
    pub id: Uuid,
    pub device_code: String,
    /// `XXXX-XXXX`.
    pub user_code: String,
    pub expires_in: i64,
    pub interval: i32,
}

/// What a poll finds (RFC 8628 §3.5).
#[derive(Debug, PartialEq, Eq)]
pub enum Poll {
    Pending,
    SlowDown,
    Denied,
    Expired,
    /// Unknown, or already redeemed: device codes are single use.
    Invalid,
    /// Approved by this user, and now redeemed by this poll.
    Approved {
        id: Uuid,
        user: Uuid,
    },
}

/// A pending (or decided) device login as the approving user sees it.
pub type Request = Model;

/// Starts, polls, shows and decides device logins.
#[derive(Clone)]
pub struct DeviceLogins {
    db: Db,
    runtime: Runtime,
}

impl DeviceLogins {
    pub fn new(db: Db, runtime: Runtime) -> DeviceLogins {
        DeviceLogins { db, runtime }
    }

    async fn require_enabled(&self) -> Result<(), DeviceError> {
        match self.runtime.get().await?.device_login_enabled {
            true => Ok(()),
            false => Err(DeviceError::Disabled),
        }
    }

    /// Starts a device login for the client `name` on `host`, asking from `ip`.
    pub async fn start(
        &self,
        name: &str,
        host: &str,
        ip: Option<String>,
    ) -> Result<Started, DeviceError> {
        self.require_enabled().await?;
        let name = checked_text(name, MAX_NAME_CHARS, "client_name")?;
        let host = checked_text(host, MAX_HOST_CHARS, "host")?;
        let now = Utc::now();
        let device_code = new_device_code();
        let user_code = new_user_code();
        let row = Model {
            id: Uuid::now_v7(),
            device_code_hash: hash_token(&device_code),
            user_code_hash: hash_token(&user_code),
            client_name: name.to_owned(),
            client_host: host.to_owned(),
            client_ip: ip,
            state: DeviceState::Pending,
            user_id: None,
            interval_secs: INTERVAL,
            last_poll_at: None,
            created_at: now,
            expires_at: now + Duration::seconds(EXPIRES_IN),
            decided_at: None,
        };
        let txn = self.db.write().await?;
        repo::clear_ended(&*txn, now - KEEP_ENDED).await?;
        repo::insert(&*txn, row.clone()).await?;
        txn.commit().await?;
        Ok(Started {
            id: row.id,
            device_code,
            user_code: display_user_code(&user_code),
            expires_in: EXPIRES_IN,
            interval: INTERVAL,
        })
    }

    /// One poll of the device holding `device_code`.
    pub async fn poll(&self, device_code: &str) -> Result<Poll, DeviceError> {
        self.require_enabled().await?;
        let now = Utc::now();
        let hash = hash_token(device_code);
        let txn = self.db.write().await?;
        let Some(row) = repo::find_by_device_code(&*txn, &hash).await? else {
            return Ok(Poll::Invalid);
        };
        if row.state == DeviceState::Redeemed {
            return Ok(Poll::Invalid);
        }
        if now >= row.expires_at {
            return Ok(Poll::Expired);
        }
        let too_soon = row
            .last_poll_at
            .is_some_and(|t| now < t + Duration::seconds(i64::from(row.interval_secs)));
        let interval = match too_soon {
            true => row.interval_secs + SLOW_DOWN_STEP,
            false => row.interval_secs,
        };
        repo::polled(&*txn, row.id, now, interval).await?;
        let outcome = match (too_soon, row.state, row.user_id) {
            (true, _, _) => Poll::SlowDown,
            (false, DeviceState::Pending, _) => Poll::Pending,
            (false, DeviceState::Denied, _) => Poll::Denied,
            (false, DeviceState::Approved, Some(user)) if repo::redeem(&*txn, row.id).await? => {
                Poll::Approved { id: row.id, user }
            }
            _ => Poll::Invalid,
        };
        txn.commit().await?;
        Ok(outcome)
    }

    /// The unexpired device login behind `user_code`, for the user deciding it.
    pub async fn show(&self, user_code: &str) -> Result<Request, DeviceError> {
        self.require_enabled().await?;
        let code = normalize_user_code(user_code).ok_or(DeviceError::UnknownCode)?;
        repo::find_by_user_code(self.db.conn(), &hash_token(&code))
            .await?
            .filter(|r| r.expires_at > Utc::now())
            .ok_or(DeviceError::UnknownCode)
    }

    /// Approves (or denies) the pending device login behind `user_code` as `user`.
    pub async fn decide(
        &self,
        user: Uuid,
        user_code: &str,
        approve: bool,
    ) -> Result<Request, DeviceError> {
        let request = self.show(user_code).await?;
        let state = match approve {
            true => DeviceState::Approved,
            false => DeviceState::Denied,
        };
        let txn = self.db.write().await?;
        let decided = repo::decide(&*txn, request.id, user, state, Utc::now()).await?;
        txn.commit().await?;
        match decided {
            true => Ok(Model {
                state,
                user_id: Some(user),
                ..request
            }),
            false => Err(DeviceError::Decided),
        }
    }
}

fn checked_text<'a>(s: &'a str, max: usize, field: &str) -> Result<&'a str, DeviceError> {
    let s = s.trim();
    if s.is_empty() || s.chars().count() > max || s.chars().any(char::is_control) {
        return Err(DeviceError::Invalid(format!(
            "{field} must be 1 to {max} characters, without control characters."
        )));
    }
    Ok(s)
}

/// 256 random bits, URL-safe.
fn new_device_code() -> String {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine as _;
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Eight letters of [`USER_CODE_ALPHABET`], uniformly (bytes ≥ 240 are drawn again).
fn new_user_code() -> String {
    let mut code = String::with_capacity(USER_CODE_LEN);
    let mut byte = [0u8; 1];
    while code.len() < USER_CODE_LEN {
        rand::rngs::OsRng.fill_bytes(&mut byte);
        if byte[0] < 240 {
            code.push(char::from(USER_CODE_ALPHABET[usize::from(byte[0] % 20)]));
        }
    }
    code
}

/// `BCDFGHJK` as people read it: `BCDF-GHJK`.
fn display_user_code(code: &str) -> String {
    format!("{}-{}", &code[..4], &code[4..])
}

/// A user code as typed (any case, with or without the dash and spaces) in its stored
/// form; `None` when it cannot be one.
pub fn normalize_user_code(typed: &str) -> Option<String> {
    let code: String = typed
        .chars()
        .filter(|c| !matches!(c, '-' | ' '))
        .map(|c| c.to_ascii_uppercase())
        .collect();
    let valid =
        code.len() == USER_CODE_LEN && code.bytes().all(|b| USER_CODE_ALPHABET.contains(&b));
    valid.then_some(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_codes_use_the_alphabet_and_read_back_however_typed() {
        for _ in 0..200 {
            let code = new_user_code();
            assert_eq!(code.len(), 8);
            assert!(
                code.bytes().all(|b| USER_CODE_ALPHABET.contains(&b)),
                "{code}"
            );
            let shown = display_user_code(&code);
            assert_eq!(shown.len(), 9);
            assert_eq!(normalize_user_code(&shown).as_deref(), Some(code.as_str()));
            assert_eq!(
                normalize_user_code(&shown.to_lowercase()).as_deref(),
                Some(code.as_str())
            );
        }
        assert_eq!(
            normalize_user_code("ABCD-EFGH"),
            None,
            "vowels never appear"
        );
        assert_eq!(normalize_user_code("BCDF-GHJ"), None);
        assert_eq!(normalize_user_code(""), None);
    }

    #[test]
    fn device_codes_carry_256_bits() {
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;
        use base64::Engine as _;
        let code = new_device_code();
        assert_eq!(URL_SAFE_NO_PAD.decode(&code).expect("base64").len(), 32);
        assert_ne!(code, new_device_code());
    }
}
