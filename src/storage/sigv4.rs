//! AWS Signature V4 query-string presigning, done here because it is the hot path of
//! downloads and upload starts: rust-s3 builds a full request (URL parsing, header maps,
//! regexes) for every presign, which costs several times more than the signature
//! itself. What stays the same for a day (the signing key, the scope, the encoded
//! credential) is derived once; the canonical request and the string to sign are fed
//! straight into SHA-256 and HMAC instead of being built as strings. The integration
//! tests use every URL this produces against the embedded server and Garage.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Datelike as _, Timelike as _, Utc};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

fn new_mac(key: &[u8]) -> HmacSha256 {
    #[allow(clippy::expect_used)]
    HmacSha256::new_from_slice(key).expect("HMAC takes keys of any length")
}

/// HMAC-SHA256 of `data` under `key`.
pub fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac = new_mac(key);
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// Appends `s` percent-encoded: RFC 3986 unreserved characters stay, every other byte
/// becomes `%XX`. Runs of unreserved characters are copied whole.
fn push_encoded(out: &mut String, s: &str) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let reserved = |c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '~'));
    let mut rest = s;
    while let Some(at) = rest.find(reserved) {
        out.push_str(&rest[..at]);
        let len = rest[at..].chars().next().map_or(1, char::len_utf8);
        for &b in &rest.as_bytes()[at..at + len] {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 15)]));
        }
        rest = &rest[at + len..];
    }
    out.push_str(rest);
}

fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    push_encoded(&mut out, s);
    out
}

/// Lower-case hex of 32 bytes, without allocating.
fn hex32(bytes: &[u8; 32]) -> [u8; 64] {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = [0u8; 64];
    for (i, b) in bytes.iter().enumerate() {
        out[2 * i] = HEX[usize::from(b >> 4)];
        out[2 * i + 1] = HEX[usize::from(b & 15)];
    }
    out
}

/// Appends `n` as `width` decimal digits, zero-padded.
fn push_digits(out: &mut String, n: u32, width: u32) {
    for place in (0..width).rev() {
        out.push(char::from(b'0' + (n / 10u32.pow(place) % 10) as u8));
    }
}

/// `yyyymmddThhmmssZ`, the form SigV4 dates take.
fn amz_date(now: DateTime<Utc>) -> String {
    let mut out = String::with_capacity(16);
    push_digits(&mut out, now.year().unsigned_abs(), 4);
    push_digits(&mut out, now.month(), 2);
    push_digits(&mut out, now.day(), 2);
    out.push('T');
    push_digits(&mut out, now.hour(), 2);
    push_digits(&mut out, now.minute(), 2);
    push_digits(&mut out, now.second(), 2);
    out.push('Z');
    out
}

/// What a day's signatures share.
struct Day {
    /// `yyyymmdd`.
    date: String,
    /// HMAC keyed with the day's signing key: cloned per signature, so the key's
    /// padding blocks are hashed once a day rather than every time.
    mac: HmacSha256,
    /// `yyyymmdd/region/s3/aws4_request`.
    scope: String,
    /// `access_key/scope`, percent-encoded for the query string.
    credential: String,
}

/// A bucket as seen by clients, with the credentials to sign for it.
pub struct Presigner {
    scheme_host: String,
    host: String,
    /// `/bucket` for path style, empty for virtual-hosted style.
    path_prefix: String,
    region: String,
    access_key: String,
    secret_key: String,
    /// The last day signed for.
    day: Mutex<Option<Arc<Day>>>,
}

/// One presign: the method, the key, the signed headers and extra query parameters.
pub struct PresignRequest<'a> {
    pub method: &'a str,
    pub key: &'a str,
    /// Lower-case header names and values the client must send.
    pub headers: &'a [(&'a str, &'a str)],
    pub query: &'a [(&'a str, &'a str)],
    pub expires_secs: u32,
}

impl Presigner {
    /// `endpoint` is `scheme://host[:port]` as clients reach it.
    /// `scheme://host[:port]` of the URLs it signs.
    pub fn origin(&self) -> &str {
        &self.scheme_host
    }

    pub fn new(
        endpoint: &str,
        bucket: &str,
        region: &str,
        access_key: &str,
        secret_key: &str,
        path_style: bool,
    ) -> Result<Presigner, String> {
        let url = url::Url::parse(endpoint).map_err(|e| format!("endpoint {endpoint:?}: {e}"))?;
        let scheme = url.scheme();
        let mut host = url
            .host_str()
            .ok_or_else(|| format!("endpoint {endpoint:?} has no host"))?
            .to_owned();
        if !path_style {
            host = format!("{bucket}.{host}");
        }
        if let Some(port) = url.port() {
            host = format!("{host}:{port}");
        }
        let base_path = url.path().trim_end_matches('/').to_owned();
        Ok(Presigner {
            scheme_host: format!("{scheme}://{host}"),
            path_prefix: if path_style {
                format!("{base_path}/{}", encode(bucket))
            } else {
                base_path
            },
            host,
            region: region.to_owned(),
            access_key: access_key.to_owned(),
            secret_key: secret_key.to_owned(),
            day: Mutex::new(None),
        })
    }

    /// The day's shared parts, derived on the first signature of the day.
    fn day(&self, date: &str) -> Arc<Day> {
        if let Ok(cached) = self.day.lock() {
            if let Some(day) = cached.as_ref().filter(|d| d.date == date) {
                return day.clone();
            }
        }
        let k_date = hmac(
            format!("AWS4{}", self.secret_key).as_bytes(),
            date.as_bytes(),
        );
        let k_region = hmac(&k_date, self.region.as_bytes());
        let k_service = hmac(&k_region, b"s3");
        let scope = format!("{date}/{}/s3/aws4_request", self.region);
        let day = Arc::new(Day {
            date: date.to_owned(),
            mac: new_mac(&hmac(&k_service, b"aws4_request")),
            credential: encode(&format!("{}/{scope}", self.access_key)),
            scope,
        });
        if let Ok(mut cached) = self.day.lock() {
            *cached = Some(day.clone());
        }
        day
    }

    pub fn presign(&self, req: &PresignRequest<'_>) -> String {
        self.presign_at(req, Utc::now())
    }

    pub fn presign_at(&self, req: &PresignRequest<'_>, now: DateTime<Utc>) -> String {
        let amz_date = amz_date(now);
        let day = self.day(&amz_date[..8]);

        let mut path = String::with_capacity(self.path_prefix.len() + req.key.len() * 2);
        path.push_str(&self.path_prefix);
        for segment in req.key.split('/') {
            path.push('/');
            push_encoded(&mut path, segment);
        }

        let mut headers: Vec<(&str, &str)> = Vec::with_capacity(req.headers.len() + 1);
        headers.push(("host", &self.host));
        headers.extend(req.headers.iter().copied());
        headers.sort_unstable_by(|a, b| a.0.cmp(b.0));
        let mut signed_headers = String::with_capacity(64);
        for (i, (name, _)) in headers.iter().enumerate() {
            if i > 0 {
                signed_headers.push(';');
            }
            signed_headers.push_str(name);
        }

        // Sorted by key: the `X-Amz-*` parameters (upper case) come before the extra
        // ones, which are all lower case.
        let mut query = String::with_capacity(512);
        query.push_str("X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=");
        query.push_str(&day.credential);
        query.push_str("&X-Amz-Date=");
        query.push_str(&amz_date);
        query.push_str("&X-Amz-Expires=");
        query.push_str(&req.expires_secs.to_string());
        query.push_str("&X-Amz-SignedHeaders=");
        push_encoded(&mut query, &signed_headers);
        let mut extra = req.query.to_vec();
        extra.sort_unstable();
        for (k, v) in extra {
            query.push('&');
            push_encoded(&mut query, k);
            query.push('=');
            push_encoded(&mut query, v);
        }

        let mut canonical = Sha256::new();
        for part in [req.method, "\n", &path, "\n", &query, "\n"] {
            canonical.update(part.as_bytes());
        }
        for (name, value) in &headers {
            for part in [*name, ":", value.trim(), "\n"] {
                canonical.update(part.as_bytes());
            }
        }
        for part in ["\n", &signed_headers, "\nUNSIGNED-PAYLOAD"] {
            canonical.update(part.as_bytes());
        }
        let canonical_hash = hex32(&canonical.finalize().into());

        let mut mac = day.mac.clone();
        for part in [
            b"AWS4-HMAC-SHA256\n".as_slice(),
            amz_date.as_bytes(),
            b"\n",
            day.scope.as_bytes(),
            b"\n",
            &canonical_hash,
        ] {
            mac.update(part);
        }
        let signature = hex32(&mac.finalize().into_bytes().into());

        let mut url = String::with_capacity(self.scheme_host.len() + path.len() + query.len() + 90);
        url.push_str(&self.scheme_host);
        url.push_str(&path);
        url.push('?');
        url.push_str(&query);
        url.push_str("&X-Amz-Signature=");
        url.extend(signature.iter().map(|&b| b as char));
        url
    }
}

/// Seconds for a presign: at least 1, at most S3's 7 days.
pub fn ttl_secs(ttl: std::time::Duration) -> u32 {
    ttl.min(crate::config::MAX_PRESIGN_TTL).as_secs().max(1) as u32
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn presign_ttl_is_capped() {
        use std::time::Duration;
        assert_eq!(ttl_secs(Duration::from_secs(30 * 24 * 3600)), 604_800);
        assert_eq!(ttl_secs(Duration::ZERO), 1);
    }

    /// The example from AWS's "Authenticating Requests: Using Query Parameters" page.
    #[test]
    fn matches_the_aws_documentation_example() {
        let p = Presigner::new(
            "https://examplebucket.s3.amazonaws.com",
            "examplebucket",
            "us-east-1",
            "AKIAIOSFODNN7EXAMPLE",
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            true,
        )
        .expect("presigner");
        // The documented example is virtual-hosted: no bucket in the path.
        let p = Presigner {
            path_prefix: String::new(),
            ..p
        };
        let at = Utc
            .with_ymd_and_hms(2013, 5, 24, 0, 0, 0)
            .single()
            .expect("date");
        let url = p.presign_at(
            &PresignRequest {
                method: "GET",
                key: "test.txt",
                headers: &[],
                query: &[],
                expires_secs: 86400,
            },
            at,
        );
        assert!(
            url.ends_with(
                "X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"
            ),
            "{url}"
        );
        assert!(url.starts_with(
            "https://examplebucket.s3.amazonaws.com/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256"
        ));
    }

    #[test]
    fn dates_and_encodings_take_the_sigv4_forms() {
        let at = Utc
            .with_ymd_and_hms(2026, 1, 2, 3, 4, 5)
            .single()
            .expect("date");
        assert_eq!(amz_date(at), "20260102T030405Z");
        assert_eq!(encode("a b/é~-._"), "a%20b%2F%C3%A9~-._");
        assert_eq!(encode("x😀\"y\" z.csv"), "x%F0%9F%98%80%22y%22%20z.csv");
        assert_eq!(encode(""), "");
        assert_eq!(
            String::from_utf8(hex32(&[0xab; 32]).to_vec()).expect("ascii"),
            "ab".repeat(32)
        );
    }

    #[test]
    fn path_style_keeps_the_port_and_encodes_query_values() {
        let p = Presigner::new("http://127.0.0.1:3900/", "b", "garage", "AK", "SK", true)
            .expect("presigner");
        let url = p.presign(&PresignRequest {
            method: "GET",
            key: "u/k_x.txt",
            headers: &[],
            query: &[(
                "response-content-disposition",
                "attachment; filename=\"a b\"",
            )],
            expires_secs: 60,
        });
        assert!(
            url.starts_with("http://127.0.0.1:3900/b/u/k_x.txt?"),
            "{url}"
        );
        assert!(
            url.contains("response-content-disposition=attachment%3B%20filename%3D%22a%20b%22"),
            "{url}"
        );
        assert!(url.contains("X-Amz-Credential=AK%2F"), "{url}");
    }
}
