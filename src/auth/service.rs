//! The auth rules: who may register and log in, how tokens rotate, what revocation does.

use std::sync::{Arc, LazyLock};

use chrono::{DateTime, Utc};
use regex::Regex;
use sea_orm::DatabaseConnection;

use crate::db::Db;
use secrecy::SecretString;
use tracing::instrument;
use uuid::Uuid;

use super::api_tokens::{self, ApiTokens, TokenGrant};
use super::external::{ExternalProvider, Verdict};
use super::password::{check_policy, PasswordHasher};
use super::repo::{self, NewRefresh, NewUser, User};
use super::tokens::{hash_token, new_refresh_token, AccessClaims, TokenKeys};
use super::AuthError;
use crate::cache::TtlCache;
use crate::entity::users::Role;
use crate::runtime::Runtime;

static USERNAME: LazyLock<Regex> = LazyLock::new(|| {
    #[allow(clippy::expect_used)]
    Regex::new(r"^[a-z0-9._-]{3,64}$").expect("static regex")
});

/// Usernames are compared case-insensitively: they are stored lower-cased.
pub fn normalize_username(raw: &str) -> Result<String, AuthError> {
    let name = raw.trim().to_lowercase();
    if USERNAME.is_match(&name) {
        Ok(name)
    } else {
        Err(AuthError::InvalidUsername(
            "A username is 3 to 64 characters of a-z, 0-9, '.', '_' and '-'.".to_owned(),
        ))
    }
}

pub struct NewAccount<'a> {
    pub username: &'a str,
    pub password: &'a SecretString,
    pub email: Option<&'a str>,
    /// `None`: the default role of the runtime settings.
    pub role: Option<Role>,
}

/// Checks the name and password policy, hashes, and inserts an account with the
/// runtime settings' default quota.
pub async fn create_account(
    db: &DatabaseConnection,
    hasher: &PasswordHasher,
    runtime: &Runtime,
    new: NewAccount<'_>,
) -> Result<User, AuthError> {
    let username = normalize_username(new.username)?;
    check_policy(new.password)?;
    if repo::find_user_by_username(db, &username).await?.is_some() {
        return Err(AuthError::UsernameTaken);
    }
    let password_hash = hasher.hash(new.password).await?;
    let defaults = runtime.get().await?;
    let row = NewUser {
        username: &username,
        email: new.email,
        password_hash,
        role: new.role.unwrap_or(defaults.default_role),
        quota_bytes: defaults.default_quota_bytes,
        quota_objects: defaults.default_quota_objects,
        external: None,
    };
    repo::insert_user(db, row)
        .await?
        .ok_or(AuthError::UsernameTaken)
}

/// Where a request came from, recorded on refresh tokens.
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

/// What a successful login or refresh hands out.
pub struct Session {
    pub user: User,
    pub access_token: String,
    pub access_expires_at: i64,
    pub refresh_token: String,
    pub refresh_expires_at: DateTime<Utc>,
}

pub struct AuthPolicy {
    pub refresh_ttl: std::time::Duration,
    pub refresh_absolute_ttl: std::time::Duration,
    /// How long a user row may be served from memory to authenticate a request.
    pub user_cache_ttl: std::time::Duration,
    /// A cookie session's access token is renewed when it has less than this left.
    pub cookie_refresh_before: std::time::Duration,
}

#[derive(Clone)]
pub struct AuthService {
    db: Db,
    hasher: PasswordHasher,
    keys: Arc<TokenKeys>,
    policy: Arc<AuthPolicy>,
    runtime: Runtime,
    cache: Arc<TtlCache<Uuid, User>>,
    /// Tokens whose signature and claims were verified recently; a hit still checks
    /// the time window.
    verified: Arc<TtlCache<String, AccessClaims>>,
    api_tokens: ApiTokens,
    /// The identity provider vouching for users that are not local accounts.
    external: Option<Arc<ExternalProvider>>,
}

/// What an account that only an identity provider vouches for has as its password hash:
/// no password ever matches it.
const NO_LOCAL_PASSWORD: &str = "!external";

impl AuthService {
    pub fn new(
        db: Db,
        hasher: PasswordHasher,
        keys: TokenKeys,
        policy: AuthPolicy,
        runtime: Runtime,
    ) -> AuthService {
        AuthService {
            api_tokens: ApiTokens::new(db.clone(), runtime.clone()),
            runtime,
            db,
            hasher,
            keys: Arc::new(keys),
            cache: Arc::new(TtlCache::new(policy.user_cache_ttl)),
            verified: Arc::new(TtlCache::new(policy.user_cache_ttl)),
            policy: Arc::new(policy),
            external: None,
        }
    }

    /// Lets `provider` vouch for users that are not local accounts.
    pub fn with_external(mut self, provider: Option<ExternalProvider>) -> AuthService {
        self.external = provider.map(Arc::new);
        self
    }

    pub fn keys(&self) -> &TokenKeys {
        &self.keys
    }

    pub fn api_tokens(&self) -> &ApiTokens {
        &self.api_tokens
    }

    /// What a sign-in page offers: whether self-registration and device login are on.
    pub async fn options(&self) -> Result<(bool, bool), AuthError> {
        let now = self.runtime.get().await?;
        Ok((now.registration_open, now.device_login_enabled))
    }

    #[instrument(skip_all, err(level = "info", Display))]
    pub async fn register(
        &self,
        username: &str,
        password: &SecretString,
        email: Option<&str>,
    ) -> Result<User, AuthError> {
        if !self.runtime.get().await?.registration_open {
            return Err(AuthError::RegistrationClosed);
        }
        let user = self.create_user(username, password, email, None).await?;
        tracing::info!(user.id = %user.id, "user registered");
        Ok(user)
    }

    /// Creates an account with `role` (or the default role) and the default quota
    /// (registration, bootstrap).
    pub async fn create_user(
        &self,
        username: &str,
        password: &SecretString,
        email: Option<&str>,
        role: Option<Role>,
    ) -> Result<User, AuthError> {
        create_account(
            self.db.conn(),
            &self.hasher,
            &self.runtime,
            NewAccount {
                username,
                password,
                email,
                role,
            },
        )
        .await
    }

    #[instrument(skip_all, err(level = "info", Display))]
    pub async fn login(
        &self,
        username: &str,
        password: &SecretString,
        client: ClientInfo,
    ) -> Result<Session, AuthError> {
        // An invalid name cannot exist; still do the same work as for a wrong password.
        let user = match normalize_username(username) {
            Ok(name) => repo::find_user_by_username(self.db.conn(), &name).await?,
            Err(_) => None,
        };
        // Local accounts (the break-glass admin among them) never depend on the provider.
        let local = user.as_ref().is_some_and(|u| u.auth_provider.is_none());
        if let (false, Some(provider)) = (local, self.external.clone()) {
            let user = self
                .external_user(&provider, username, password, &client)
                .await?;
            return self.login_as(user, client).await;
        }
        let ok = self
            .hasher
            .verify(password, user.as_ref().map(|u| u.password_hash.as_str()))
            .await?;
        let user = match user {
            Some(u) if ok => u,
            _ => {
                tracing::info!("login refused: invalid credentials");
                return Err(AuthError::InvalidCredentials);
            }
        };
        self.login_as(user, client).await
    }

    /// The account the identity provider vouches for, created on its first login (with
    /// the admin's defaults) and afterwards updated only in what the provider owns: the
    /// name and the email. Role, quota and the disabled flag stay the admin's.
    async fn external_user(
        &self,
        provider: &ExternalProvider,
        username: &str,
        password: &SecretString,
        client: &ClientInfo,
    ) -> Result<User, AuthError> {
        let identity = match provider
            .check(username.trim(), password, client.ip.as_deref())
            .await?
        {
            Verdict::Valid(identity) => identity,
            Verdict::Refused => {
                tracing::info!("login refused by the identity provider");
                return Err(AuthError::InvalidCredentials);
            }
        };
        let name = normalize_username(&identity.username).map_err(|_| {
            tracing::warn!("the identity provider answered a username Coffer cannot use");
            AuthError::ProviderUnavailable
        })?;
        let email = identity.email.as_deref();
        let db = self.db.conn();
        if let Some(user) = repo::find_external(db, &provider.name, &identity.subject).await? {
            if user.username != name || user.email.as_deref() != email {
                if !repo::update_external(db, user.id, &name, email).await? {
                    tracing::warn!(user.id = %user.id, "the provider's new name is taken here; keeping the old one");
                }
                self.forget_user(user.id);
                return repo::find_user(db, user.id)
                    .await?
                    .ok_or(AuthError::InvalidCredentials);
            }
            return Ok(user);
        }
        let defaults = self.runtime.get().await?;
        let role = match provider.is_admin(&identity) {
            true => Role::Admin,
            false => defaults.default_role,
        };
        let row = NewUser {
            username: &name,
            email,
            password_hash: NO_LOCAL_PASSWORD.to_owned(),
            role,
            quota_bytes: defaults.default_quota_bytes,
            quota_objects: defaults.default_quota_objects,
            external: Some((&provider.name, &identity.subject)),
        };
        let user = repo::insert_user(db, row)
            .await?
            .ok_or(AuthError::UsernameTaken)?;
        tracing::info!(user.id = %user.id, "account created for the identity provider's user");
        Ok(user)
    }

    /// A new session for `user`, whose credentials were checked.
    async fn login_as(&self, user: User, client: ClientInfo) -> Result<Session, AuthError> {
        if user.disabled {
            return Err(AuthError::AccountDisabled);
        }
        let now = Utc::now();
        repo::touch_last_login(self.db.conn(), user.id, now).await?;
        let user = User {
            last_login: Some(now),
            ..user
        };
        let family = Uuid::new_v4();
        let absolute = now + self.policy.refresh_absolute_ttl;
        let (session, _) = self
            .new_session(self.db.conn(), user, family, absolute, &client)
            .await?;
        tracing::info!(user.id = %session.user.id, "login");
        Ok(session)
    }

    /// A new session for `user` without a password: a device login the user approved.
    pub async fn session_for(&self, user: Uuid, client: ClientInfo) -> Result<Session, AuthError> {
        let user = repo::find_user(self.db.conn(), user)
            .await?
            .ok_or(AuthError::InvalidCredentials)?;
        self.login_as(user, client).await
    }

    /// Rotates a refresh token. A token presented twice revokes its whole family.
    #[instrument(skip_all, err(level = "info", Display))]
    pub async fn refresh(&self, token: &str, client: ClientInfo) -> Result<Session, AuthError> {
        let record = repo::find_refresh_by_hash(self.db.conn(), &hash_token(token))
            .await?
            .ok_or(AuthError::InvalidRefreshToken)?;
        if record.revoked_at.is_some() {
            return Err(AuthError::InvalidRefreshToken);
        }
        if record.used_at.is_some() {
            return Err(self.reuse_detected(&record).await);
        }
        let now = Utc::now();
        if now >= record.expires_at || now >= record.absolute_expires_at {
            return Err(AuthError::RefreshTokenExpired);
        }
        let user = repo::find_user(self.db.conn(), record.user_id)
            .await?
            .ok_or(AuthError::InvalidRefreshToken)?;
        if user.disabled {
            return Err(AuthError::AccountDisabled);
        }
        let txn = self.db.write().await?;
        if !repo::claim_refresh(&*txn, record.id, now).await? {
            // Someone used it between our read and our claim.
            txn.rollback().await?;
            return Err(self.reuse_detected(&record).await);
        }
        let (session, new_id) = self
            .new_session(
                &*txn,
                user,
                record.family_id,
                record.absolute_expires_at,
                &client,
            )
            .await?;
        repo::set_replaced_by(&*txn, record.id, new_id).await?;
        txn.commit().await?;
        Ok(session)
    }

    async fn reuse_detected(&self, record: &repo::RefreshRecord) -> AuthError {
        match repo::revoke_family(self.db.conn(), record.user_id, record.family_id).await {
            Ok(n) => tracing::warn!(
                security.event = "refresh_token_reuse",
                user.id = %record.user_id,
                family.id = %record.family_id,
                revoked = n,
                "refresh token reused: family revoked"
            ),
            Err(e) => return AuthError::Db(e),
        }
        AuthError::RefreshTokenReused {
            user: record.user_id,
        }
    }

    async fn new_session(
        &self,
        db: &impl sea_orm::ConnectionTrait,
        user: User,
        family: Uuid,
        absolute: DateTime<Utc>,
        client: &ClientInfo,
    ) -> Result<(Session, Uuid), AuthError> {
        let refresh_token = new_refresh_token();
        let expires_at = (Utc::now() + self.policy.refresh_ttl).min(absolute);
        let refresh_id = repo::insert_refresh(
            db,
            NewRefresh {
                user_id: user.id,
                family_id: family,
                token_hash: hash_token(&refresh_token),
                expires_at,
                absolute_expires_at: absolute,
                user_agent: client.user_agent.as_deref(),
                ip: client.ip.clone(),
            },
        )
        .await?;
        let (access_token, access_expires_at) = self
            .keys
            .issue(user.id, &user.username, family, user.tokens_valid_after)
            .map_err(|e| AuthError::Internal(e.to_string()))?;
        let session = Session {
            user,
            access_token,
            access_expires_at,
            refresh_token,
            refresh_expires_at: expires_at,
        };
        Ok((session, refresh_id))
    }

    /// Checks an access token and the user behind it (from the short-lived cache, or
    /// one indexed read).
    pub async fn authenticate(
        &self,
        token: &str,
    ) -> Result<(Arc<User>, Arc<AccessClaims>), AuthError> {
        let claims = self.verify(token).ok_or(AuthError::InvalidAccessToken)?;
        let user = self.cached_user(claims.sub).await?;
        if user.disabled || claims.ver != user.tokens_valid_after {
            return Err(AuthError::InvalidAccessToken);
        }
        Ok((user, claims))
    }

    /// Checks an API token (a string starting with `cft_`): it exists (it is looked up
    /// on every request, so a revocation holds at once everywhere), has not expired,
    /// and its user is enabled. `ip` is recorded as its last use.
    pub async fn authenticate_api_token(
        &self,
        token: &str,
        ip: Option<std::net::IpAddr>,
    ) -> Result<(Arc<User>, Arc<TokenGrant>), AuthError> {
        let (user_id, grant) = self.api_tokens.check(token, ip).await?;
        let user = self.cached_user(user_id).await?;
        if user.disabled {
            return Err(AuthError::InvalidAccessToken);
        }
        Ok((user, grant))
    }

    /// The user behind a credential, from memory when recently read.
    async fn cached_user(&self, id: Uuid) -> Result<Arc<User>, AuthError> {
        if let Some(user) = self.cache.get(&id) {
            return Ok(user);
        }
        let user = Arc::new(
            repo::find_user(self.db.conn(), id)
                .await?
                .ok_or(AuthError::InvalidAccessToken)?,
        );
        self.cache.put(user.id, user.clone());
        Ok(user)
    }

    /// Verifies an access token, from the recent-verification cache when possible.
    fn verify(&self, token: &str) -> Option<Arc<AccessClaims>> {
        if let Some(claims) = self.verified.get(token) {
            if claims.in_time_window(chrono::Utc::now().timestamp()) {
                return Some(claims);
            }
        }
        let claims = Arc::new(self.keys.validate(token)?);
        self.verified.put(token.to_owned(), claims.clone());
        Some(claims)
    }

    /// Whether a cookie session's access token expiring at `exp` (Unix seconds) is due
    /// for renewal.
    pub fn cookie_due(&self, exp: i64) -> bool {
        let left = exp - Utc::now().timestamp();
        left < self.policy.cookie_refresh_before.as_secs() as i64
    }

    /// Forgets the cached row of a user whose auth state changed.
    pub fn forget_user(&self, id: Uuid) {
        self.cache.invalidate(&id);
    }

    /// A new access token for the same session, for cookie sessions near expiry.
    pub fn reissue_access(&self, claims: &AccessClaims) -> Result<(String, i64), AuthError> {
        self.keys
            .issue(claims.sub, &claims.username, claims.sid, claims.ver)
            .map_err(|e| AuthError::Internal(e.to_string()))
    }

    #[instrument(skip_all, err(level = "info", Display))]
    pub async fn logout(&self, user: &User, session: Uuid) -> Result<(), AuthError> {
        repo::revoke_family(self.db.conn(), user.id, session).await?;
        tracing::info!(user.id = %user.id, "logout");
        Ok(())
    }

    #[instrument(skip_all, err(level = "info", Display))]
    pub async fn logout_all(&self, user: &User) -> Result<(), AuthError> {
        repo::revoke_everything(self.db.conn(), user, None).await?;
        self.forget_user(user.id);
        tracing::info!(user.id = %user.id, "logout from every session");
        Ok(())
    }

    #[instrument(skip_all, err(level = "info", Display))]
    pub async fn change_password(
        &self,
        user: &User,
        current: &SecretString,
        new: &SecretString,
    ) -> Result<(), AuthError> {
        if !self
            .hasher
            .verify(current, Some(&user.password_hash))
            .await?
        {
            return Err(AuthError::InvalidCredentials);
        }
        check_policy(new)?;
        let hash = self.hasher.hash(new).await?;
        let before = self.api_tokens.stamp().await;
        let txn = self.db.write().await?;
        repo::revoke_everything(&*txn, user, Some(hash)).await?;
        api_tokens::repo::delete_for_user(&*txn, user.id).await?;
        txn.commit().await?;
        self.forget_user(user.id);
        self.api_tokens.settle(before).await;
        tracing::info!(user.id = %user.id, "password changed; every session and API token revoked");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_are_lowercased_and_checked() {
        assert_eq!(
            normalize_username(" Alice.B-2 ").expect("valid"),
            "alice.b-2"
        );
        for bad in ["ab", "has space", "émile", "a/b", &"x".repeat(65), ""] {
            assert!(normalize_username(bad).is_err(), "{bad:?} accepted");
        }
    }
}
