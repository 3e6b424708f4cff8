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
