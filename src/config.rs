//! Settings: defaults in code, overridden by environment variables (and `.env` in
//! development). Every variable is listed in `.env.example`.

use std::net::IpAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use ipnet::IpNet;
use secrecy::{ExposeSecret, SecretString};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("setting {name} has an invalid value: {reason}")]
    Invalid { name: String, reason: String },
    #[error("cannot read {name} from {path}: {source}")]
    File {
        name: String,
        path: String,
        source: std::io::Error,
    },
}

fn invalid(name: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        name: name.to_owned(),
        reason: reason.into(),
    }
}

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

/// Where objects live: an external S3 endpoint or the embedded server.
#[derive(Clone)]
pub struct S3Settings {
    /// `None` starts the embedded server over `<data_dir>/objects`.
    pub endpoint: Option<String>,
    /// The endpoint clients reach; presigned URLs are signed for it.
    pub public_endpoint: Option<String>,
    pub region: String,
    pub bucket: String,
    pub access_key: Option<SecretString>,
    pub secret_key: Option<SecretString>,
    pub path_style: bool,
    pub embedded_port: u16,
}

impl std::fmt::Debug for S3Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Settings")
            .field("endpoint", &self.endpoint)
            .field("public_endpoint", &self.public_endpoint)
            .field("region", &self.region)
            .field("bucket", &self.bucket)
            .field(
                "access_key",
                &self.access_key.as_ref().map(|_| "[redacted]"),
            )
            .field(
                "secret_key",
                &self.secret_key.as_ref().map(|_| "[redacted]"),
            )
            .field("path_style", &self.path_style)
            .field("embedded_port", &self.embedded_port)
            .finish()
    }
}

#[derive(Debug, Clone, Copy)]
pub struct RateLimit {
    /// Sustained requests per minute.
    pub per_minute: u32,
    /// Requests allowed in a burst.
    pub burst: u32,
}

#[derive(Clone)]
pub struct Settings {
    pub environment: Environment,
    pub host: String,
    pub port: u16,
    pub data_dir: PathBuf,
    pub database_url: String,
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
    pub default_quota_bytes: i64,
    pub default_quota_objects: i64,

    pub rate_limit_auth: RateLimit,
    pub rate_limit_user: RateLimit,
    /// Per client IP on the public share-link endpoints.
    pub rate_limit_public: RateLimit,
    /// Password attempts on share links, per link and per client IP.
    pub rate_limit_link_password: RateLimit,
    pub trusted_proxies: Vec<IpNet>,
    pub cors_origins: Vec<String>,
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
}

/// The task queue's workers.
#[derive(Debug, Clone)]
pub struct WorkerSettings {
    /// Run the worker loop inside `cofferd` too.
    pub in_process: bool,
    /// Pause between polls when no task is due.
    pub poll: Duration,
    /// How long a claim lasts without a heartbeat.
    pub lease: Duration,
    pub max_attempts: i32,
    /// First retry delay; doubled on each further attempt.
    pub backoff_base: Duration,
    /// How often expired uploads are reconciled.
    pub reconcile_every: Duration,
    /// How long a stopping worker lets its task finish before releasing it.
    pub shutdown_grace: Duration,
}

/// Zip bundles.
#[derive(Debug, Clone)]
pub struct ArchiveSettings {
    pub max_bytes: u64,
    pub max_entries: u64,
    /// An archive lives at least this long...
    pub min_ttl: Duration,
    /// ...or as long as downloading it at this many bytes per second takes.
    pub min_bandwidth: u64,
    /// Size of the parts the archive is uploaded in (memory per running zip task).
    pub part_bytes: u64,
}

/// Presigning and upload rules.
#[derive(Debug, Clone)]
pub struct UploadSettings {
    /// Lifetime of presigned URLs (capped at 7 days, S3's limit). This, the maximum size
    /// and the allowed types are starting values: admins change them at run time.
    pub presign_ttl: Duration,
    /// Uploads above this size are multipart.
    pub multipart_threshold: u64,
    /// Largest accepted upload.
    pub max_upload_bytes: u64,
    /// Allowed content types (`type/subtype` or `type/*`); empty allows all.
    pub allowed_content_types: Vec<String>,
    /// How long an upload may stay open before reconciliation ends it.
    pub upload_expiry: Duration,
}

/// S3 refuses presigned URLs that live longer than 7 days.
pub const MAX_PRESIGN_TTL: Duration = Duration::from_secs(7 * 24 * 3600);
/// S3's smallest part (except the last) and largest part count.
pub const MIN_PART_SIZE: u64 = 5 * 1024 * 1024;
pub const MAX_PARTS: u64 = 10_000;

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("environment", &self.environment)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("data_dir", &self.data_dir)
            .field("database_url", &redact_url(&self.database_url))
            .field("migrate_on_start", &self.migrate_on_start)
            .field(
                "jwt_secret",
                &self.jwt_secret.as_ref().map(|_| "[redacted]"),
            )
            .field("bootstrap_admin_username", &self.bootstrap_admin_username)
            .field(
                "bootstrap_admin_password",
                &self.bootstrap_admin_password.as_ref().map(|_| "[redacted]"),
            )
            .field(
                "metrics_token",
                &self.metrics_token.as_ref().map(|_| "[redacted]"),
            )
            .field("access_token_ttl", &self.access_token_ttl)
            .field("refresh_token_ttl", &self.refresh_token_ttl)
            .field("rate_limit_auth", &self.rate_limit_auth)
            .field("rate_limit_user", &self.rate_limit_user)
            .field("rate_limit_public", &self.rate_limit_public)
            .field("rate_limit_link_password", &self.rate_limit_link_password)
            .field("trusted_proxies", &self.trusted_proxies)
            .field("cors_origins", &self.cors_origins)
            .field("s3", &self.s3)
            .field("uploads", &self.uploads)
            .field("worker", &self.worker)
            .field("archives", &self.archives)
            .finish_non_exhaustive()
    }
}

/// Hides the password part of a connection URL.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("redacted"));
            u.to_string()
        }
        _ => url.to_owned(),
    }
}

/// Longest access-token lifetime the service accepts.
pub const MAX_ACCESS_TOKEN_TTL: Duration = Duration::from_secs(600);
/// Minimum length of a production JWT secret.
pub const MIN_JWT_SECRET_BYTES: usize = 32;

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
            workers: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2),
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
            max_concurrent_hashes: std::thread::available_parallelism()
                .map(|n| n.get().max(2))
                .unwrap_or(2),
            cache_ttl: Duration::from_millis(1000),
            registration_open: true,
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
            trusted_proxies: Vec::new(),
            cors_origins: Vec::new(),
            max_body_bytes: 256 * 1024,
            body_read_timeout: Duration::from_secs(30),
            audit_backlog: 65_536,
            redoc_script_url: None,
            metrics_token: None,
            s3: S3Settings {
                endpoint: None,
                public_endpoint: None,
                region: "us-east-1".into(),
                bucket: "coffer".into(),
                access_key: None,
                secret_key: None,
                path_style: true,
                embedded_port: 9010,
            },
            uploads: UploadSettings {
                presign_ttl: Duration::from_secs(600),
                multipart_threshold: 64 * 1024 * 1024,
                max_upload_bytes: 5 * 1024 * 1024 * 1024 * 1024,
                allowed_content_types: Vec::new(),
                upload_expiry: Duration::from_secs(24 * 3600),
            },
            worker: WorkerSettings {
                in_process: true,
                poll: Duration::from_millis(500),
                lease: Duration::from_secs(30),
                max_attempts: 5,
                backoff_base: Duration::from_secs(2),
                reconcile_every: Duration::from_secs(60),
                shutdown_grace: Duration::from_secs(20),
            },
            archives: ArchiveSettings {
                max_bytes: 100 * 1024 * 1024 * 1024,
                max_entries: 10_000,
                min_ttl: Duration::from_secs(3600),
                min_bandwidth: 1024 * 1024,
                part_bytes: 8 * 1024 * 1024,
            },
        }
    }
}

fn default_database_url(data_dir: &std::path::Path) -> String {
    format!("sqlite://{}/coffer.db?mode=rwc", data_dir.display())
}

/// Reads variables through a lookup function, so tests can feed a map instead of the
/// process environment.
struct Source<F: Fn(&str) -> Option<String>>(F);

impl<F: Fn(&str) -> Option<String>> Source<F> {
    fn get(&self, name: &str) -> Option<String> {
        (self.0)(name).filter(|v| !v.trim().is_empty())
    }

    fn parse<T: FromStr>(&self, name: &str, default: T) -> Result<T, ConfigError>
    where
        T::Err: std::fmt::Display,
    {
        match self.get(name) {
            None => Ok(default),
            Some(v) => v
                .trim()
                .parse()
                .map_err(|e: T::Err| invalid(name, e.to_string())),
        }
    }

    fn flag(&self, name: &str, default: bool) -> Result<bool, ConfigError> {
        match self.get(name).map(|v| v.trim().to_ascii_lowercase()) {
            None => Ok(default),
            Some(v) if ["1", "true", "yes", "on"].contains(&v.as_str()) => Ok(true),
            Some(v) if ["0", "false", "no", "off"].contains(&v.as_str()) => Ok(false),
            Some(v) => Err(invalid(name, format!("expected true or false, got {v:?}"))),
        }
    }

    fn seconds(&self, name: &str, default: Duration) -> Result<Duration, ConfigError> {
        Ok(Duration::from_secs(self.parse(name, default.as_secs())?))
    }

    /// A secret from `NAME` or from the file named by `NAME_FILE` (Podman secrets).
    fn secret(&self, name: &str) -> Result<Option<SecretString>, ConfigError> {
        if let Some(v) = self.get(name) {
            return Ok(Some(SecretString::from(v)));
        }
        let file_var = format!("{name}_FILE");
        match self.get(&file_var) {
            None => Ok(None),
            Some(path) => {
                let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::File {
                    name: file_var.clone(),
                    path: path.clone(),
                    source,
                })?;
                Ok(Some(SecretString::from(
                    text.trim_end_matches(['\r', '\n']).to_owned(),
                )))
            }
        }
    }

    fn list(&self, name: &str) -> Vec<String> {
        self.get(name)
            .map(|v| {
                v.split(',')
                    .map(|s| s.trim().to_owned())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl Settings {
    /// Settings from the process environment (after loading `.env` if present).
    pub fn from_env() -> Result<Settings, ConfigError> {
        let _ = dotenvy::dotenv();
        Settings::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Settings, ConfigError> {
        let src = Source(lookup);
        let d = Settings::default();
        let environment = match src.get("COFFER_ENV").as_deref().map(str::trim) {
            None | Some("development") | Some("dev") => Environment::Development,
            Some("production") | Some("prod") => Environment::Production,
            Some(other) => {
                return Err(invalid(
                    "COFFER_ENV",
                    format!("expected development or production, got {other:?}"),
                ))
            }
        };
        let data_dir = src
            .get("COFFER_DATA_DIR")
            .map(PathBuf::from)
            .unwrap_or(d.data_dir);
        let database_url = src
            .get("DATABASE_URL")
            .unwrap_or_else(|| default_database_url(&data_dir));
        let log_format = match src.get("COFFER_LOG_FORMAT").as_deref() {
            Some("json") => LogFormat::Json,
            Some("pretty") | Some("text") => LogFormat::Pretty,
            None => match environment {
                Environment::Production => LogFormat::Json,
                Environment::Development => LogFormat::Pretty,
            },
            Some(other) => {
                return Err(invalid(
                    "COFFER_LOG_FORMAT",
                    format!("expected json or pretty, got {other:?}"),
                ))
            }
        };
        let trusted_proxies = src
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
            .collect::<Result<Vec<_>, _>>()?;

        let settings = Settings {
            environment,
            host: src.get("COFFER_HOST").unwrap_or(d.host),
            port: src.parse("COFFER_PORT", d.port)?,
            data_dir,
            database_url,
            migrate_on_start: src.flag("COFFER_MIGRATE_ON_START", d.migrate_on_start)?,
            db_max_connections: src.parse("COFFER_DB_MAX_CONNECTIONS", d.db_max_connections)?,
            workers: src.parse("COFFER_WORKERS", d.workers)?,
            log_format,
            log_filter: src
                .get("COFFER_LOG")
                .or_else(|| src.get("RUST_LOG"))
                .unwrap_or(d.log_filter),
            jwt_secret: src.secret("COFFER_JWT_SECRET")?,
            bootstrap_admin_username: src.get("COFFER_BOOTSTRAP_ADMIN_USERNAME"),
            bootstrap_admin_password: src.secret("COFFER_BOOTSTRAP_ADMIN_PASSWORD")?,
            jwt_issuer: src.get("COFFER_JWT_ISSUER").unwrap_or(d.jwt_issuer),
            jwt_audience: src.get("COFFER_JWT_AUDIENCE").unwrap_or(d.jwt_audience),
            access_token_ttl: src.seconds("COFFER_ACCESS_TOKEN_TTL_SECONDS", d.access_token_ttl)?,
            refresh_token_ttl: src
                .seconds("COFFER_REFRESH_TOKEN_TTL_SECONDS", d.refresh_token_ttl)?,
            refresh_token_absolute_ttl: src.seconds(
                "COFFER_REFRESH_TOKEN_ABSOLUTE_TTL_SECONDS",
                d.refresh_token_absolute_ttl,
            )?,
            cookie_refresh_before: src.seconds(
                "COFFER_COOKIE_REFRESH_BEFORE_SECONDS",
                d.cookie_refresh_before,
            )?,
            max_concurrent_hashes: src
                .parse("COFFER_MAX_CONCURRENT_HASHES", d.max_concurrent_hashes)?,
            cache_ttl: Duration::from_millis(src.parse("COFFER_CACHE_TTL_MS", 1000u64)?),
            registration_open: src.flag("COFFER_REGISTRATION_OPEN", d.registration_open)?,
            default_quota_bytes: src.parse("COFFER_DEFAULT_QUOTA_BYTES", d.default_quota_bytes)?,
            default_quota_objects: src
                .parse("COFFER_DEFAULT_QUOTA_OBJECTS", d.default_quota_objects)?,
            rate_limit_auth: RateLimit {
                per_minute: src.parse(
                    "COFFER_RATE_LIMIT_AUTH_PER_MINUTE",
                    d.rate_limit_auth.per_minute,
                )?,
                burst: src.parse("COFFER_RATE_LIMIT_AUTH_BURST", d.rate_limit_auth.burst)?,
            },
            rate_limit_user: RateLimit {
                per_minute: src.parse(
                    "COFFER_RATE_LIMIT_USER_PER_MINUTE",
                    d.rate_limit_user.per_minute,
                )?,
                burst: src.parse("COFFER_RATE_LIMIT_USER_BURST", d.rate_limit_user.burst)?,
            },
            rate_limit_public: RateLimit {
                per_minute: src.parse(
                    "COFFER_RATE_LIMIT_PUBLIC_PER_MINUTE",
                    d.rate_limit_public.per_minute,
                )?,
                burst: src.parse("COFFER_RATE_LIMIT_PUBLIC_BURST", d.rate_limit_public.burst)?,
            },
            rate_limit_link_password: RateLimit {
                per_minute: src.parse(
                    "COFFER_RATE_LIMIT_LINK_PASSWORD_PER_MINUTE",
                    d.rate_limit_link_password.per_minute,
                )?,
                burst: src.parse(
                    "COFFER_RATE_LIMIT_LINK_PASSWORD_BURST",
                    d.rate_limit_link_password.burst,
                )?,
            },
            trusted_proxies,
            cors_origins: src.list("COFFER_CORS_ORIGINS"),
            max_body_bytes: src.parse("COFFER_MAX_BODY_BYTES", d.max_body_bytes)?,
            body_read_timeout: src
                .seconds("COFFER_BODY_READ_TIMEOUT_SECONDS", d.body_read_timeout)?,
            audit_backlog: src.parse("COFFER_AUDIT_BACKLOG", d.audit_backlog)?,
            redoc_script_url: src.get("COFFER_REDOC_SCRIPT_URL").or(d.redoc_script_url),
            metrics_token: src.secret("COFFER_METRICS_TOKEN")?,
            s3: S3Settings {
                endpoint: src.get("COFFER_S3_ENDPOINT"),
                public_endpoint: src.get("COFFER_S3_PUBLIC_ENDPOINT"),
                region: src.get("COFFER_S3_REGION").unwrap_or(d.s3.region),
                bucket: src.get("COFFER_S3_BUCKET").unwrap_or(d.s3.bucket),
                access_key: src.secret("COFFER_S3_ACCESS_KEY")?,
                secret_key: src.secret("COFFER_S3_SECRET_KEY")?,
                path_style: src.flag("COFFER_S3_PATH_STYLE", d.s3.path_style)?,
                embedded_port: src.parse("COFFER_EMBEDDED_S3_PORT", d.s3.embedded_port)?,
            },
            uploads: UploadSettings {
                presign_ttl: src.seconds("COFFER_PRESIGN_TTL_SECONDS", d.uploads.presign_ttl)?,
                multipart_threshold: src.parse(
                    "COFFER_MULTIPART_THRESHOLD_BYTES",
                    d.uploads.multipart_threshold,
                )?,
                max_upload_bytes: src
                    .parse("COFFER_MAX_UPLOAD_BYTES", d.uploads.max_upload_bytes)?,
                allowed_content_types: src
                    .list("COFFER_ALLOWED_CONTENT_TYPES")
                    .into_iter()
                    .map(|t| t.to_ascii_lowercase())
                    .collect(),
                upload_expiry: src
                    .seconds("COFFER_UPLOAD_EXPIRY_SECONDS", d.uploads.upload_expiry)?,
            },
            worker: WorkerSettings {
                in_process: src.flag("COFFER_WORKER_IN_PROCESS", d.worker.in_process)?,
                poll: Duration::from_millis(
                    src.parse("COFFER_WORKER_POLL_MS", d.worker.poll.as_millis() as u64)?,
                ),
                lease: src.seconds("COFFER_WORKER_LEASE_SECONDS", d.worker.lease)?,
                max_attempts: src.parse("COFFER_TASK_MAX_ATTEMPTS", d.worker.max_attempts)?,
                backoff_base: Duration::from_millis(src.parse(
                    "COFFER_TASK_BACKOFF_MS",
                    d.worker.backoff_base.as_millis() as u64,
                )?),
                reconcile_every: src.seconds(
                    "COFFER_RECONCILE_INTERVAL_SECONDS",
                    d.worker.reconcile_every,
                )?,
                shutdown_grace: src.seconds(
                    "COFFER_WORKER_SHUTDOWN_GRACE_SECONDS",
                    d.worker.shutdown_grace,
                )?,
            },
            archives: ArchiveSettings {
                max_bytes: src.parse("COFFER_ARCHIVE_MAX_BYTES", d.archives.max_bytes)?,
                max_entries: src.parse("COFFER_ARCHIVE_MAX_ENTRIES", d.archives.max_entries)?,
                min_ttl: src.seconds("COFFER_ARCHIVE_MIN_TTL_SECONDS", d.archives.min_ttl)?,
                min_bandwidth: src.parse(
                    "COFFER_ARCHIVE_MIN_BANDWIDTH_BYTES",
                    d.archives.min_bandwidth,
                )?,
                part_bytes: src.parse("COFFER_ARCHIVE_PART_BYTES", d.archives.part_bytes)?,
            },
        };
        settings.validate()?;
        Ok(settings)
    }

    /// Checks that hold for every way of building settings (env or code).
    pub fn validate(&self) -> Result<(), ConfigError> {
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
        for (name, rl) in [
            ("COFFER_RATE_LIMIT_AUTH_PER_MINUTE", self.rate_limit_auth),
            ("COFFER_RATE_LIMIT_USER_PER_MINUTE", self.rate_limit_user),
            (
                "COFFER_RATE_LIMIT_PUBLIC_PER_MINUTE",
                self.rate_limit_public,
            ),
            (
                "COFFER_RATE_LIMIT_LINK_PASSWORD_PER_MINUTE",
                self.rate_limit_link_password,
            ),
        ] {
            if rl.per_minute == 0 || rl.burst == 0 {
                return Err(invalid(name, "rate and burst must be at least 1"));
            }
        }
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
        if self.default_quota_bytes < 0 || self.default_quota_objects < 0 {
            return Err(invalid(
                "COFFER_DEFAULT_QUOTA_BYTES",
                "quotas cannot be negative",
            ));
        }
        if self.max_concurrent_hashes == 0 {
            return Err(invalid(
                "COFFER_MAX_CONCURRENT_HASHES",
                "must be at least 1",
            ));
        }
        if self.environment == Environment::Production {
            match &self.jwt_secret {
                Some(s) if s.expose_secret().len() >= MIN_JWT_SECRET_BYTES => {}
                _ => {
                    return Err(invalid(
                        "COFFER_JWT_SECRET",
                        format!(
                            "production needs a secret of at least {MIN_JWT_SECRET_BYTES} bytes"
                        ),
                    ))
                }
            }
        }
        let up = &self.uploads;
        if up.presign_ttl.is_zero() || up.presign_ttl > MAX_PRESIGN_TTL {
            return Err(invalid(
                "COFFER_PRESIGN_TTL_SECONDS",
                format!(
                    "must be between 1 and {} (7 days)",
                    MAX_PRESIGN_TTL.as_secs()
                ),
            ));
        }
        if up.multipart_threshold < MIN_PART_SIZE {
            return Err(invalid(
                "COFFER_MULTIPART_THRESHOLD_BYTES",
                format!("must be at least {MIN_PART_SIZE} (S3's smallest part)"),
            ));
        }
        if up.max_upload_bytes > MIN_PART_SIZE * 1024 * MAX_PARTS {
            return Err(invalid("COFFER_MAX_UPLOAD_BYTES", "must not exceed 50 TiB"));
        }
        if up.upload_expiry.is_zero() {
            return Err(invalid(
                "COFFER_UPLOAD_EXPIRY_SECONDS",
                "must be at least 1",
            ));
        }
        if self.worker.lease < Duration::from_millis(300) || self.worker.max_attempts < 1 {
            return Err(invalid(
                "COFFER_WORKER_LEASE_SECONDS",
                "the lease must be at least 1 second and COFFER_TASK_MAX_ATTEMPTS at least 1",
            ));
        }
        if self.archives.part_bytes < MIN_PART_SIZE || self.archives.min_bandwidth == 0 {
            return Err(invalid(
                "COFFER_ARCHIVE_PART_BYTES",
                format!(
                    "parts must be at least {MIN_PART_SIZE} bytes and the bandwidth at least 1"
                ),
            ));
        }
        if self.s3.endpoint.is_some()
            && (self.s3.access_key.is_none() || self.s3.secret_key.is_none())
        {
            return Err(invalid(
                "COFFER_S3_ACCESS_KEY",
                "an external S3 endpoint needs COFFER_S3_ACCESS_KEY and COFFER_S3_SECRET_KEY",
            ));
        }
        Ok(())
    }

    pub fn is_sqlite(&self) -> bool {
        self.database_url.starts_with("sqlite:")
    }
}

fn parse_net(s: &str) -> Option<IpNet> {
    s.parse::<IpNet>()
        .ok()
        .or_else(|| s.parse::<IpAddr>().ok().map(IpNet::from))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn from(pairs: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::from_lookup(move |k| map.get(k).cloned())
    }

    #[test]
    fn defaults_use_sqlite_under_data_dir() {
        let s = from(&[]).expect("defaults are valid");
        assert_eq!(s.database_url, "sqlite://./data/coffer.db?mode=rwc");
        assert_eq!(s.access_token_ttl, Duration::from_secs(300));
        assert!(s.s3.endpoint.is_none());
    }

    #[test]
    fn production_refuses_short_secret() {
        let short = from(&[("COFFER_ENV", "production"), ("COFFER_JWT_SECRET", "short")]);
        assert!(
            matches!(short, Err(ConfigError::Invalid { ref name, .. }) if name == "COFFER_JWT_SECRET")
        );
        let missing = from(&[("COFFER_ENV", "production")]);
        assert!(missing.is_err());
        let ok = from(&[
            ("COFFER_ENV", "production"),
            ("COFFER_JWT_SECRET", &"x".repeat(32)),
        ]);
        assert!(ok.is_ok());
    }

    #[test]
    fn presign_ttl_is_capped_at_seven_days() {
        assert!(from(&[("COFFER_PRESIGN_TTL_SECONDS", "604801")]).is_err());
        assert!(from(&[("COFFER_PRESIGN_TTL_SECONDS", "604800")]).is_ok());
        assert!(from(&[("COFFER_MULTIPART_THRESHOLD_BYTES", "1000")]).is_err());
    }

    #[test]
    fn access_token_ttl_is_capped() {
        assert!(from(&[("COFFER_ACCESS_TOKEN_TTL_SECONDS", "601")]).is_err());
        assert!(from(&[("COFFER_ACCESS_TOKEN_TTL_SECONDS", "600")]).is_ok());
    }

    #[test]
    fn secrets_come_from_files() {
        let dir = std::env::temp_dir().join(format!("coffer-cfg-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("secret");
        std::fs::write(&path, format!("{}\n", "k".repeat(40))).expect("write secret");
        let s =
            from(&[("COFFER_JWT_SECRET_FILE", path.to_str().expect("utf-8 path"))]).expect("valid");
        assert_eq!(
            s.jwt_secret.expect("secret").expose_secret(),
            "k".repeat(40)
        );
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn trusted_proxies_parse_addresses_and_networks() {
        let s = from(&[("COFFER_TRUSTED_PROXIES", "10.0.0.1, 192.168.0.0/16")]).expect("valid");
        assert_eq!(s.trusted_proxies.len(), 2);
        assert!(from(&[("COFFER_TRUSTED_PROXIES", "nonsense")]).is_err());
    }

    #[test]
    fn debug_output_redacts_secrets() {
        let s = from(&[
            (
                "COFFER_JWT_SECRET",
                "super-secret-value-that-is-long-enough",
            ),
            ("DATABASE_URL", "postgres://u:hunter2@db/coffer"),
        ])
        .expect("valid");
        let dbg = format!("{s:?}");
        assert!(!dbg.contains("super-secret"));
        assert!(!dbg.contains("hunter2"));
    }
}
