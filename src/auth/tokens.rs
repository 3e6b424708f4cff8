//! Access tokens (JWT HS256) and opaque refresh tokens.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use uuid::Uuid;

/// The only value of `typ` an access token may carry. Refresh and share tokens are opaque
/// random strings, never JWTs, so nothing else can satisfy it.
pub const ACCESS_TOKEN_TYPE: &str = "coffer-access";
/// Clock skew tolerated on `exp` and `nbf`.
pub const LEEWAY_SECS: u64 = 5;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    pub aud: String,
    pub sub: Uuid,
    pub exp: i64,
    pub nbf: i64,
    pub iat: i64,
    pub jti: Uuid,
    /// Token type; see [`ACCESS_TOKEN_TYPE`].
    pub typ: String,
    /// The refresh-token family (session) the token was issued in.
    pub sid: Uuid,
    /// The user's `tokens_valid_after` when the token was issued: bumping it on the
    /// user revokes every earlier token at once.
    pub ver: i64,
    /// The user's name when the token was issued, for clients that read it from the
    /// payload (the benchwrap client does); never trusted by the server.
    #[serde(default)]
    pub username: String,
}

pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    issuer: String,
    audience: String,
    ttl_secs: i64,
}

impl TokenKeys {
    pub fn new(secret: &[u8], issuer: &str, audience: &str, ttl: std::time::Duration) -> TokenKeys {
        // Pinned to HS256: `alg: none` and every other algorithm are refused.
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.leeway = LEEWAY_SECS;
        TokenKeys {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
            ttl_secs: ttl.as_secs() as i64,
        }
    }

    pub fn ttl_secs(&self) -> i64 {
        self.ttl_secs
    }

    /// Issues an access token; returns it with its `exp`.
    pub fn issue(
        &self,
        user_id: Uuid,
        username: &str,
        session_id: Uuid,
        ver: i64,
    ) -> Result<(String, i64), jsonwebtoken::errors::Error> {
        let now = chrono::Utc::now().timestamp();
        let claims = AccessClaims {
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            sub: user_id,
            exp: now + self.ttl_secs,
            nbf: now,
            iat: now,
            jti: Uuid::new_v4(),
            typ: ACCESS_TOKEN_TYPE.to_owned(),
            sid: session_id,
            ver,
            username: username.to_owned(),
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)?;
        Ok((token, claims.exp))
    }

    /// Validates signature, algorithm, issuer, audience, times and type, and that the
    /// token lives no longer than this server issues them for (`exp - iat` within the
    /// configured lifetime, `iat` not in the future): a token minted with a leaked
    /// secret cannot be made to last.
    pub fn validate(&self, token: &str) -> Option<AccessClaims> {
        let data =
            jsonwebtoken::decode::<AccessClaims>(token, &self.decoding, &self.validation).ok()?;
        let c = data.claims;
        let now = chrono::Utc::now().timestamp();
        let honest = c.exp - c.iat <= self.ttl_secs && c.iat <= now + LEEWAY_SECS as i64;
        (c.typ == ACCESS_TOKEN_TYPE && honest).then_some(c)
    }
}

impl AccessClaims {
    /// Whether the token's time window holds now (the checks `validate` made).
    pub fn in_time_window(&self, now: i64) -> bool {
        let leeway = LEEWAY_SECS as i64;
        self.exp >= now - leeway && self.nbf <= now + leeway
    }
}

/// A new refresh token: 256 random bits, URL-safe.
pub fn new_refresh_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// What is stored instead of a refresh token: its SHA-256, hex. The token carries 256
/// random bits, so a fast hash is enough (no dictionary to attack).
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn keys() -> TokenKeys {
        TokenKeys::new(&[7u8; 32], "coffer", "coffer-api", Duration::from_secs(300))
    }

    #[test]
    fn issued_tokens_validate_and_carry_their_claims() {
        let k = keys();
        let (user, sid) = (Uuid::new_v4(), Uuid::new_v4());
        let (token, exp) = k.issue(user, "ada", sid, 42).expect("issue");
        let c = k.validate(&token).expect("valid");
        assert_eq!((c.sub, c.sid, c.ver, c.exp), (user, sid, 42, exp));
        assert_eq!(c.exp - c.iat, 300);
    }

    #[test]
    fn wrong_secret_audience_or_issuer_is_refused() {
        let (token, _) = keys()
            .issue(Uuid::new_v4(), "ada", Uuid::new_v4(), 0)
            .expect("issue");
        let other_secret =
            TokenKeys::new(&[8u8; 32], "coffer", "coffer-api", Duration::from_secs(300));
        assert!(other_secret.validate(&token).is_none());
        let other_aud = TokenKeys::new(&[7u8; 32], "coffer", "elsewhere", Duration::from_secs(300));
        assert!(other_aud.validate(&token).is_none());
        let other_iss = TokenKeys::new(
            &[7u8; 32],
            "someone",
            "coffer-api",
            Duration::from_secs(300),
        );
        assert!(other_iss.validate(&token).is_none());
    }

    #[test]
    fn correctly_signed_tokens_that_live_too_long_are_refused() {
        let k = keys();
        let now = chrono::Utc::now().timestamp();
        let forge = |iat: i64, exp: i64| {
            let claims = AccessClaims {
                iss: "coffer".into(),
                aud: "coffer-api".into(),
                sub: Uuid::new_v4(),
                exp,
                nbf: now,
                iat,
                jti: Uuid::new_v4(),
                typ: ACCESS_TOKEN_TYPE.into(),
                sid: Uuid::new_v4(),
                ver: 0,
                username: String::new(),
            };
            jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &k.encoding)
                .expect("encode")
        };
        assert!(
            k.validate(&forge(now, now + 300)).is_some(),
            "the normal lifetime"
        );
        assert!(
            k.validate(&forge(now, now + 301)).is_none(),
            "a second too long"
        );
        assert!(
            k.validate(&forge(now, now + 86_400 * 365)).is_none(),
            "a year"
        );
        assert!(
            k.validate(&forge(now + 3600, now + 3700)).is_none(),
            "issued in the future"
        );
    }

    #[test]
    fn the_time_window_matches_validation() {
        let k = keys();
        let (token, exp) = k
            .issue(Uuid::new_v4(), "ada", Uuid::new_v4(), 0)
            .expect("issue");
        let c = k.validate(&token).expect("valid");
        assert!(c.in_time_window(c.iat));
        assert!(c.in_time_window(exp + LEEWAY_SECS as i64));
        assert!(!c.in_time_window(exp + LEEWAY_SECS as i64 + 1), "expired");
        assert!(
            !c.in_time_window(c.nbf - LEEWAY_SECS as i64 - 1),
            "not yet valid"
        );
    }

    #[test]
    fn refresh_tokens_are_long_random_and_hashed() {
        let a = new_refresh_token();
        assert_eq!(URL_SAFE_NO_PAD.decode(&a).expect("base64").len(), 32);
        assert_ne!(a, new_refresh_token());
        assert_eq!(hash_token(&a).len(), 64);
        assert_ne!(hash_token(&a), a);
    }
}
