//! Settings: defaults in code, overridden by environment variables (and `.env` in
//! development). Every variable is listed in `.env.example`. Each section reads and
//! checks its own variables (`sections.rs`); secrets print redacted in `Debug`.

mod database_url;
mod sections;
mod source;

use std::path::PathBuf;
use std::time::Duration;

use ipnet::IpNet;
use secrecy::{ExposeSecret, SecretString};

pub use database_url::DatabaseUrl;
pub use sections::{
    ArchiveSettings, BenchwrapSettings, ExternalAuthSettings, RateLimit, S3Settings, TierSettings,
    UploadSettings, WorkerSettings, MAX_PARTS, MAX_PRESIGN_TTL, MIN_PART_SIZE,
};
pub use source::ConfigError;
use source::{invalid, parse_net, Source};

type Lookup<'a> = Source<&'a dyn Fn(&str) -> Option<String>>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Environment {
    Development,
    Production,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Json,
    Pretty,
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub environment: Environment,
    pub host: String,
    pub port: u16,
    pub data_dir: PathBuf,
    pub database_url: DatabaseUrl,
    pub migrate_on_start: bool,
    pub db_max_connections: u32,
    /// HTTP worker threads.
    pub workers: usize,
    pub log_format: LogFormat,
    pub log_filter: String,

    pub jwt_secret: Option<SecretString>,
    /// Creates this admin at start-up when no admin exists yet (read once).
    pub bootstrap_admin_username: Option<String>,
    pub bootstrap_admin_password: Option<SecretString>,
    pub jwt_issuer: String,
    pub jwt_audience: String,
    pub access_token_ttl: Duration,
    pub refresh_token_ttl: Duration,
    pub refresh_token_absolute_ttl: Duration,
    pub cookie_refresh_before: Duration,
    pub max_concurrent_hashes: usize,
    /// How long hot metadata (users behind tokens, files behind downloads) may be served from memory.
    pub cache_ttl: Duration,
    pub registration_open: bool,
    /// Longest lifetime of a new API token, in days (a runtime setting's start value).
    pub api_token_max_days: u32,
    /// Whether command-line clients may sign in with device login (a runtime setting).
    pub device_login_enabled: bool,
    /// Days a deleted file stays in its owner's trash (a runtime setting's start value);
    /// 0 deletes at once.
    pub trash_retention_days: u32,
    pub default_quota_bytes: i64,
    pub default_quota_objects: i64,

    pub rate_limit_auth: RateLimit,
    pub rate_limit_user: RateLimit,
    /// Per client IP on the public share-link endpoints.
    pub rate_limit_public: RateLimit,
    /// Password attempts on share links, per link and per client IP.
    pub rate_limit_link_password: RateLimit,
    /// Device-login user codes looked up or decided, per user and per client IP.
    pub rate_limit_device_code: RateLimit,
    pub trusted_proxies: Vec<IpNet>,
    pub cors_origins: Vec<String>,
    /// Where the web interface is served from (`COFFER_WEB_ORIGINS`); empty: this
    /// server's own address (see [`Settings::web_origins`]).
    pub web_origins: Vec<String>,
    pub max_body_bytes: usize,
    /// How long a client has to send a request's body, counted from its arrival.
    pub body_read_timeout: Duration,
    /// Audit events queued for the writer before requests wait to record theirs.
    pub audit_backlog: usize,
    /// Redoc's script from elsewhere (a CDN); `None`: the copy inside the binary.
    pub redoc_script_url: Option<String>,
    /// When set, `/metrics` needs `Authorization: Bearer <token>`.
    pub metrics_token: Option<SecretString>,

    pub s3: S3Settings,
    pub uploads: UploadSettings,
    pub worker: WorkerSettings,
    pub archives: ArchiveSettings,
    pub auth_external: ExternalAuthSettings,
    pub benchwrap: BenchwrapSettings,
    /// The cloud tier's store; no endpoint: no tiering.
    pub tier: TierSettings,
}

/// The variables of the rate limits (auth, user, public, link password, device code).
const RATE_VARS: [(&str, &str); 5] = [
    (
        "COFFER_RATE_LIMIT_AUTH_PER_MINUTE",
        "COFFER_RATE_LIMIT_AUTH_BURST",
    ),
    (
        "COFFER_RATE_LIMIT_USER_PER_MINUTE",
        "COFFER_RATE_LIMIT_USER_BURST",
    ),
    (
        "COFFER_RATE_LIMIT_PUBLIC_PER_MINUTE",
        "COFFER_RATE_LIMIT_PUBLIC_BURST",
    ),
    (
        "COFFER_RATE_LIMIT_LINK_PASSWORD_PER_MINUTE",
        "COFFER_RATE_LIMIT_LINK_PASSWORD_BURST",
    ),
    (
        "COFFER_RATE_LIMIT_DEVICE_CODE_PER_MINUTE",
        "COFFER_RATE_LIMIT_DEVICE_CODE_BURST",
    ),
];

/// Longest access-token lifetime the service accepts.
pub const MAX_ACCESS_TOKEN_TTL: Duration = Duration::from_secs(600);
/// Minimum length of a production JWT secret.
pub const MIN_JWT_SECRET_BYTES: usize = 32;
/// Longest lifetime an admin may allow API tokens (10 years).
pub const MAX_API_TOKEN_DAYS: u32 = 3650;

fn cpus() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

impl Default for Settings {
    fn default() -> Self {
        let data_dir = PathBuf::from("./data");
        Settings {
            environment: Environment::Development,
            host: "127.0.0.1".into(),
            port: 8080,
            database_url: default_database_url(&data_dir),
            data_dir,
            migrate_on_start: true,
            db_max_connections: 10,
            workers: cpus(),
            log_format: LogFormat::Pretty,
            log_filter: "info".into(),
            jwt_secret: None,
            bootstrap_admin_username: None,
            bootstrap_admin_password: None,
            jwt_issuer: "coffer".into(),
            jwt_audience: "coffer-api".into(),
            access_token_ttl: Duration::from_secs(300),
            refresh_token_ttl: Duration::from_secs(14 * 24 * 3600),
            refresh_token_absolute_ttl: Duration::from_secs(30 * 24 * 3600),
            cookie_refresh_before: Duration::from_secs(60),
            max_concurrent_hashes: cpus().max(2),
            cache_ttl: Duration::from_millis(1000),
            registration_open: true,
            api_token_max_days: 90,
            device_login_enabled: true,
            trash_retention_days: 30,
            default_quota_bytes: 10 * 1024 * 1024 * 1024,
            default_quota_objects: 100_000,
            rate_limit_auth: RateLimit {
                per_minute: 30,
                burst: 10,
            },
            rate_limit_user: RateLimit {
                per_minute: 1200,
                burst: 100,
            },
            rate_limit_public: RateLimit {
                per_minute: 600,
                burst: 100,
            },
            rate_limit_link_password: RateLimit {
                per_minute: 10,
                burst: 5,
            },
            rate_limit_device_code: RateLimit {
                per_minute: 10,
                burst: 10,
            },
            trusted_proxies: Vec::new(),
            cors_origins: Vec::new(),
            web_origins: Vec::new(),
            max_body_bytes: 256 * 1024,
            body_read_timeout: Duration::from_secs(30),
            audit_backlog: 65_536,
            redoc_script_url: None,
            metrics_token: None,
            s3: S3Settings::default(),
            uploads: UploadSettings::default(),
            worker: WorkerSettings::default(),
            archives: ArchiveSettings::default(),
            auth_external: ExternalAuthSettings::default(),
            benchwrap: BenchwrapSettings::default(),
            tier: TierSettings::default(),
        }
    }
}

fn default_database_url(data_dir: &std::path::Path) -> DatabaseUrl {
    DatabaseUrl(format!(
        "sqlite://{}/coffer.db?mode=rwc",
        data_dir.display()
    ))
}

impl Settings {
    /// Settings from the process environment (after loading `.env` if present).
    pub fn from_env() -> Result<Settings, ConfigError> {
        let _ = dotenvy::dotenv();
        Settings::from_lookup(|name| std::env::var(name).ok())
    }

    /// Only where `cofferd` listens (`COFFER_HOST`, `COFFER_PORT` and the rest of the HTTP
    /// section), for `cofferd healthcheck`, which must not fail on settings it does not use.
    pub fn listener_from_env() -> Result<(String, u16), ConfigError> {
        let _ = dotenvy::dotenv();
        let lookup = |name: &str| std::env::var(name).ok();
        let lookup: &dyn Fn(&str) -> Option<String> = &lookup;
        let mut s = Settings::default();
        s.read_http(&Source(lookup))?;
        Ok((s.host, s.port))
    }

    /// Settings from `lookup` over the defaults, section by section, then checked.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Settings, ConfigError> {
        let lookup: &dyn Fn(&str) -> Option<String> = &lookup;
        let src = Source(lookup);
        let mut s = Settings::default();
        s.read_process(&src)?;
        s.read_http(&src)?;
        s.read_accounts(&src)?;
        for (vars, limit) in s.rate_limits_mut() {
            *limit = RateLimit::read(&src, vars, *limit)?;
        }
        s.s3 = S3Settings::read(&src, s.s3)?;
        s.uploads = UploadSettings::read(&src, s.uploads)?;
        s.worker = WorkerSettings::read(&src, s.worker)?;
        s.archives = ArchiveSettings::read(&src, s.archives)?;
        s.auth_external = ExternalAuthSettings::read(&src, s.auth_external)?;
        s.benchwrap = BenchwrapSettings::read(&src, s.benchwrap)?;
        s.tier = TierSettings::read(&src, s.tier)?;
        s.validate()?;
        Ok(s)
    }

    /// Environment, paths, database, threads and logging.
    fn read_process(&mut self, src: &Lookup) -> Result<(), ConfigError> {
        self.environment = match src.get("COFFER_ENV").as_deref().map(str::trim) {
            None | Some("development") | Some("dev") => Environment::Development,
            Some("production") | Some("prod") => Environment::Production,
            Some(other) => {
                return Err(invalid(
                    "COFFER_ENV",
                    format!("expected development or production, got {other:?}"),
                ))
            }
        };
        if let Some(dir) = src.get("COFFER_DATA_DIR") {
            self.data_dir = PathBuf::from(dir);
        }
        // It holds the database password: a secret, so `DATABASE_URL_FILE` works too.
        self.database_url = match src.secret("DATABASE_URL")? {
            Some(url) => DatabaseUrl(url.expose_secret().to_owned()),
            None => default_database_url(&self.data_dir),
        };
        // A password apart from the URL: the URL in plain configuration, the password in
        // a secret file (COFFER_DATABASE_PASSWORD_FILE).
        if let Some(password) = src.secret("COFFER_DATABASE_PASSWORD")? {
            self.database_url = self
                .database_url
                .with_password(password.expose_secret())
                .map_err(|reason| invalid("COFFER_DATABASE_PASSWORD", reason))?;
        }
        self.migrate_on_start = src.flag("COFFER_MIGRATE_ON_START", self.migrate_on_start)?;
        self.db_max_connections =
            src.parse("COFFER_DB_MAX_CONNECTIONS", self.db_max_connections)?;
        self.workers = src.parse("COFFER_WORKERS", self.workers)?;
        self.log_format = match src.get("COFFER_LOG_FORMAT").as_deref() {
            Some("json") => LogFormat::Json,
            Some("pretty") | Some("text") => LogFormat::Pretty,
            None if self.environment == Environment::Production => LogFormat::Json,
            None => LogFormat::Pretty,
            Some(other) => {
                return Err(invalid(
                    "COFFER_LOG_FORMAT",
                    format!("expected json or pretty, got {other:?}"),
                ))
            }
        };
        if let Some(filter) = src.get("COFFER_LOG").or_else(|| src.get("RUST_LOG")) {
            self.log_filter = filter;
        }
        self.audit_backlog = src.parse("COFFER_AUDIT_BACKLOG", self.audit_backlog)?;
        self.cache_ttl = src.millis("COFFER_CACHE_TTL_MS", self.cache_ttl)?;
        Ok(())
    }

    /// The listener and what every request goes through.
    fn read_http(&mut self, src: &Lookup) -> Result<(), ConfigError> {
        if let Some(host) = src.get("COFFER_HOST") {
            self.host = host;
        }
        self.port = src.parse("COFFER_PORT", self.port)?;
        self.trusted_proxies = src
            .list("COFFER_TRUSTED_PROXIES")
            .iter()
            .map(|s| {
                parse_net(s).ok_or_else(|| {
                    invalid(
                        "COFFER_TRUSTED_PROXIES",
                        format!("{s:?} is not an IP address or CIDR"),
                    )
                })
            })
            .collect::<Result<Vec<IpNet>, _>>()?;
        self.cors_origins = src.list("COFFER_CORS_ORIGINS");
        self.web_origins = src.list("COFFER_WEB_ORIGINS");
        self.max_body_bytes = src.parse("COFFER_MAX_BODY_BYTES", self.max_body_bytes)?;
        self.body_read_timeout =
            src.seconds("COFFER_BODY_READ_TIMEOUT_SECONDS", self.body_read_timeout)?;
        if let Some(url) = src.get("COFFER_REDOC_SCRIPT_URL") {
            self.redoc_script_url = Some(url);
        }
        self.metrics_token = src.secret("COFFER_METRICS_TOKEN")?;
        Ok(())
    }

    /// Tokens, passwords, the bootstrap admin and new accounts' defaults.
    fn read_accounts(&mut self, src: &Lookup) -> Result<(), ConfigError> {
        self.jwt_secret = src.secret("COFFER_JWT_SECRET")?;
        self.bootstrap_admin_username = src.get("COFFER_BOOTSTRAP_ADMIN_USERNAME");
        self.bootstrap_admin_password = src.secret("COFFER_BOOTSTRAP_ADMIN_PASSWORD")?;
        if let Some(issuer) = src.get("COFFER_JWT_ISSUER") {
            self.jwt_issuer = issuer;
        }
        if let Some(audience) = src.get("COFFER_JWT_AUDIENCE") {
            self.jwt_audience = audience;
        }
        self.access_token_ttl =
            src.seconds("COFFER_ACCESS_TOKEN_TTL_SECONDS", self.access_token_ttl)?;
        self.refresh_token_ttl =
            src.seconds("COFFER_REFRESH_TOKEN_TTL_SECONDS", self.refresh_token_ttl)?;
        self.refresh_token_absolute_ttl = src.seconds(
            "COFFER_REFRESH_TOKEN_ABSOLUTE_TTL_SECONDS",
            self.refresh_token_absolute_ttl,
        )?;
        self.cookie_refresh_before = src.seconds(
            "COFFER_COOKIE_REFRESH_BEFORE_SECONDS",
            self.cookie_refresh_before,
        )?;
        self.max_concurrent_hashes =
            src.parse("COFFER_MAX_CONCURRENT_HASHES", self.max_concurrent_hashes)?;
        self.registration_open = src.flag("COFFER_REGISTRATION_OPEN", self.registration_open)?;
        self.api_token_max_days =
            src.parse("COFFER_API_TOKEN_MAX_DAYS", self.api_token_max_days)?;
        self.device_login_enabled =
            src.flag("COFFER_DEVICE_LOGIN_ENABLED", self.device_login_enabled)?;
        self.trash_retention_days =
            src.parse("COFFER_TRASH_RETENTION_DAYS", self.trash_retention_days)?;
        self.default_quota_bytes =
            src.parse("COFFER_DEFAULT_QUOTA_BYTES", self.default_quota_bytes)?;
        self.default_quota_objects =
            src.parse("COFFER_DEFAULT_QUOTA_OBJECTS", self.default_quota_objects)?;
        Ok(())
    }

    /// Checks that hold for every way of building settings (env or code).
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.validate_accounts()?;
        self.validate_process()?;
        for ((rate_var, _), limit) in self.rate_limits() {
            limit.validate(rate_var)?;
        }
        self.uploads.validate()?;
        self.worker.validate()?;
        self.archives.validate()?;
        self.auth_external.validate()?;
        self.benchwrap.validate()?;
        self.tier.validate()?;
        self.s3.validate()
    }

    /// The rate limits with the variables of their rate and burst.
    fn rate_limits(&self) -> [((&'static str, &'static str), RateLimit); 5] {
        [
            (RATE_VARS[0], self.rate_limit_auth),
            (RATE_VARS[1], self.rate_limit_user),
            (RATE_VARS[2], self.rate_limit_public),
            (RATE_VARS[3], self.rate_limit_link_password),
            (RATE_VARS[4], self.rate_limit_device_code),
        ]
    }

    fn rate_limits_mut(&mut self) -> [((&'static str, &'static str), &mut RateLimit); 5] {
        [
            (RATE_VARS[0], &mut self.rate_limit_auth),
            (RATE_VARS[1], &mut self.rate_limit_user),
            (RATE_VARS[2], &mut self.rate_limit_public),
            (RATE_VARS[3], &mut self.rate_limit_link_password),
            (RATE_VARS[4], &mut self.rate_limit_device_code),
        ]
    }

    fn validate_accounts(&self) -> Result<(), ConfigError> {
        if self.access_token_ttl.is_zero() || self.access_token_ttl > MAX_ACCESS_TOKEN_TTL {
            return Err(invalid(
                "COFFER_ACCESS_TOKEN_TTL_SECONDS",
                format!("must be between 1 and {}", MAX_ACCESS_TOKEN_TTL.as_secs()),
            ));
        }
        if self.refresh_token_ttl > self.refresh_token_absolute_ttl {
            return Err(invalid(
                "COFFER_REFRESH_TOKEN_TTL_SECONDS",
                "must not exceed COFFER_REFRESH_TOKEN_ABSOLUTE_TTL_SECONDS",
            ));
        }
        if self.default_quota_bytes < 0 || self.default_quota_objects < 0 {
            return Err(invalid(
                "COFFER_DEFAULT_QUOTA_BYTES",
                "quotas cannot be negative",
            ));
        }
        if self.api_token_max_days == 0 || self.api_token_max_days > MAX_API_TOKEN_DAYS {
            return Err(invalid(
                "COFFER_API_TOKEN_MAX_DAYS",
                format!("must be between 1 and {MAX_API_TOKEN_DAYS}"),
            ));
        }
        if self.max_concurrent_hashes == 0 {
            return Err(invalid(
                "COFFER_MAX_CONCURRENT_HASHES",
                "must be at least 1",
            ));
        }
        let secret_ok = self
            .jwt_secret
            .as_ref()
            .is_some_and(|s| s.expose_secret().len() >= MIN_JWT_SECRET_BYTES);
        if self.environment == Environment::Production && !secret_ok {
            return Err(invalid(
                "COFFER_JWT_SECRET",
                format!("production needs a secret of at least {MIN_JWT_SECRET_BYTES} bytes"),
            ));
        }
        Ok(())
    }

    fn validate_process(&self) -> Result<(), ConfigError> {
        if self.audit_backlog == 0 {
            return Err(invalid("COFFER_AUDIT_BACKLOG", "must be at least 1"));
        }
        if self.body_read_timeout.is_zero() {
            return Err(invalid(
                "COFFER_BODY_READ_TIMEOUT_SECONDS",
                "must be at least 1",
            ));
        }
        if self.workers == 0 || self.db_max_connections == 0 {
            return Err(invalid(
                "COFFER_WORKERS",
                "workers and database connections must be at least 1",
            ));
        }
        Ok(())
    }

    pub fn is_sqlite(&self) -> bool {
        self.database_url.as_str().starts_with("sqlite:")
    }

    /// The origins the web interface is served from, which the store must accept
    /// presigned PUTs from (CORS): `COFFER_WEB_ORIGINS`, or else this server's own
    /// address, `http://{host}:{port}` (with `localhost` beside a loopback host).
    pub fn web_origins(&self) -> Vec<String> {
        if !self.web_origins.is_empty() {
            return self.web_origins.clone();
        }
        let port = self.port;
        match self.host.as_str() {
            "127.0.0.1" | "localhost" | "0.0.0.0" => vec![
                format!("http://127.0.0.1:{port}"),
                format!("http://localhost:{port}"),
            ],
            "::1" | "::" => vec![
                format!("http://[::1]:{port}"),
                format!("http://localhost:{port}"),
            ],
            host if host.contains(':') => vec![format!("http://[{host}]:{port}")],
            host => vec![format!("http://{host}:{port}")],
        }
    }
}

#[cfg(test)]
mod tests;
