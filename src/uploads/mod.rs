//! Presigned uploads, single PUT or multipart, with the quota reserved while open.

pub mod dto;
pub(crate) mod finish;
pub mod plan;
pub mod repo;
pub mod reserve;
pub mod routes;
pub mod service;

pub use service::UploadService;
