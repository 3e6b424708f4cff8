//! Secrets the service keeps on disk in development: written with mode 0600.

use std::io::Write as _;
use std::path::Path;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rand::RngCore as _;
use secrecy::{ExposeSecret, SecretString};

use crate::config::{Environment, Settings, MIN_JWT_SECRET_BYTES};

/// Writes a file only its owner can read.
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    f.write_all(bytes)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(())
}

/// Creates `dir` and its missing parents with mode 0700 (they hold the database with
/// password and token hashes, and secrets); an existing directory is left as it is.
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt as _;
        builder.mode(0o700);
    }
    builder.create(dir)
}

/// Creates an empty file with mode 0600 unless it exists (SQLite then opens it as a
/// new database, and gives its `-wal` and `-shm` files the same mode).
pub fn create_private_file(path: &Path) -> std::io::Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        opts.mode(0o600);
    }
    match opts.open(path) {
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        other => other.map(drop),
    }
}

/// The JWT signing secret: from settings, or in development generated once and kept
/// in `<data_dir>/jwt-secret` (with a loud warning).
pub fn jwt_secret(settings: &Settings) -> std::io::Result<SecretString> {
    if let Some(secret) = &settings.jwt_secret {
        if secret.expose_secret().len() < MIN_JWT_SECRET_BYTES {
            tracing::warn!("COFFER_JWT_SECRET is shorter than {MIN_JWT_SECRET_BYTES} bytes; production refuses it");
        }
        return Ok(secret.clone());
    }
    debug_assert_eq!(settings.environment, Environment::Development);
    let path = settings.data_dir.join("jwt-secret");
    if let Ok(existing) = std::fs::read_to_string(&path) {
        let existing = existing.trim().to_owned();
        if existing.len() >= MIN_JWT_SECRET_BYTES {
            tracing::warn!(path = %path.display(), "using the development JWT secret kept under the data dir; set COFFER_JWT_SECRET in production");
            return Ok(SecretString::from(existing));
        }
    }
    let mut bytes = [0u8; 48];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let secret = URL_SAFE_NO_PAD.encode(bytes);
    write_private(&path, secret.as_bytes())?;
    tracing::warn!(path = %path.display(), "generated a development JWT secret (mode 0600); set COFFER_JWT_SECRET in production");
    Ok(SecretString::from(secret))
}
