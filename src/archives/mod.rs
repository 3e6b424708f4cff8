//! Zip bundles: the API plans an archive of files and folders the caller may read and
//! enqueues it; a worker streams each object from the store into a ZIP64 archive that it
//! streams back to the store as a multipart upload, in bounded memory.

pub mod dto;
pub mod handler;
pub mod names;
pub mod routes;
pub mod service;
pub mod status;
pub mod zip;

/// Where archives live: outside every user's prefix, named after their task.
pub fn archive_key(task_id: uuid::Uuid) -> String {
    format!("archives/{task_id}.zip")
}

/// Why an archive could not be planned; knows nothing of HTTP.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("archive larger than {max} bytes")]
    TooLarge { max: u64 },
    #[error("archive with more than {max} files")]
    TooManyFiles { max: u64 },
    /// What the file tree refused, or the database or store failing.
    #[error(transparent)]
    File(#[from] crate::files::FileError),
}

crate::files::wraps_file_error!(ArchiveError: sea_orm::DbErr, crate::storage::StorageError);

impl From<ArchiveError> for crate::error::AppError {
    fn from(e: ArchiveError) -> crate::error::AppError {
        use crate::error::AppError;
        match e {
            ArchiveError::TooLarge { max } => AppError::new(
                actix_web::http::StatusCode::PAYLOAD_TOO_LARGE,
                "ARCHIVE_TOO_LARGE",
                format!("An archive may hold at most {max} bytes."),
            ),
            ArchiveError::TooManyFiles { max } => AppError::unprocessable(
                "ARCHIVE_TOO_MANY_FILES",
                format!("An archive may hold at most {max} files."),
            ),
            ArchiveError::File(e) => e.into(),
        }
    }
}
