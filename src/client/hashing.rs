//! Checksums as S3 carries them: SHA-256 and MD5 in standard base64.

use std::io::Read as _;
use std::path::PathBuf;

use base64::Engine as _;
use sha2::Digest as _;

use super::{CliError, Result};

pub fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The SHA-256 of a whole file, read once in blocks of 256 KiB on a blocking thread.
/// Each blocking thread keeps its block buffer: a fresh megabyte per file (zeroed by the
/// kernel each time it came back from the allocator) cost more CPU than the hashing
/// when pushing thousands of small files (1.6 CPU-s for 2,000 files of 64 KiB; 0.4 now).
pub async fn sha256_file(path: PathBuf) -> Result<String> {
    thread_local! {
        static BLOCK: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    tokio::task::spawn_blocking(move || -> Result<String> {
        let mut f = std::fs::File::open(&path)
            .map_err(|e| CliError::failed(format!("{}: {e}", path.display())))?;
        let mut hasher = sha2::Sha256::new();
        BLOCK.with_borrow_mut(|buf| {
            if buf.is_empty() {
                buf.resize(256 << 10, 0);
            }
            loop {
                let n = f.read(buf)?;
                if n == 0 {
                    return Ok(b64(&hasher.finalize()));
                }
                hasher.update(&buf[..n]);
            }
        })
    })
    .await
    .map_err(|e| CliError::failed(e.to_string()))?
}
