//! The cloud tier (issue 17): the worker copies active files from the primary store to
//! a second S3 bucket on a schedule, verifies every copy (size and SHA-256 as it
//! streams, then a HEAD), records it in `file_copies`, and -- only when asked, only
//! after a grace time, and never more than a set share of the primary store without an
//! admin's confirmation -- releases the primary copy. Downloads, links and bundles then
//! read the file from wherever it is (see `FileService::store_of`).
//!
//! A run (`tier_runs`) is one queued task that works through its files with bounded
//! concurrency; each file's copy row is its own unit of work, with its attempts, its
//! backoff and its error. A worker killed mid-run loses its lease; the task is claimed
//! again and goes on with the files not yet verified.

pub mod dto;
pub mod repo;
pub mod routes;
pub mod service;
pub mod sync;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The task kind of a run.
pub const KIND_TIER_RUN: &str = "tier_run";

/// Attempts a file's copy gets within one run before it is marked failed.
pub const COPY_ATTEMPTS: i32 = 5;

/// A run task's payload.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunPayload {
    pub run_id: Uuid,
}
