//! Requests to presigned URLs: PUTs of files and parts, ranged GETs, and the shared
//! bandwidth limit. Presigned URLs are credentials: no error message carries one.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

use super::api::without_url;
use super::{CliError, Result};

/// Files up to this size are read into memory for their PUT; bigger ones are streamed.
const IN_MEMORY: u64 = 8 << 20;

/// What the store answered to a PUT.
pub enum Outcome {
    Stored,
    /// Refused, with the store's reason (a checksum mismatch, an expired URL, …).
    Refused(String),
}

fn headers(signed: &BTreeMap<String, String>) -> Result<HeaderMap> {
    let mut map = HeaderMap::new();
    for (k, v) in signed {
        let name = HeaderName::from_bytes(k.as_bytes())
            .map_err(|e| CliError::failed(format!("bad header from the server: {e}")))?;
        let value = HeaderValue::from_str(v)
            .map_err(|e| CliError::failed(format!("bad header from the server: {e}")))?;
        map.insert(name, value);
    }
    Ok(map)
}

async fn outcome(resp: reqwest::Response) -> Outcome {
    let status = resp.status();
    if status.is_success() {
        return Outcome::Stored;
    }
    let body = resp.text().await.unwrap_or_default();
    let code = between(&body, "<Code>", "</Code>");
    let msg = between(&body, "<Message>", "</Message>");
    Outcome::Refused(match (code, msg) {
        (Some(c), Some(m)) => format!("the store refused the bytes ({status}, {c}: {m})"),
        (Some(c), None) => format!("the store refused the bytes ({status}, {c})"),
        _ => format!("the store refused the bytes ({status})"),
    })
}

fn between<'a>(s: &'a str, open: &str, close: &str) -> Option<&'a str> {
    let start = s.find(open)? + open.len();
    let end = s[start..].find(close)? + start;
    Some(&s[start..end])
}

/// PUTs a whole file to a presigned URL with exactly its signed headers.
pub async fn put(
    http: &reqwest::Client,
    url: &str,
    signed: &BTreeMap<String, String>,
    path: &Path,
    size: u64,
) -> Result<Outcome> {
    let open_err = |e: std::io::Error| CliError::failed(format!("{}: {e}", path.display()));
    let body = if size <= IN_MEMORY {
        reqwest::Body::from(tokio::fs::read(path).await.map_err(open_err)?)
    } else {
        reqwest::Body::from(tokio::fs::File::open(path).await.map_err(open_err)?)
    };
    put_body(http, url, signed, body).await
}

/// PUTs bytes (a part) to a presigned URL with exactly its signed headers.
pub async fn put_bytes(
    http: &reqwest::Client,
    url: &str,
    signed: &BTreeMap<String, String>,
    bytes: bytes::Bytes,
) -> Result<Outcome> {
    put_body(http, url, signed, bytes.into()).await
}

async fn put_body(
    http: &reqwest::Client,
    url: &str,
    signed: &BTreeMap<String, String>,
    body: reqwest::Body,
) -> Result<Outcome> {
    let resp = http
        .put(url)
        .headers(headers(signed)?)
        .body(body)
        .send()
        .await
        .map_err(|e| CliError::failed(without_url(e)))?;
    Ok(outcome(resp).await)
}

/// A GET of a presigned URL, optionally of a byte range; the response to stream.
pub async fn get(
    http: &reqwest::Client,
    url: &str,
    range: Option<(u64, u64)>,
) -> Result<reqwest::Response> {
    let mut req = http.get(url);
    if let Some((start, end)) = range {
        req = req.header("range", format!("bytes={start}-{}", end - 1));
    }
    let resp = req
        .send()
        .await
        .map_err(|e| CliError::failed(without_url(e)))?;
    if !resp.status().is_success() {
        return Err(CliError::failed(format!(
            "the store answered {} to a download",
            resp.status()
        )));
    }
    Ok(resp)
}

/// The most bytes per second over all transfers (0: no limit): each transfer takes its
/// slot of time before it starts.
pub struct Limiter {
    rate: u64,
    next: std::sync::Mutex<Instant>,
}

impl Limiter {
    pub fn new(rate: u64) -> Limiter {
        Limiter {
            rate,
            next: std::sync::Mutex::new(Instant::now()),
        }
    }

    pub async fn take(&self, bytes: u64) {
        if self.rate == 0 {
            return;
        }
        let start = {
            let Ok(mut next) = self.next.lock() else {
                return;
            };
            let start = (*next).max(Instant::now());
            *next = start + Duration::from_secs_f64(bytes as f64 / self.rate as f64);
            start
        };
        tokio::time::sleep_until(start.into()).await;
    }
}
