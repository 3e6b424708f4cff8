//! The write path: presigned uploads (single PUT or multipart, with the quota reserved
//! while open), server-side copies, and deletes — everything that changes usage.

mod copy;
mod delete;
pub mod dto;
pub mod finish;
pub mod plan;
pub mod repo;
pub mod reserve;
pub mod routes;
pub mod service;
pub mod sizeless;

pub use service::UploadService;

use actix_web::http::StatusCode;

use crate::error::AppError;
use crate::files::FileError;

/// Why an upload, copy or delete failed; knows nothing of HTTP.
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    #[error("quota exceeded")]
    QuotaExceeded,
    #[error("the API token's byte budget is spent")]
    BudgetExceeded,
    #[error("the API token was revoked")]
    TokenRevoked,
    #[error("upload larger than {max} bytes")]
    TooLarge { max: u64 },
    #[error("{0}")]
    ContentType(String),
    #[error("{0}")]
    Checksum(String),
    #[error("the object store does not hold the whole upload yet")]
    Incomplete { missing: Vec<u32> },
    #[error("declared {declared} bytes, the store holds {actual}")]
    SizeMismatch { declared: u64, actual: u64 },
    #[error("the upload was aborted")]
    Aborted,
    #[error("the upload is already complete")]
    Completed,
    #[error("the upload expired")]
    Expired,
    /// What the file tree refused (not found, name taken, ...), or the database or
    /// store failing.
    #[error(transparent)]
    File(#[from] FileError),
}

crate::files::wraps_file_error!(UploadError: sea_orm::DbErr, crate::storage::StorageError);

impl From<UploadError> for AppError {
    fn from(e: UploadError) -> AppError {
        let msg = e.to_string();
        match e {
            UploadError::QuotaExceeded => AppError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "QUOTA_EXCEEDED",
                "This would exceed your storage quota (bytes or number of files).",
            ),
            UploadError::BudgetExceeded => AppError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "TOKEN_BUDGET_EXCEEDED",
                "This would exceed the byte budget of the API token in use.",
            ),
            UploadError::TokenRevoked => crate::auth::AuthError::InvalidAccessToken.into(),
            UploadError::TooLarge { max } => AppError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "UPLOAD_TOO_LARGE",
                format!("Uploads are limited to {max} bytes."),
            ),
            UploadError::ContentType(d) => AppError::unprocessable("CONTENT_TYPE_NOT_ALLOWED", d),
            UploadError::Checksum(d) => AppError::unprocessable("INVALID_CHECKSUM", d),
            UploadError::Incomplete { missing } if !missing.is_empty() => AppError::conflict(
                "UPLOAD_INCOMPLETE",
                format!("The store lacks parts {missing:?}; upload them, then complete again."),
            ),
            UploadError::Incomplete { .. } => AppError::conflict(
                "UPLOAD_INCOMPLETE",
                "The store does not hold the object yet; PUT it, then complete again.",
            ),
            UploadError::SizeMismatch { .. } => AppError::unprocessable(
                "SIZE_MISMATCH",
                format!("{msg}; the object was deleted and the reservation released."),
            ),
            UploadError::Aborted => AppError::conflict("UPLOAD_ABORTED", "The upload was aborted."),
            UploadError::Completed => {
                AppError::conflict("UPLOAD_COMPLETED", "The upload is already complete.")
            }
            UploadError::Expired => AppError::conflict(
                "UPLOAD_EXPIRED",
                "The upload expired; complete it if its bytes are stored, or start again.",
            ),
            UploadError::File(e) => e.into(),
        }
    }
}
