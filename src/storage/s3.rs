//! The rust-s3 implementation of [`ObjectStore`].

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use s3::creds::Credentials;
use s3::serde_types::Part;
use s3::{Bucket, BucketConfiguration, Region};

use super::sigv4::{ttl_secs, PresignRequest, Presigner};
use super::{ByteStream, GetOptions, ObjectMeta, ObjectStore, StorageError, StoredPart};

/// How to reach a bucket.
#[derive(Clone)]
pub struct S3Config {
    /// The endpoint the server talks to.
    pub endpoint: String,
    /// The endpoint clients reach; presigned URLs are signed for it.
    pub public_endpoint: String,
    pub region: String,
    pub bucket: String,
    pub access_key: String,
    pub secret_key: String,
    pub path_style: bool,
}

pub struct S3Store {
    /// Used for requests the server makes itself.
    pub(super) bucket: Box<Bucket>,
    /// Signs URLs for the public endpoint.
    signer: Presigner,
    /// Signs requests the server sends itself with an unsigned payload (archive parts):
    /// no SHA-256 over every byte, no copy of the part.
    internal: Presigner,
    /// Failed store requests, for `/metrics`.
    errors: Arc<AtomicU64>,
}

fn credentials(cfg: &S3Config) -> Result<Credentials, StorageError> {
    Credentials::new(
        Some(&cfg.access_key),
        Some(&cfg.secret_key),
        None,
        None,
        None,
    )
    .map_err(|e| StorageError::Config(e.to_string()))
}

fn bucket_for(cfg: &S3Config, endpoint: &str) -> Result<Box<Bucket>, StorageError> {
    let region = Region::Custom {
        region: cfg.region.clone(),
        endpoint: endpoint.trim_end_matches('/').to_owned(),
    };
    let creds = credentials(cfg)?;
    let bucket =
        Bucket::new(&cfg.bucket, region, creds).map_err(|e| StorageError::Config(e.to_string()))?;
    Ok(if cfg.path_style {
        bucket.with_path_style()
    } else {
        bucket
    })
}

/// rust-s3's error: an answer with a failing status keeps its status (so a 4xx is not
/// taken for a store that is down); anything else is a request without an answer.
pub(super) fn request_err(e: s3::error::S3Error) -> StorageError {
    match e {
        // A 200 carrying an error document (S3 answers CopyObject and multipart
        // completion that way, e.g. SlowDown) stays a failed request.
        s3::error::S3Error::HttpFailWithBody(status, body) if status >= 400 => {
            status_err(status, body.as_bytes())
        }
        e => StorageError::request(e),
    }
}

pub(super) fn status_err(status: u16, body: &[u8]) -> StorageError {
    StorageError::Status {
        status,
        message: String::from_utf8_lossy(&body[..body.len().min(512)]).into_owned(),
    }
}

/// Object keys are built by the server; rust-s3 wants them with a leading slash.
pub(super) fn path(key: &str) -> String {
    format!("/{key}")
}

impl S3Store {
    /// A PUT URL pinning the length, the type and, if given, the SHA-256.
    fn put_url(
        &self,
        key: &str,
        size: u64,
        content_type: &str,
        sha256: Option<&str>,
        ttl: Duration,
    ) -> String {
        let size = size.to_string();
        let all = [
            ("content-length", size.as_str()),
            ("content-type", content_type),
            ("x-amz-checksum-sha256", sha256.unwrap_or_default()),
        ];
        let headers = if sha256.is_some() {
            &all[..]
        } else {
            &all[..2]
        };
        self.signer.presign(&PresignRequest {
            method: "PUT",
            key,
            headers,
            query: &[],
            expires_secs: ttl_secs(ttl),
        })
    }

    pub fn new(cfg: &S3Config) -> Result<S3Store, StorageError> {
        let signer = |endpoint: &str| {
            Presigner::new(
                endpoint,
                &cfg.bucket,
                &cfg.region,
                &cfg.access_key,
                &cfg.secret_key,
                cfg.path_style,
            )
            .map_err(StorageError::Config)
        };
        Ok(S3Store {
            bucket: bucket_for(cfg, &cfg.endpoint)?,
            signer: signer(&cfg.public_endpoint)?,
            internal: signer(&cfg.endpoint)?,
            errors: Arc::new(AtomicU64::new(0)),
        })
    }

    /// Runs a store operation, counting it when it fails.
    async fn counted<T>(
        &self,
        op: impl std::future::Future<Output = Result<T, StorageError>>,
    ) -> Result<T, StorageError> {
        let result = op.await;
        if result.is_err() {
            self.errors.fetch_add(1, Ordering::Relaxed);
        }
        result
    }

    /// Creates the bucket if it does not exist yet (used for the embedded store).
    /// Lets pages from `origins` GET, HEAD and PUT through presigned URLs: the bucket
    /// gets a CORS rule for exactly them (`ETag` exposed), named after them, beside
    /// every rule it has. Replicas with the same origins agree on one rule; a put that
    /// raced another (each writes the whole configuration) is noticed on reading back
    /// and done again.
    pub async fn allow_pages(&self, origins: &[String]) -> Result<(), StorageError> {
        use s3::serde_types::{CorsConfiguration, CorsRule};
        let mut sorted = origins.to_vec();
        sorted.sort();
        let name = format!(
            "coffer-web-{:08x}",
            crc32fast::hash(sorted.join(" ").as_bytes())
        );
        let strings = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        let ours = CorsRule::new(
            Some(strings(&["*"])),
            strings(&["GET", "HEAD", "PUT"]),
            sorted,
            Some(strings(&["ETag"])),
            Some(name.clone()),
            Some(3600),
        );
        // The rule types keep their fields private: look at them as JSON.
        let named = |r: &CorsRule| {
            serde_json::to_value(r)
                .ok()
                .and_then(|v| v.get("ID").and_then(|id| id.as_str().map(str::to_owned)))
        };
        for attempt in 0..5u64 {
            let mut rules: Vec<CorsRule> = match self.bucket.get_bucket_cors("").await {
                Ok(config) => as_json_rules(&config).unwrap_or_default(),
                // No CORS configuration yet (404 NoSuchCORSConfiguration).
                Err(_) => Vec::new(),
            };
            if rules
                .iter()
                .any(|r| named(r).as_deref() == Some(name.as_str()))
            {
                return Ok(());
            }
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(20 * attempt)).await;
            }
            rules.push(ours.clone());
            let res = self
                .bucket
                .put_bucket_cors("", &CorsConfiguration::new(rules))
                .await
                .map_err(request_err)?;
            if !(200..=299).contains(&res.status_code()) {
                return Err(StorageError::Status {
                    status: res.status_code(),
                    message: res.as_str().unwrap_or_default().to_owned(),
                });
            }
        }
        Err(StorageError::Status {
            status: 409,
            message: "the bucket's CORS configuration kept changing under us".into(),
        })
    }

    pub async fn ensure_bucket(&self, cfg: &S3Config) -> Result<(), StorageError> {
        if self.check().await.is_ok() {
            return Ok(());
        }
        let region = self.bucket.region.clone();
        let creds = credentials(cfg)?;
        let res = Bucket::create_with_path_style(
            &cfg.bucket,
            region,
            creds,
            BucketConfiguration::default(),
        )
        .await
        .map_err(request_err)?;
        match res.response_code {
            200..=299 | 409 => Ok(()),
            status => Err(StorageError::Status {
                status,
                message: res.response_text,
            }),
        }
    }
}

#[async_trait]
impl ObjectStore for S3Store {
    fn presign_origin(&self) -> String {
        self.signer.origin().to_owned()
    }

    async fn check(&self) -> Result<(), StorageError> {
        self.counted(async move {
            let (_, status) = self
                .bucket
                .list_page(String::new(), None, None, None, Some(1))
                .await
                .map_err(request_err)?;
            if (200..300).contains(&status) {
                Ok(())
            } else {
                Err(StorageError::Status {
                    status,
                    message: "listing the bucket failed".into(),
                })
            }
        })
        .await
    }

    async fn presign_put(
        &self,
        key: &str,
        size: u64,
        content_type: &str,
        ttl: Duration,
    ) -> Result<String, StorageError> {
        self.counted(async move { Ok(self.put_url(key, size, content_type, None, ttl)) })
            .await
    }

    async fn presign_put_checked(
        &self,
        key: &str,
        size: u64,
        content_type: &str,
        sha256: &str,
        ttl: Duration,
    ) -> Result<String, StorageError> {
        self.counted(async move { Ok(self.put_url(key, size, content_type, Some(sha256), ttl)) })
            .await
    }

    async fn presign_put_unsized(&self, key: &str, ttl: Duration) -> Result<String, StorageError> {
        self.counted(async move {
            Ok(self.signer.presign(&PresignRequest {
                method: "PUT",
                key,
                headers: &[],
                query: &[],
                expires_secs: ttl_secs(ttl),
            }))
        })
        .await
    }

    async fn presign_get(
        &self,
        key: &str,
        options: &GetOptions,
        ttl: Duration,
    ) -> Result<String, StorageError> {
        self.counted(async move {
            Ok(self.signer.presign(&PresignRequest {
                method: "GET",
                key,
                headers: &[],
                query: &[
                    ("response-content-disposition", &options.content_disposition),
                    ("response-content-type", &options.content_type),
                ],
                expires_secs: ttl_secs(ttl),
            }))
        })
        .await
    }

    async fn presign_upload_part(
        &self,
        key: &str,
        upload_id: &str,
        part_number: u32,
        size: u64,
        content_md5: Option<&str>,
        ttl: Duration,
    ) -> Result<String, StorageError> {
        self.counted(async move {
            let (size, part_number) = (size.to_string(), part_number.to_string());
            let all = [
                ("content-length", size.as_str()),
                ("content-md5", content_md5.unwrap_or_default()),
            ];
            let headers = if content_md5.is_some() {
                &all[..]
            } else {
                &all[..1]
            };
            Ok(self.signer.presign(&PresignRequest {
                method: "PUT",
                key,
                headers,
                query: &[("partNumber", &part_number), ("uploadId", upload_id)],
                expires_secs: ttl_secs(ttl),
            }))
        })
        .await
    }

    async fn create_multipart(
        &self,
        key: &str,
        content_type: &str,
    ) -> Result<String, StorageError> {
        self.counted(async move {
            let res = self
                .bucket
                .initiate_multipart_upload(&path(key), content_type)
                .await
                .map_err(request_err)?;
            Ok(res.upload_id)
        })
        .await
    }

    async fn list_parts(
        &self,
        key: &str,
        upload_id: &str,
    ) -> Result<Vec<StoredPart>, StorageError> {
        self.counted(async move {
            let mut all = Vec::new();
            let mut marker = None;
            loop {
                let (parts, next) = self.list_parts_page(key, upload_id, marker).await?;
                all.extend(parts);
                match next {
                    Some(n) if Some(n) != marker => marker = Some(n),
                    _ => break,
                }
            }
            all.sort_by_key(|p| p.number);
            Ok(all)
        })
        .await
    }

    async fn complete_multipart(
        &self,
        key: &str,
        upload_id: &str,
        parts: &[StoredPart],
    ) -> Result<(), StorageError> {
        self.counted(async move {
            let parts = parts
                .iter()
                .map(|p| Part {
                    part_number: p.number,
                    etag: p.etag.clone(),
                })
                .collect();
            let res = self
                .bucket
                .complete_multipart_upload(&path(key), upload_id, parts)
                .await
                .map_err(request_err)?;
            match res.status_code() {
                200..=299 => Ok(()),
                status => Err(status_err(status, res.as_slice())),
            }
        })
        .await
    }

    async fn abort_multipart(&self, key: &str, upload_id: &str) -> Result<(), StorageError> {
        self.counted(async move {
            match self.bucket.abort_upload(&path(key), upload_id).await {
                Ok(()) => Ok(()),
                Err(s3::error::S3Error::HttpFailWithBody(404, _)) => Ok(()),
                Err(e) => Err(request_err(e)),
            }
        })
        .await
    }

    async fn head(&self, key: &str) -> Result<Option<ObjectMeta>, StorageError> {
        self.counted(async move {
            let (meta, status) = self
                .bucket
                .head_object(path(key))
                .await
                .map_err(request_err)?;
            match status {
                200..=299 => Ok(Some(ObjectMeta {
                    size: meta.content_length.unwrap_or(0).max(0) as u64,
                    etag: meta.e_tag.map(|e| e.trim_matches('"').to_owned()),
                })),
                404 => Ok(None),
                status => Err(status_err(status, b"")),
            }
        })
        .await
    }

    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        self.counted(async move {
            let res = self
                .bucket
                .delete_object(path(key))
                .await
                .map_err(request_err)?;
            match res.status_code() {
                200..=299 | 404 => Ok(()),
                status => Err(status_err(status, res.as_slice())),
            }
        })
        .await
    }

    async fn copy(&self, from: &str, to: &str) -> Result<(), StorageError> {
        self.counted(async move {
            let status = self
                .bucket
                .copy_object_internal(path(from), path(to))
                .await
                .map_err(request_err)?;
            match status {
                200..=299 => Ok(()),
                status => Err(status_err(status, b"")),
            }
        })
        .await
    }

    async fn get_stream(&self, key: &str) -> Result<ByteStream, StorageError> {
        self.counted(async move {
            use futures_util::StreamExt as _;
            let res = self
                .bucket
                .get_object_stream(path(key))
                .await
                .map_err(request_err)?;
            if !(200..300).contains(&res.status_code) {
                return Err(status_err(res.status_code, b""));
            }
            let stream: ByteStream = Box::pin(res.bytes.map(|chunk| chunk.map_err(request_err)));
            Ok(stream)
        })
        .await
    }

    async fn upload_part(
        &self,
        key: &str,
        upload_id: &str,
        number: u32,
        bytes: Vec<u8>,
    ) -> Result<StoredPart, StorageError> {
        self.counted(async move {
            let size = bytes.len() as u64;
            let (length, part) = (size.to_string(), number.to_string());
            let url = self.internal.presign(&PresignRequest {
                method: "PUT",
                key,
                headers: &[("content-length", &length)],
                query: &[("partNumber", &part), ("uploadId", upload_id)],
                expires_secs: 3600,
            });
            let res = self
                .bucket
                .http_client()
                .put(url)
                .body(bytes)
                .send()
                .await
                .map_err(StorageError::request)?;
            let status = res.status().as_u16();
            let etag = res
                .headers()
                .get("etag")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            if !(200..300).contains(&status) {
                let body = res.bytes().await.unwrap_or_default();
                return Err(status_err(status, &body));
            }
            Ok(StoredPart {
                number,
                etag: etag.unwrap_or_default(),
                size,
            })
        })
        .await
    }

    async fn put(&self, key: &str, bytes: Vec<u8>, content_type: &str) -> Result<(), StorageError> {
        self.counted(async move {
            let length = bytes.len().to_string();
            let url = self.internal.presign(&PresignRequest {
                method: "PUT",
                key,
                headers: &[("content-length", &length), ("content-type", content_type)],
                query: &[],
                expires_secs: 3600,
            });
            let res = self
                .bucket
                .http_client()
                .put(url)
                .header("content-type", content_type)
                // Signed: an empty body would otherwise go without it.
                .header("content-length", length)
                .body(bytes)
                .send()
                .await
                .map_err(StorageError::request)?;
            let status = res.status().as_u16();
            if !(200..300).contains(&status) {
                let body = res.bytes().await.unwrap_or_default();
                return Err(status_err(status, &body));
            }
            Ok(())
        })
        .await
    }

    fn error_count(&self) -> u64 {
        self.errors.load(Ordering::Relaxed)
    }

    async fn list_after(
        &self,
        prefix: &str,
        start_after: &str,
        max_keys: usize,
    ) -> Result<Vec<(String, ObjectMeta)>, StorageError> {
        self.counted(async move {
            let (page, status) = self
                .bucket
                .list_page(
                    prefix.to_owned(),
                    None,
                    None,
                    Some(start_after.to_owned()),
                    Some(max_keys),
                )
                .await
                .map_err(request_err)?;
            if !(200..300).contains(&status) {
                return Err(status_err(status, b""));
            }
            Ok(page
                .contents
                .into_iter()
                .map(|o| {
                    let meta = ObjectMeta {
                        size: o.size,
                        etag: o.e_tag.map(|e| e.trim_matches('"').to_owned()),
                    };
                    (o.key, meta)
                })
                .collect())
        })
        .await
    }

    async fn list(&self, prefix: &str) -> Result<Vec<(String, u64)>, StorageError> {
        self.counted(async move {
            let pages = self
                .bucket
                .list(prefix.to_owned(), None)
                .await
                .map_err(request_err)?;
            Ok(pages
                .into_iter()
                .flat_map(|page| page.contents)
                .map(|object| (object.key, object.size))
                .collect())
        })
        .await
    }
}

/// The rules of a CORS configuration (its fields are private: read through JSON).
fn as_json_rules(
    config: &s3::serde_types::CorsConfiguration,
) -> Option<Vec<s3::serde_types::CorsRule>> {
    let value = serde_json::to_value(config).ok()?;
    serde_json::from_value(value.get("CORSRule")?.clone()).ok()
}
