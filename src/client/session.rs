//! The stored login: `$XDG_CONFIG_HOME/coffer/credentials.json` (mode 0600), and its
//! refresh under a file lock, so that several `coffer` processes on one node never present
//! one refresh token twice (the server would end the session as a replay).

use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{CliError, Exit, Result};

#[derive(Serialize, Deserialize, Clone)]
pub struct Stored {
    pub server: String,
    pub username: String,
    pub access_token: String,
    pub access_expires_at: DateTime<Utc>,
    pub refresh_token: String,
}

/// The part of the server's token answer the client keeps.
#[derive(Deserialize)]
pub struct TokenAnswer {
    pub access_token: Option<String>,
    pub expires_in: i64,
    pub refresh_token: Option<String>,
    pub user: UserAnswer,
}

#[derive(Deserialize)]
pub struct UserAnswer {
    pub username: String,
}

impl Stored {
    pub fn from_answer(server: &str, t: TokenAnswer) -> Result<Stored> {
        let (Some(access), Some(refresh)) = (t.access_token, t.refresh_token) else {
            return Err(CliError::failed("the server answered without tokens"));
        };
        Ok(Stored {
            server: server.to_owned(),
            username: t.user.username,
            access_token: access,
            access_expires_at: Utc::now() + chrono::Duration::seconds(t.expires_in),
            refresh_token: refresh,
        })
    }

    /// Still good for a while: refreshed 30 s before it expires.
    pub fn fresh(&self) -> bool {
        self.access_expires_at - chrono::Duration::seconds(30) > Utc::now()
    }
}

fn dir_of(var: &str, fallback: &str) -> Result<PathBuf> {
    match std::env::var_os(var).filter(|v| !v.is_empty()) {
        Some(v) => Ok(PathBuf::from(v).join("coffer")),
        None => match std::env::var_os("HOME") {
            Some(h) => Ok(PathBuf::from(h).join(fallback).join("coffer")),
            None => Err(CliError::usage(format!("neither {var} nor HOME is set"))),
        },
    }
}

pub fn config_dir() -> Result<PathBuf> {
    dir_of("XDG_CONFIG_HOME", ".config")
}

pub fn state_dir() -> Result<PathBuf> {
    dir_of("XDG_STATE_HOME", ".local/state")
}

fn credentials_path() -> Result<PathBuf> {
    Ok(config_dir()?.join("credentials.json"))
}

pub fn load() -> Result<Option<Stored>> {
    let path = credentials_path()?;
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
            CliError::new(
                Exit::Auth,
                format!("{} is damaged ({e}): run coffer login", path.display()),
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Writes `contents` to `path` through a temporary file (mode 0600) and a rename, so a
/// reader sees the old or the new file, never half of one.
pub fn write_private(path: &Path, contents: &[u8]) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(contents)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

pub fn save(stored: &Stored) -> Result<()> {
    let json = serde_json::to_vec_pretty(stored).map_err(|e| CliError::failed(e.to_string()))?;
    write_private(&credentials_path()?, &json)
}

pub fn forget() -> Result<()> {
    match std::fs::remove_file(credentials_path()?) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
        _ => Ok(()),
    }
}

/// An exclusive lock on `credentials.lock`, held until dropped. Taken on a blocking
/// thread: another process may hold it for the length of one refresh.
pub async fn lock() -> Result<std::fs::File> {
    let path = config_dir()?.join("credentials.lock");
    tokio::task::spawn_blocking(move || -> Result<std::fs::File> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)?;
        f.lock()?;
        Ok(f)
    })
    .await
    .map_err(|e| CliError::failed(e.to_string()))?
}
