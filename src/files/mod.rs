//! Files and folders: metadata in SQL, bytes in the object store. Rename and move are
//! metadata updates; copy is a server-side copy to a new key.

pub mod access;
pub mod download;
pub mod dto;
pub mod names;
pub mod repo;
pub mod routes;
pub mod service;

use crate::error::AppError;
use crate::storage::StorageError;

/// `From` for each listed error type into a slice error whose `File` variant wraps
/// [`FileError`]: `?` on a database or store call then works in the slices built on files.
macro_rules! wraps_file_error {
    ($slice:ident: $($source:ty),+ $(,)?) => {
        $(
            impl From<$source> for $slice {
                fn from(e: $source) -> $slice {
                    $slice::File(e.into())
                }
            }
        )+
    };
}
pub(crate) use wraps_file_error;

/// Why a file or folder operation failed; knows nothing of HTTP. The slices built on
/// files (uploads, archives, sharing) wrap it in their own errors.
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
    #[error("{0}")]
    Invalid(String),
    #[error("the file is still being uploaded")]
    NotReady,
    #[error("the file lives in the cloud tier only")]
    InCloudTier,
    #[error("forbidden")]
    Forbidden,
    #[error("files move only within their owner's tree")]
    CrossOwner,
    #[error("database: {0}")]
    Db(#[from] sea_orm::DbErr),
    #[error("{0}")]
    BadLimit(#[from] crate::page::BadLimit),
    #[error("object store: {0}")]
    Storage(#[from] StorageError),
}

impl From<FileError> for AppError {
    fn from(e: FileError) -> AppError {
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
            FileError::Invalid(d) => AppError::unprocessable("INVALID_REQUEST", d),
            FileError::BadLimit(e) => e.into(),
            FileError::NotReady => {
                AppError::conflict("FILE_NOT_READY", "The file is still being uploaded.")
            }
            FileError::InCloudTier => AppError::conflict(
                "FILE_IN_CLOUD_TIER",
                "The file lives in the cloud tier only and cannot be copied; download it instead.",
            ),
            FileError::Forbidden => AppError::forbidden(
                "FORBIDDEN",
                "Your share does not allow this (it is read-only, or the item is the shared folder itself).",
            ),
            FileError::CrossOwner => AppError::unprocessable(
                "CROSS_OWNER_MOVE",
                "Files move only within their owner's folders; copy them instead.",
            ),
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
