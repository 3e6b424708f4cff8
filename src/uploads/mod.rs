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

pub use service::UploadService;
