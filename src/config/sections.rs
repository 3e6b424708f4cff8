//! The settings sections that read and check themselves: the object store, uploads,
//! the worker, archives and rate limits. Each has its defaults, reads its variables
//! over them, and says what is wrong with its values.

use std::time::Duration;

use secrecy::SecretString;

use super::source::{invalid, ConfigError, Source};

/// S3 refuses presigned URLs that live longer than 7 days.
pub const MAX_PRESIGN_TTL: Duration = Duration::from_secs(7 * 24 * 3600);
/// S3's smallest part (except the last) and largest part count.
pub const MIN_PART_SIZE: u64 = 5 * 1024 * 1024;
pub const MAX_PARTS: u64 = 10_000;

type Lookup<'a> = Source<&'a dyn Fn(&str) -> Option<String>>;

/// Where objects live: an external S3 endpoint or the embedded server.
#[derive(Debug, Clone)]
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

impl Default for S3Settings {
    fn default() -> Self {
        S3Settings {
            endpoint: None,
            public_endpoint: None,
            region: "us-east-1".into(),
            bucket: "coffer".into(),
            access_key: None,
            secret_key: None,
            path_style: true,
            embedded_port: 9010,
        }
    }
}

impl S3Settings {
    pub(super) fn read(src: &Lookup, d: S3Settings) -> Result<S3Settings, ConfigError> {
        Ok(S3Settings {
            endpoint: src.get("COFFER_S3_ENDPOINT"),
            public_endpoint: src.get("COFFER_S3_PUBLIC_ENDPOINT"),
            region: src.get("COFFER_S3_REGION").unwrap_or(d.region),
            bucket: src.get("COFFER_S3_BUCKET").unwrap_or(d.bucket),
            access_key: src.secret("COFFER_S3_ACCESS_KEY")?,
            secret_key: src.secret("COFFER_S3_SECRET_KEY")?,
            path_style: src.flag("COFFER_S3_PATH_STYLE", d.path_style)?,
            embedded_port: src.parse("COFFER_EMBEDDED_S3_PORT", d.embedded_port)?,
        })
    }

    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if self.endpoint.is_some() && (self.access_key.is_none() || self.secret_key.is_none()) {
            return Err(invalid(
                "COFFER_S3_ACCESS_KEY",
                "an external S3 endpoint needs COFFER_S3_ACCESS_KEY and COFFER_S3_SECRET_KEY",
            ));
        }
        Ok(())
    }
}

/// A token bucket: a sustained rate and a burst.
#[derive(Debug, Clone, Copy)]
pub struct RateLimit {
    /// Sustained requests per minute.
    pub per_minute: u32,
    /// Requests allowed in a burst.
    pub burst: u32,
}

impl RateLimit {
    /// The rate from `vars.0` and the burst from `vars.1`, over `d`.
    pub(super) fn read(
        src: &Lookup,
        vars: (&str, &str),
        d: RateLimit,
    ) -> Result<RateLimit, ConfigError> {
        Ok(RateLimit {
            per_minute: src.parse(vars.0, d.per_minute)?,
            burst: src.parse(vars.1, d.burst)?,
        })
    }

    /// `rate_var` names the limit in the error.
    pub(super) fn validate(&self, rate_var: &str) -> Result<(), ConfigError> {
        if self.per_minute == 0 || self.burst == 0 {
            return Err(invalid(rate_var, "rate and burst must be at least 1"));
        }
        Ok(())
    }
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

impl Default for UploadSettings {
    fn default() -> Self {
        UploadSettings {
            presign_ttl: Duration::from_secs(600),
            multipart_threshold: 64 * 1024 * 1024,
            max_upload_bytes: 5 * 1024 * 1024 * 1024 * 1024,
            allowed_content_types: Vec::new(),
            upload_expiry: Duration::from_secs(24 * 3600),
        }
    }
}

impl UploadSettings {
    pub(super) fn read(src: &Lookup, d: UploadSettings) -> Result<UploadSettings, ConfigError> {
        Ok(UploadSettings {
            presign_ttl: src.seconds("COFFER_PRESIGN_TTL_SECONDS", d.presign_ttl)?,
            multipart_threshold: src
                .parse("COFFER_MULTIPART_THRESHOLD_BYTES", d.multipart_threshold)?,
            max_upload_bytes: src.parse("COFFER_MAX_UPLOAD_BYTES", d.max_upload_bytes)?,
            allowed_content_types: src
                .list("COFFER_ALLOWED_CONTENT_TYPES")
                .into_iter()
                .map(|t| t.to_ascii_lowercase())
                .collect(),
            upload_expiry: src.seconds("COFFER_UPLOAD_EXPIRY_SECONDS", d.upload_expiry)?,
        })
    }

    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if self.presign_ttl.is_zero() || self.presign_ttl > MAX_PRESIGN_TTL {
            return Err(invalid(
                "COFFER_PRESIGN_TTL_SECONDS",
                format!(
                    "must be between 1 and {} (7 days)",
                    MAX_PRESIGN_TTL.as_secs()
                ),
            ));
        }
        if self.multipart_threshold < MIN_PART_SIZE {
            return Err(invalid(
                "COFFER_MULTIPART_THRESHOLD_BYTES",
                format!("must be at least {MIN_PART_SIZE} (S3's smallest part)"),
            ));
        }
        if self.max_upload_bytes > MIN_PART_SIZE * 1024 * MAX_PARTS {
            return Err(invalid("COFFER_MAX_UPLOAD_BYTES", "must not exceed 50 TiB"));
        }
        if self.upload_expiry.is_zero() {
            return Err(invalid(
                "COFFER_UPLOAD_EXPIRY_SECONDS",
                "must be at least 1",
            ));
        }
        Ok(())
    }
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

impl Default for WorkerSettings {
    fn default() -> Self {
        WorkerSettings {
            in_process: true,
            poll: Duration::from_millis(500),
            lease: Duration::from_secs(30),
            max_attempts: 5,
            backoff_base: Duration::from_secs(2),
            reconcile_every: Duration::from_secs(60),
            shutdown_grace: Duration::from_secs(20),
        }
    }
}

impl WorkerSettings {
    pub(super) fn read(src: &Lookup, d: WorkerSettings) -> Result<WorkerSettings, ConfigError> {
        Ok(WorkerSettings {
            in_process: src.flag("COFFER_WORKER_IN_PROCESS", d.in_process)?,
            poll: src.millis("COFFER_WORKER_POLL_MS", d.poll)?,
            lease: src.seconds("COFFER_WORKER_LEASE_SECONDS", d.lease)?,
            max_attempts: src.parse("COFFER_TASK_MAX_ATTEMPTS", d.max_attempts)?,
            backoff_base: src.millis("COFFER_TASK_BACKOFF_MS", d.backoff_base)?,
            reconcile_every: src.seconds("COFFER_RECONCILE_INTERVAL_SECONDS", d.reconcile_every)?,
            shutdown_grace: src
                .seconds("COFFER_WORKER_SHUTDOWN_GRACE_SECONDS", d.shutdown_grace)?,
        })
    }

    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if self.lease < Duration::from_millis(300) || self.max_attempts < 1 {
            return Err(invalid(
                "COFFER_WORKER_LEASE_SECONDS",
                "the lease must be at least 1 second and COFFER_TASK_MAX_ATTEMPTS at least 1",
            ));
        }
        Ok(())
    }
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

impl Default for ArchiveSettings {
    fn default() -> Self {
        ArchiveSettings {
            max_bytes: 100 * 1024 * 1024 * 1024,
            max_entries: 10_000,
            min_ttl: Duration::from_secs(3600),
            min_bandwidth: 1024 * 1024,
            part_bytes: 8 * 1024 * 1024,
        }
    }
}

impl ArchiveSettings {
    pub(super) fn read(src: &Lookup, d: ArchiveSettings) -> Result<ArchiveSettings, ConfigError> {
        Ok(ArchiveSettings {
            max_bytes: src.parse("COFFER_ARCHIVE_MAX_BYTES", d.max_bytes)?,
            max_entries: src.parse("COFFER_ARCHIVE_MAX_ENTRIES", d.max_entries)?,
            min_ttl: src.seconds("COFFER_ARCHIVE_MIN_TTL_SECONDS", d.min_ttl)?,
            min_bandwidth: src.parse("COFFER_ARCHIVE_MIN_BANDWIDTH_BYTES", d.min_bandwidth)?,
            part_bytes: src.parse("COFFER_ARCHIVE_PART_BYTES", d.part_bytes)?,
        })
    }

    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if self.part_bytes < MIN_PART_SIZE || self.min_bandwidth == 0 {
            return Err(invalid(
                "COFFER_ARCHIVE_PART_BYTES",
                format!(
                    "parts must be at least {MIN_PART_SIZE} bytes and the bandwidth at least 1"
                ),
            ));
        }
        Ok(())
    }
}

/// An external identity provider: it vouches for users that are not local accounts.
#[derive(Debug, Clone)]
pub struct ExternalAuthSettings {
    /// `None`: local accounts only.
    pub url: Option<String>,
    /// The HMAC key requests to the provider are signed with.
    pub secret: Option<SecretString>,
    /// The provider's name: with a user's subject, the key of their account.
    pub name: String,
    pub timeout: Duration,
    /// Groups whose members are created as admins.
    pub admin_groups: Vec<String>,
    /// Consecutive failures that stop forwarding, and for how long.
    pub breaker_failures: u32,
    pub breaker_open: Duration,
}

impl Default for ExternalAuthSettings {
    fn default() -> Self {
        ExternalAuthSettings {
            url: None,
            secret: None,
            name: "external".into(),
            timeout: Duration::from_secs(5),
            admin_groups: Vec::new(),
            breaker_failures: 3,
            breaker_open: Duration::from_secs(30),
        }
    }
}

impl ExternalAuthSettings {
    pub(super) fn read(
        src: &Lookup,
        d: ExternalAuthSettings,
    ) -> Result<ExternalAuthSettings, ConfigError> {
        Ok(ExternalAuthSettings {
            url: src.get("COFFER_AUTH_EXTERNAL_URL"),
            secret: src.secret("COFFER_AUTH_EXTERNAL_SECRET")?,
            name: src.get("COFFER_AUTH_EXTERNAL_NAME").unwrap_or(d.name),
            timeout: src.millis("COFFER_AUTH_EXTERNAL_TIMEOUT_MS", d.timeout)?,
            admin_groups: src.list("COFFER_AUTH_EXTERNAL_ADMIN_GROUPS"),
            breaker_failures: src
                .parse("COFFER_AUTH_EXTERNAL_BREAKER_FAILURES", d.breaker_failures)?,
            breaker_open: src.seconds("COFFER_AUTH_EXTERNAL_BREAKER_SECONDS", d.breaker_open)?,
        })
    }

    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        let Some(url) = &self.url else {
            return Ok(());
        };
        let parsed = url::Url::parse(url)
            .map_err(|e| invalid("COFFER_AUTH_EXTERNAL_URL", format!("not a URL: {e}")))?;
        let loopback = match parsed.host() {
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            Some(url::Host::Domain(d)) => d == "localhost",
            None => false,
        };
        if parsed.scheme() != "https" && !(parsed.scheme() == "http" && loopback) {
            return Err(invalid(
                "COFFER_AUTH_EXTERNAL_URL",
                "must be https (plain http only to this machine's loopback address)",
            ));
        }
        use secrecy::ExposeSecret as _;
        if self
            .secret
            .as_ref()
            .is_none_or(|s| s.expose_secret().len() < 32)
        {
            return Err(invalid(
                "COFFER_AUTH_EXTERNAL_SECRET",
                "must be set, at least 32 bytes, when COFFER_AUTH_EXTERNAL_URL is",
            ));
        }
        if self.name.is_empty() || self.name.len() > 64 || self.timeout.is_zero() {
            return Err(invalid(
                "COFFER_AUTH_EXTERNAL_NAME",
                "the name must be 1 to 64 bytes and the timeout above zero",
            ));
        }
        if self.breaker_failures == 0 {
            return Err(invalid(
                "COFFER_AUTH_EXTERNAL_BREAKER_FAILURES",
                "must be at least 1",
            ));
        }
        Ok(())
    }
}

/// The benchwrap protocol under `/api`.
#[derive(Debug, Clone)]
pub struct BenchwrapSettings {
    /// The folder, in each user's root, that the client's paths are relative to.
    pub root_name: String,
    /// What an upload of unknown size reserves, and the most it may hold.
    pub max_upload_bytes: u64,
    /// How often the worker looks for the objects of open unsized uploads.
    pub poll_every: Duration,
}

impl Default for BenchwrapSettings {
    fn default() -> Self {
        BenchwrapSettings {
            root_name: "benchwrap".into(),
            max_upload_bytes: 5 * 1024 * 1024 * 1024,
            poll_every: Duration::from_secs(5),
        }
    }
}

impl BenchwrapSettings {
    pub(super) fn read(
        src: &Lookup,
        d: BenchwrapSettings,
    ) -> Result<BenchwrapSettings, ConfigError> {
        Ok(BenchwrapSettings {
            root_name: src.get("COFFER_BENCHWRAP_ROOT").unwrap_or(d.root_name),
            max_upload_bytes: src.parse("COFFER_BENCHWRAP_MAX_UPLOAD_BYTES", d.max_upload_bytes)?,
            poll_every: src.seconds("COFFER_BENCHWRAP_POLL_SECONDS", d.poll_every)?,
        })
    }

    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        let name = self.root_name.as_str();
        let valid = !name.is_empty()
            && name.len() <= 255
            && name == name.trim()
            && name != "."
            && name != ".."
            && !name.contains(['/', '\\'])
            && !name.chars().any(char::is_control);
        if !valid {
            return Err(invalid(
                "COFFER_BENCHWRAP_ROOT",
                "must be a valid file name",
            ));
        }
        // S3's largest single PUT.
        if self.max_upload_bytes == 0 || self.max_upload_bytes > 5 * 1024 * 1024 * 1024 {
            return Err(invalid(
                "COFFER_BENCHWRAP_MAX_UPLOAD_BYTES",
                "must be between 1 and 5 GiB (S3's largest single PUT)",
            ));
        }
        if self.poll_every.is_zero() {
            return Err(invalid(
                "COFFER_BENCHWRAP_POLL_SECONDS",
                "must be at least 1",
            ));
        }
        Ok(())
    }
}

/// The cloud tier: a second S3 store the worker copies files to. Unset endpoint: no
/// tiering.
#[derive(Debug, Clone)]
pub struct TierSettings {
    pub endpoint: Option<String>,
    /// The endpoint clients reach; downloads of files only in the cloud are signed for it.
    pub public_endpoint: Option<String>,
    pub region: String,
    pub bucket: String,
    pub access_key: Option<SecretString>,
    pub secret_key: Option<SecretString>,
    pub path_style: bool,
}

impl Default for TierSettings {
    fn default() -> Self {
        TierSettings {
            endpoint: None,
            public_endpoint: None,
            region: "us-east-1".into(),
            bucket: "coffer-tier".into(),
            access_key: None,
            secret_key: None,
            path_style: true,
        }
    }
}

impl TierSettings {
    pub(super) fn read(src: &Lookup, d: TierSettings) -> Result<TierSettings, ConfigError> {
        Ok(TierSettings {
            endpoint: src.get("COFFER_TIER_S3_ENDPOINT"),
            public_endpoint: src.get("COFFER_TIER_S3_PUBLIC_ENDPOINT"),
            region: src.get("COFFER_TIER_S3_REGION").unwrap_or(d.region),
            bucket: src.get("COFFER_TIER_S3_BUCKET").unwrap_or(d.bucket),
            access_key: src.secret("COFFER_TIER_S3_ACCESS_KEY")?,
            secret_key: src.secret("COFFER_TIER_S3_SECRET_KEY")?,
            path_style: src.flag("COFFER_TIER_S3_PATH_STYLE", d.path_style)?,
        })
    }

    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if self.endpoint.is_some() && (self.access_key.is_none() || self.secret_key.is_none()) {
            return Err(invalid(
                "COFFER_TIER_S3_ACCESS_KEY",
                "the cloud tier needs COFFER_TIER_S3_ACCESS_KEY and COFFER_TIER_S3_SECRET_KEY",
            ));
        }
        Ok(())
    }
}
