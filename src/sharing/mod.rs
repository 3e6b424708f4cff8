//! Sharing: per-user shares of files and folders (read or write, inherited by ancestry)
//! and share links that anyone holding the token may redeem, within the link's rules.

pub mod dto;
pub mod public;
pub mod repo;
pub mod routes;
pub mod service;
mod tokens;

pub use service::ShareService;

/// Why a share or link operation failed; knows nothing of HTTP.
#[derive(Debug, thiserror::Error)]
pub enum ShareError {
    #[error("no such user")]
    UnknownUser,
    #[error(transparent)]
    Auth(#[from] crate::auth::AuthError),
    #[error(transparent)]
    Archive(#[from] crate::archives::ArchiveError),
    /// What the file tree refused, or the database or store failing.
    #[error(transparent)]
    File(#[from] crate::files::FileError),
}

crate::files::wraps_file_error!(ShareError: sea_orm::DbErr, crate::storage::StorageError, crate::page::BadLimit);

impl From<ShareError> for crate::error::AppError {
    fn from(e: ShareError) -> crate::error::AppError {
        use crate::error::AppError;
        match e {
            ShareError::UnknownUser => {
                AppError::unprocessable("UNKNOWN_USER", "There is no user by that name.")
            }
            ShareError::Auth(e) => e.into(),
            ShareError::Archive(e) => e.into(),
            ShareError::File(e) => e.into(),
        }
    }
}
