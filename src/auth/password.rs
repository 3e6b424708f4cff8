//! Password hashing (argon2id, m = 19 MiB, t = 2, p = 1) on the blocking pool, behind a
//! bound on concurrent hashes, and the password policy.

use std::sync::Arc;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Semaphore;

use super::AuthError;

pub const MIN_PASSWORD_CHARS: usize = 8;
pub const MAX_PASSWORD_CHARS: usize = 1024;

/// The most common passwords of at least eight characters, refused at registration and
/// password change.
const COMMON_PASSWORDS: &str = include_str!("common_passwords.txt");

fn argon2() -> Argon2<'static> {
    // OWASP's first argon2id choice: m = 19 MiB, t = 2, p = 1.
    #[allow(clippy::expect_used)]
    let params = Params::new(19 * 1024, 2, 1, None).expect("static argon2 parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hashes and verifies passwords without letting a login storm starve the runtime.
#[derive(Clone)]
pub struct PasswordHasher {
    permits: Arc<Semaphore>,
    /// A hash of a random password, verified when a username does not exist, so that a
    /// login for an unknown user costs as much as one for a known user.
    dummy_hash: Arc<str>,
}

impl PasswordHasher {
    pub fn new(max_concurrent: usize) -> Result<PasswordHasher, AuthError> {
        let random = uuid::Uuid::new_v4().to_string();
        let dummy_hash = hash_blocking(&random)?;
        Ok(PasswordHasher {
            permits: Arc::new(Semaphore::new(max_concurrent)),
            dummy_hash: dummy_hash.into(),
        })
    }

    pub async fn hash(&self, password: &SecretString) -> Result<String, AuthError> {
        let _permit = self
            .permits
            .clone()
            .try_acquire_owned()
            .map_err(|_| AuthError::Busy)?;
        let password = password.clone();
        tokio::task::spawn_blocking(move || hash_blocking(password.expose_secret()))
            .await
            .map_err(|e| AuthError::Internal(e.to_string()))?
    }

    /// Verifies `password` against `hash`, or against the dummy hash when there is no
    /// user (then the answer is always false, after the same work).
    pub async fn verify(
        &self,
        password: &SecretString,
        hash: Option<&str>,
    ) -> Result<bool, AuthError> {
        let _permit = self
            .permits
            .clone()
            .try_acquire_owned()
            .map_err(|_| AuthError::Busy)?;
        let exists = hash.is_some();
        let hash = hash
            .map(str::to_owned)
            .unwrap_or_else(|| self.dummy_hash.to_string());
        let password = password.clone();
        let ok = tokio::task::spawn_blocking(move || {
            PasswordHash::new(&hash)
                .map(|parsed| {
                    argon2()
                        .verify_password(password.expose_secret().as_bytes(), &parsed)
                        .is_ok()
                })
                .unwrap_or(false)
        })
        .await
        .map_err(|e| AuthError::Internal(e.to_string()))?;
        Ok(exists && ok)
    }
}

fn hash_blocking(password: &str) -> Result<String, AuthError> {
    let salt = SaltString::generate(&mut OsRng);
    argon2()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AuthError::Internal(e.to_string()))
}

/// The password policy: 8–1024 characters, not one of the most common passwords.
pub fn check_policy(password: &SecretString) -> Result<(), AuthError> {
    let p = password.expose_secret();
    let chars = p.chars().count();
    if !(MIN_PASSWORD_CHARS..=MAX_PASSWORD_CHARS).contains(&chars) {
        return Err(AuthError::WeakPassword(format!(
            "The password must be {MIN_PASSWORD_CHARS} to {MAX_PASSWORD_CHARS} characters long."
        )));
    }
    let lower = p.to_lowercase();
    if COMMON_PASSWORDS
        .lines()
        .any(|common| common.trim() == lower)
    {
        return Err(AuthError::WeakPassword(
            "The password is one of the most common passwords; choose another.".to_owned(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_refuses_short_long_and_common_passwords() {
        let s = |p: &str| SecretString::from(p.to_owned());
        assert!(check_policy(&s("short")).is_err());
        assert!(check_policy(&s(&"a".repeat(1025))).is_err());
        assert!(check_policy(&s("password123")).is_err());
        assert!(check_policy(&s("PassWord123")).is_err());
        assert!(check_policy(&s("correct horse battery staple")).is_ok());
    }

    #[test]
    fn hashes_are_argon2id_with_the_chosen_cost() {
        let h = hash_blocking("correct horse battery staple").expect("hash");
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
    }

    #[tokio::test]
    async fn verify_accepts_right_password_only_and_never_a_missing_user() {
        let hasher = PasswordHasher::new(2).expect("hasher");
        let pw = SecretString::from("correct horse battery staple".to_owned());
        let h = hasher.hash(&pw).await.expect("hash");
        assert!(hasher.verify(&pw, Some(&h)).await.expect("verify"));
        let wrong = SecretString::from("incorrect horse".to_owned());
        assert!(!hasher.verify(&wrong, Some(&h)).await.expect("verify"));
        assert!(!hasher.verify(&pw, None).await.expect("verify"));
    }

    #[tokio::test]
    async fn hashing_beyond_the_bound_is_refused_not_queued() {
        let hasher = PasswordHasher::new(1).expect("hasher");
        let _held = hasher.permits.clone().try_acquire_owned().expect("permit");
        let pw = SecretString::from("correct horse battery staple".to_owned());
        assert!(matches!(hasher.hash(&pw).await, Err(AuthError::Busy)));
    }
}
