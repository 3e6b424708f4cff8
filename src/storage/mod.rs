//! The object store: a trait the API and the worker use, the rust-s3 implementation
//! behind it, and the embedded S3 server for the zero-configuration default.

pub mod embedded;
pub mod keys;
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
    #[error("object store request failed: {0}")]
    Request(String),
    #[error("object store answered {status}: {message}")]
    Status { status: u16, message: String },
    #[error("object store configuration: {0}")]
    Config(String),
    #[error("embedded object store: {0}")]
    Embedded(String),
}

impl StorageError {
    /// The store answered that the object (or upload) does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, StorageError::Status { status: 404, .. })
    }
}

impl From<StorageError> for crate::error::AppError {
    fn from(e: StorageError) -> Self {
        crate::error::AppError::Unavailable(Box::new(e))
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

    /// A PUT URL whose signature pins `Content-Length` and `Content-Type`.
    async fn presign_put(
        &self,
        key: &str,
        size: u64,
        content_type: &str,
        ttl: Duration,
    ) -> Result<String, StorageError>;

    /// A GET URL that overrides the response's disposition and content type.
    async fn presign_get(
        &self,
        key: &str,
        options: &GetOptions,
        ttl: Duration,
    ) -> Result<String, StorageError>;

    /// An UploadPart URL whose signature pins the part's `Content-Length`.
    async fn presign_upload_part(
        &self,
        key: &str,
        upload_id: &str,
        part_number: u32,
        size: u64,
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

    /// Every object under `prefix`, with its size.
    async fn list(&self, prefix: &str) -> Result<Vec<(String, u64)>, StorageError>;

    /// Requests that failed so far (for `/metrics`).
    fn error_count(&self) -> u64 {
        0
    }
}
