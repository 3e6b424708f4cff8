//! The object store: a trait the API and the worker use, the rust-s3 implementation
//! behind it, and the embedded S3 server for the zero-configuration default.

pub mod connect;
pub mod embedded;
pub mod keys;
mod list_parts;
pub mod s3;
pub mod sigv4;

use std::pin::Pin;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::Stream;

/// An object's bytes as they arrive.
pub type ByteStream = Pin<Box<dyn Stream<Item = Result<Bytes, StorageError>> + Send>>;

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The request did not get an answer (connection, timeout, a task that died); the
    /// cause is kept as the error's source, so logs show the whole chain.
    #[error("object store request failed")]
    Request(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The store answered, but not in the protocol's form.
    #[error("object store answer malformed: {0}")]
    Malformed(String),
    #[error("object store answered {status}: {message}")]
    Status { status: u16, message: String },
    #[error("object store configuration: {0}")]
    Config(String),
    #[error("embedded object store: {0}")]
    Embedded(String),
}

impl StorageError {
    /// A request that got no answer, with its cause.
    pub fn request(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> StorageError {
        StorageError::Request(e.into())
    }

    /// The store answered that the object (or upload) does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, StorageError::Status { status: 404, .. })
    }

    /// Whether trying again later may succeed: the store was unreachable or said so
    /// (5xx, 429). A 4xx answer to the server's own request (a wrong bucket, rejected
    /// credentials, a clock too far off) and a wrong configuration are not: those
    /// are the operator's to fix, and a client retrying would only wait for nothing.
    pub fn is_transient(&self) -> bool {
        match self {
            StorageError::Request(_) | StorageError::Embedded(_) => true,
            StorageError::Status { status, .. } => *status >= 500 || *status == 429,
            StorageError::Malformed(_) | StorageError::Config(_) => false,
        }
    }
}

/// Transient store failures answer `503` with `Retry-After`; the rest `500`.
impl From<StorageError> for crate::error::AppError {
    fn from(e: StorageError) -> Self {
        if e.is_transient() {
            crate::error::AppError::Unavailable(Box::new(e))
        } else {
            crate::error::AppError::Internal(Box::new(e))
        }
    }
}

/// What the store knows of an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectMeta {
    pub size: u64,
    pub etag: Option<String>,
}

/// A part the store holds for an open multipart upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPart {
    pub number: u32,
    pub etag: String,
    pub size: u64,
}

/// How a presigned GET presents the object to the browser.
#[derive(Debug, Clone)]
pub struct GetOptions {
    pub content_disposition: String,
    pub content_type: String,
}

/// Every presign covers one key and one method; the TTL is capped by the caller.
#[async_trait]
pub trait ObjectStore: Send + Sync {
    /// The bucket answers with our credentials.
    async fn check(&self) -> Result<(), StorageError>;

    /// The origin (`scheme://host[:port]`) of the presigned URLs this store hands out:
    /// what a browser page must be allowed to connect to.
    fn presign_origin(&self) -> String;

    /// A PUT URL whose signature pins `Content-Length` and `Content-Type`.
    async fn presign_put(
        &self,
        key: &str,
        size: u64,
        content_type: &str,
        ttl: Duration,
    ) -> Result<String, StorageError>;

    /// [`ObjectStore::presign_put`] that also pins the content's SHA-256 (base64, the
    /// `x-amz-checksum-sha256` header): the store refuses a body with another digest.
    async fn presign_put_checked(
        &self,
        key: &str,
        size: u64,
        content_type: &str,
        sha256: &str,
        ttl: Duration,
    ) -> Result<String, StorageError>;

    /// A PUT URL that pins nothing but the key: for clients that cannot say the size
    /// beforehand (the benchwrap protocol). What arrives is checked afterwards.
    async fn presign_put_unsized(&self, key: &str, ttl: Duration) -> Result<String, StorageError>;

    /// A GET URL that overrides the response's disposition and content type.
    async fn presign_get(
        &self,
        key: &str,
        options: &GetOptions,
        ttl: Duration,
    ) -> Result<String, StorageError>;

    /// An UploadPart URL whose signature pins the part's `Content-Length` and, if
    /// given, its `Content-MD5` (base64): the store refuses a part with another digest.
    async fn presign_upload_part(
        &self,
        key: &str,
        upload_id: &str,
        part_number: u32,
        size: u64,
        content_md5: Option<&str>,
        ttl: Duration,
    ) -> Result<String, StorageError>;

    /// Starts a multipart upload; returns its id.
    async fn create_multipart(&self, key: &str, content_type: &str)
        -> Result<String, StorageError>;

    /// The parts the store holds, in part-number order.
    async fn list_parts(&self, key: &str, upload_id: &str)
        -> Result<Vec<StoredPart>, StorageError>;

    async fn complete_multipart(
        &self,
        key: &str,
        upload_id: &str,
        parts: &[StoredPart],
    ) -> Result<(), StorageError>;

    /// Aborts a multipart upload; an unknown upload is not an error.
    async fn abort_multipart(&self, key: &str, upload_id: &str) -> Result<(), StorageError>;

    /// `None` when there is no such object.
    async fn head(&self, key: &str) -> Result<Option<ObjectMeta>, StorageError>;

    /// Deletes an object; a missing object is not an error.
    async fn delete(&self, key: &str) -> Result<(), StorageError>;

    /// Server-side copy within the bucket.
    async fn copy(&self, from: &str, to: &str) -> Result<(), StorageError>;

    /// Streams an object (the worker reads objects for zip bundles this way).
    async fn get_stream(&self, key: &str) -> Result<ByteStream, StorageError>;

    /// Uploads one part of a multipart upload from the server; returns it with its ETag.
    async fn upload_part(
        &self,
        key: &str,
        upload_id: &str,
        number: u32,
        bytes: Vec<u8>,
    ) -> Result<StoredPart, StorageError>;

    /// Stores a small object from the server in one PUT.
    async fn put(&self, key: &str, bytes: Vec<u8>, content_type: &str) -> Result<(), StorageError>;

    /// Every object under `prefix`, with its size.
    async fn list(&self, prefix: &str) -> Result<Vec<(String, u64)>, StorageError>;

    /// One page (at most `max_keys`) of the objects under `prefix` whose keys sort after
    /// `start_after`, in key order, with their size and ETag.
    async fn list_after(
        &self,
        prefix: &str,
        start_after: &str,
        max_keys: usize,
    ) -> Result<Vec<(String, ObjectMeta)>, StorageError>;

    /// Requests that failed so far (for `/metrics`).
    fn error_count(&self) -> u64 {
        0
    }
}

#[cfg(test)]
mod tests {
    use actix_web::ResponseError as _;

    use super::*;
    use crate::error::AppError;

    fn status_of(e: StorageError) -> u16 {
        AppError::from(e).status_code().as_u16()
    }

    #[test]
    fn only_transient_store_failures_ask_clients_to_retry() {
        let answered = |status| StorageError::Status {
            status,
            message: String::new(),
        };
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        assert_eq!(status_of(StorageError::request(refused)), 503);
        assert_eq!(status_of(answered(503)), 503);
        assert_eq!(status_of(answered(500)), 503);
        assert_eq!(status_of(answered(429)), 503);
        // Rejected credentials, a missing bucket, a bad request: the operator's to fix.
        assert_eq!(status_of(answered(403)), 500);
        assert_eq!(status_of(answered(404)), 500);
        assert_eq!(status_of(answered(400)), 500);
        assert_eq!(status_of(StorageError::Config("bad".into())), 500);
        assert_eq!(status_of(StorageError::Malformed("<x>".into())), 500);
    }

    #[test]
    fn a_failed_request_keeps_its_cause() {
        use std::error::Error as _;
        let e = StorageError::request(std::io::Error::other("connection reset"));
        assert_eq!(e.to_string(), "object store request failed");
        assert_eq!(
            e.source().map(|s| s.to_string()).as_deref(),
            Some("connection reset")
        );
    }
}
