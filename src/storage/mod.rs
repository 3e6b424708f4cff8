//! The object store: a trait the API and the worker use, the rust-s3 implementation
//! behind it, and the embedded S3 server for the zero-configuration default.

pub mod embedded;
pub mod s3;

use async_trait::async_trait;

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

impl From<StorageError> for crate::error::AppError {
    fn from(e: StorageError) -> Self {
        crate::error::AppError::Unavailable(Box::new(e))
    }
}

#[async_trait]
pub trait ObjectStore: Send + Sync {
    /// The bucket answers with our credentials.
    async fn check(&self) -> Result<(), StorageError>;
}
