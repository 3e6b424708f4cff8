//! AWS Signature V4 query-string presigning, done here because it is the hot path of
//! downloads and upload starts: rust-s3 builds a full request (URL parsing, header maps,
//! regexes) for every presign, which costs several times more than the signature
//! itself. The signing key is derived once per day. The integration tests use every URL
//! this produces against the embedded server and Garage.

use std::fmt::Write as _;
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

/// RFC 3986 unreserved characters stay; everything else is percent-encoded.
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

fn encode(s: &str) -> String {
    utf8_percent_encode(s, UNRESERVED).to_string()
}

fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    #[allow(clippy::expect_used)]
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(data);
    mac.finalize().into_bytes().into()
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
    /// (yyyymmdd, signing key) of the last day used.
    day_key: Mutex<(String, [u8; 32])>,
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
            day_key: Mutex::new((String::new(), [0; 32])),
        })
    }

    fn signing_key(&self, day: &str) -> [u8; 32] {
        if let Ok(cached) = self.day_key.lock() {
            if cached.0 == day {
                return cached.1;
            }
        }
        let k_date = hmac(
            format!("AWS4{}", self.secret_key).as_bytes(),
            day.as_bytes(),
        );
        let k_region = hmac(&k_date, self.region.as_bytes());
        let k_service = hmac(&k_region, b"s3");
        let key = hmac(&k_service, b"aws4_request");
        if let Ok(mut cached) = self.day_key.lock() {
            *cached = (day.to_owned(), key);
        }
        key
    }

    pub fn presign(&self, req: &PresignRequest<'_>) -> String {
        self.presign_at(req, Utc::now())
    }

    pub fn presign_at(&self, req: &PresignRequest<'_>, now: DateTime<Utc>) -> String {
        let amz_date = now.format("%Y%m%dT%H%M%SZ").to_string();
        let day = &amz_date[..8];
        let scope = format!("{day}/{}/s3/aws4_request", self.region);

        let mut path = self.path_prefix.clone();
        for segment in req.key.split('/') {
            path.push('/');
            path.push_str(&encode(segment));
        }

        let mut headers: Vec<(&str, &str)> = Vec::with_capacity(req.headers.len() + 1);
        headers.push(("host", &self.host));
        headers.extend(req.headers.iter().copied());
        headers.sort_unstable_by(|a, b| a.0.cmp(b.0));
        let signed_headers = headers
            .iter()
            .map(|(k, _)| *k)
            .collect::<Vec<_>>()
            .join(";");

        let credential = format!("{}/{scope}", self.access_key);
        let expires = req.expires_secs.to_string();
        let mut query: Vec<(String, String)> = vec![
            ("X-Amz-Algorithm".into(), "AWS4-HMAC-SHA256".into()),
            ("X-Amz-Credential".into(), encode(&credential)),
            ("X-Amz-Date".into(), amz_date.clone()),
            ("X-Amz-Expires".into(), expires),
            ("X-Amz-SignedHeaders".into(), encode(&signed_headers)),
        ];
        query.extend(req.query.iter().map(|(k, v)| (encode(k), encode(v))));
        query.sort_unstable();
        let mut canonical_query = String::with_capacity(256);
        for (i, (k, v)) in query.iter().enumerate() {
            if i > 0 {
                canonical_query.push('&');
            }
            let _ = write!(canonical_query, "{k}={v}");
        }

        let mut canonical = String::with_capacity(512);
        let _ = write!(canonical, "{}\n{path}\n{canonical_query}\n", req.method);
        for (k, v) in &headers {
            let _ = writeln!(canonical, "{k}:{}", v.trim());
        }
        let _ = write!(canonical, "\n{signed_headers}\nUNSIGNED-PAYLOAD");

        let string_to_sign = format!(
            "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
            hex::encode(Sha256::digest(canonical.as_bytes()))
        );
        let signature = hex::encode(hmac(&self.signing_key(day), string_to_sign.as_bytes()));
        format!(
            "{}{path}?{canonical_query}&X-Amz-Signature={signature}",
            self.scheme_host
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

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
