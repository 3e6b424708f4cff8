//! Presigned uploads, single PUT or multipart, with the quota reserved while open.

pub mod dto;
mod finish;
pub mod plan;
pub mod repo;
pub mod routes;
pub mod service;

pub use service::UploadService;
