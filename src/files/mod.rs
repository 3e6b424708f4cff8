//! Files and folders: metadata in SQL, bytes in the object store. Rename and move are
//! metadata updates; copy is a server-side copy to a new key.

pub mod access;
pub mod download;
pub mod dto;
pub mod names;
pub mod repo;
pub mod routes;
pub mod service;

use actix_web::http::StatusCode;

use crate::error::AppError;
use crate::storage::StorageError;

/// Why a file, folder, upload or quota operation failed; knows nothing of HTTP.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("{0}")]
    InvalidName(String),
    #[error("not found")]
    NotFound,
    #[error("a file or folder with that name exists here")]
    NameTaken,
    #[error("not a folder")]
    NotAFolder,
    #[error("not a file")]
    NotAFile,
    #[error("a folder cannot move into itself or its own subtree")]
    Cycle,
    #[error("quota exceeded")]
    QuotaExceeded,
    #[error("upload larger than {max} bytes")]
    UploadTooLarge { max: u64 },
    #[error("{0}")]
    ContentType(String),
    #[error("{0}")]
    Invalid(String),
    #[error("the object store does not hold the whole upload yet")]
    UploadIncomplete { missing: Vec<u32> },
    #[error("declared {declared} bytes, the store holds {actual}")]
    SizeMismatch { declared: u64, actual: u64 },
    #[error("the upload was aborted")]
    UploadAborted,
    #[error("the upload is already complete")]
    UploadCompleted,
    #[error("the upload expired")]
    UploadExpired,
    #[error("the file is still being uploaded")]
    NotReady,
    #[error("archive larger than {max} bytes")]
    ArchiveTooLarge { max: u64 },
    #[error("archive with more than {max} files")]
    ArchiveTooManyFiles { max: u64 },
    #[error("forbidden")]
    Forbidden,
    #[error("files move only within their owner's tree")]
    CrossOwner,
    #[error("no such user")]
    UnknownUser,
    #[error("{0}")]
    Auth(#[from] crate::auth::AuthError),
    #[error("database: {0}")]
    Db(#[from] sea_orm::DbErr),
    #[error("{0}")]
    BadLimit(#[from] crate::page::BadLimit),
    #[error("object store: {0}")]
    Storage(#[from] StorageError),
}

impl From<FileError> for AppError {
    fn from(e: FileError) -> AppError {
        let msg = e.to_string();
        match e {
            FileError::InvalidName(d) => AppError::unprocessable("INVALID_NAME", d),
            FileError::NotFound => AppError::not_found(),
            FileError::NameTaken => AppError::conflict(
                "NAME_TAKEN",
                "A file or folder with that name exists in the folder.",
            ),
            FileError::NotAFolder => {
                AppError::unprocessable("NOT_A_FOLDER", "The target is not a folder.")
            }
            FileError::NotAFile => {
                AppError::unprocessable("NOT_A_FILE", "This operation needs a file, not a folder.")
            }
            FileError::Cycle => AppError::conflict(
                "FOLDER_CYCLE",
                "A folder cannot move into itself or its own subtree.",
            ),
            FileError::QuotaExceeded => AppError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "QUOTA_EXCEEDED",
                "This would exceed your storage quota (bytes or number of files).",
            ),
            FileError::UploadTooLarge { max } => AppError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "UPLOAD_TOO_LARGE",
                format!("Uploads are limited to {max} bytes."),
            ),
            FileError::ContentType(d) => AppError::unprocessable("CONTENT_TYPE_NOT_ALLOWED", d),
            FileError::Invalid(d) => AppError::unprocessable("INVALID_REQUEST", d),
            FileError::BadLimit(e) => e.into(),
            FileError::UploadIncomplete { missing } if !missing.is_empty() => AppError::conflict(
                "UPLOAD_INCOMPLETE",
                format!("The store lacks parts {missing:?}; upload them, then complete again."),
            ),
            FileError::UploadIncomplete { .. } => AppError::conflict(
                "UPLOAD_INCOMPLETE",
                "The store does not hold the object yet; PUT it, then complete again.",
            ),
            FileError::SizeMismatch { .. } => AppError::unprocessable(
                "SIZE_MISMATCH",
                format!("{msg}; the object was deleted and the reservation released."),
            ),
            FileError::UploadAborted => {
                AppError::conflict("UPLOAD_ABORTED", "The upload was aborted.")
            }
            FileError::UploadCompleted => {
                AppError::conflict("UPLOAD_COMPLETED", "The upload is already complete.")
            }
            FileError::UploadExpired => AppError::conflict(
                "UPLOAD_EXPIRED",
                "The upload expired; complete it if its bytes are stored, or start again.",
            ),
            FileError::NotReady => {
                AppError::conflict("FILE_NOT_READY", "The file is still being uploaded.")
            }
            FileError::ArchiveTooLarge { max } => AppError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "ARCHIVE_TOO_LARGE",
                format!("An archive may hold at most {max} bytes."),
            ),
            FileError::ArchiveTooManyFiles { max } => AppError::unprocessable(
                "ARCHIVE_TOO_MANY_FILES",
                format!("An archive may hold at most {max} files."),
            ),
            FileError::Forbidden => AppError::forbidden(
                "FORBIDDEN",
                "Your share does not allow this (it is read-only, or the item is the shared folder itself).",
            ),
            FileError::CrossOwner => AppError::unprocessable(
                "CROSS_OWNER_MOVE",
                "Files move only within their owner's folders; copy them instead.",
            ),
            FileError::UnknownUser => {
                AppError::unprocessable("UNKNOWN_USER", "There is no user by that name.")
            }
            FileError::Auth(e) => e.into(),
            // A row that a concurrent request removed (a folder deleted under a
            // create): the target is gone, as far as the client can tell.
            FileError::Db(e)
                if matches!(
                    e.sql_err(),
                    Some(sea_orm::SqlErr::ForeignKeyConstraintViolation(_))
                ) =>
            {
                AppError::not_found()
            }
            FileError::Db(e) => e.into(),
            FileError::Storage(e) => e.into(),
        }
    }
}
