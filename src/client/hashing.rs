//! Checksums as S3 carries them: SHA-256 and MD5 in standard base64.

use std::io::Read as _;
use std::path::PathBuf;

use base64::Engine as _;
use sha2::Digest as _;

use super::{CliError, Result};

pub fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The SHA-256 of a whole file, read once in 1 MiB blocks on a blocking thread.
pub async fn sha256_file(path: PathBuf) -> Result<String> {
    tokio::task::spawn_blocking(move || -> Result<String> {
        let mut f = std::fs::File::open(&path)
            .map_err(|e| CliError::failed(format!("{}: {e}", path.display())))?;
        let mut hasher = sha2::Sha256::new();
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = f.read(&mut buf)?;
            if n == 0 {
                return Ok(b64(&hasher.finalize()));
            }
            hasher.update(&buf[..n]);
        }
    })
    .await
    .map_err(|e| CliError::failed(e.to_string()))?
}
