//! The protocol of **benchwrap**, the HPC benchmark client already deployed against a
//! FastAPI + MinIO backend, served under `/api` so that client works against Coffer
//! unchanged: its health probe and its sign-in (register, password, refresh). Answers
//! are shaped as that backend's (`{"access", "refresh"}`; errors `{"detail"}`, to which
//! Coffer's `error_code` is added); behind them are Coffer's own accounts, sessions,
//! rotation and reuse detection, rate limits and audit log.

pub mod routes;
pub mod service;
