//! The protocol of **benchwrap**, the HPC benchmark client already deployed against a
//! FastAPI + MinIO backend, served under `/api` so that client works against Coffer
//! unchanged: its health probe, its sign-in (register, password, refresh) and its
//! storage (presigned upload and download, list). Answers are shaped as that backend's
//! (`{"access", "refresh"}`; errors `{"detail"}`, to which Coffer's `error_code` is
//! added); behind them are Coffer's own accounts, sessions, rotation and reuse
//! detection, quotas, files and folders, rate limits and audit log, and the job records
//! (`crate::jobs`) that stored files are attached to.

pub mod routes;
pub mod service;
