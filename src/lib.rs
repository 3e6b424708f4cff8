#![deny(clippy::unwrap_used)]
//! Coffer: a metadata-only control plane for file storage and sharing.

pub mod auth;
pub mod config;
pub mod db;
pub mod entity;
pub mod error;
pub mod http;
pub mod secrets;
pub mod startup;
pub mod storage;
pub mod telemetry;
