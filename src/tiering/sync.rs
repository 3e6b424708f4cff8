//! The run task: copy each planned file to the cloud tier, verify it, then release
//! primary copies when the settings ask for it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use base64::Engine as _;
use chrono::Utc;
use futures_util::StreamExt as _;
use sea_orm::DbErr;
use sha2::{Digest as _, Sha256};
use tokio::sync::Mutex;
use uuid::Uuid;

use super::repo::{self, Releasable, RunCount, Verified};
use super::{RunPayload, COPY_ATTEMPTS};
use crate::audit::{AuditEvent, AuditLog, DENIED, OK};
use crate::db::WriteGate;
use crate::entity::file_copies;
use crate::entity::file_copies::CopyLocation;
use crate::entity::tier_runs::RunState;
use crate::files::FileError;
use crate::runtime::{LifecycleAction, Runtime, RuntimeSettings};
use crate::storage::{ObjectStore, StorageError};
use crate::tasks::purge::{self, PurgePayload};
use crate::tasks::worker::{Handler, TaskContext, TaskError};
use crate::tasks::{now_ms, Task};
use crate::uploads::UploadError;

/// Bytes per part of a multipart copy; smaller objects go in one PUT.
pub const PART_BYTES: usize = 8 * 1024 * 1024;

/// Runs a run of the schedule: the lifecycle rules, then (with a cloud tier) the sync.
pub struct TierRunHandler {
    /// The cloud tier; `None`: the run only applies the lifecycle rules.
    pub cloud: Option<Arc<dyn ObjectStore>>,
    /// Deletes what the lifecycle rules match, like a user's delete.
    pub uploads: crate::uploads::UploadService,
    pub runtime: Runtime,
    /// First retry delay of a failed copy; doubled each time.
    pub backoff_base: Duration,
    pub audit: AuditLog,
}

/// Holds copies to a byte rate shared by all of one run's copies.
struct Pacer {
    rate: u64,
    state: Mutex<(Instant, u64)>,
}

impl Pacer {
    fn new(rate: u64) -> Pacer {
        Pacer {
            rate,
            state: Mutex::new((Instant::now(), 0)),
        }
    }

    /// Waits until sending `bytes` more keeps to the rate.
    async fn take(&self, bytes: u64) {
        if self.rate == 0 {
            return;
        }
        let wait = {
            let mut s = self.state.lock().await;
            s.1 += bytes;
            let due = s.0 + Duration::from_secs_f64(s.1 as f64 / self.rate as f64);
            due.saturating_duration_since(Instant::now())
        };
        tokio::time::sleep(wait).await;
    }
}

/// A copy that did not work out.
#[derive(Debug, thiserror::Error)]
enum CopyError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Db(#[from] DbErr),
    #[error("{0}")]
    Mismatch(String),
}

/// The sync's work, for a run with a cloud tier.
struct Copier<'a> {
    h: &'a TierRunHandler,
    cloud: &'a Arc<dyn ObjectStore>,
}

impl Copier<'_> {
    /// Streams `key` from the primary store to the cloud tier, hashing it on the way;
    /// returns its size and SHA-256 (hex).
    async fn stream_copy(
        &self,
        primary: &Arc<dyn ObjectStore>,
        key: &str,
        content_type: &str,
        pacer: &Pacer,
    ) -> Result<(u64, String), CopyError> {
        let mut stream = primary.get_stream(key).await?;
        let mut hash = Sha256::new();
        let mut buf: Vec<u8> = Vec::with_capacity(PART_BYTES);
        let mut size = 0u64;
        let mut upload: Option<(String, Vec<crate::storage::StoredPart>)> = None;
        let result: Result<(), CopyError> = async {
            while let Some(chunk) = stream.next().await {
                let chunk = chunk?;
                hash.update(&chunk);
                size += chunk.len() as u64;
                let mut rest = &chunk[..];
                while !rest.is_empty() {
                    let take = rest.len().min(PART_BYTES - buf.len());
                    buf.extend_from_slice(&rest[..take]);
                    rest = &rest[take..];
                    if buf.len() == PART_BYTES {
                        if upload.is_none() {
                            let id = self.cloud.create_multipart(key, content_type).await?;
                            upload = Some((id, Vec::new()));
                        }
                        if let Some((id, parts)) = upload.as_mut() {
                            pacer.take(buf.len() as u64).await;
                            let part = std::mem::replace(&mut buf, Vec::with_capacity(PART_BYTES));
                            let n = parts.len() as u32 + 1;
                            parts.push(self.cloud.upload_part(key, id, n, part).await?);
                        }
                    }
                }
            }
            match upload.as_mut() {
                None => {
                    pacer.take(buf.len() as u64).await;
                    self.cloud
                        .put(key, std::mem::take(&mut buf), content_type)
                        .await?;
                }
                Some((id, parts)) => {
                    if !buf.is_empty() {
                        pacer.take(buf.len() as u64).await;
                        let n = parts.len() as u32 + 1;
                        let part = std::mem::take(&mut buf);
                        parts.push(self.cloud.upload_part(key, id, n, part).await?);
                    }
                    self.cloud.complete_multipart(key, id, parts).await?;
                }
            }
            Ok(())
        }
        .await;
        if let Err(e) = result {
            if let Some((id, _)) = &upload {
                if let Err(abort) = self.cloud.abort_multipart(key, id).await {
                    tracing::warn!(error = %abort, "could not abort a cloud multipart upload");
                }
            }
            return Err(e);
        }
        Ok((size, hex::encode(hash.finalize())))
    }

    /// Copies and verifies one file; `Ok(false)` when the file went away meanwhile.
    async fn copy_one(
        &self,
        ctx: &TaskContext,
        run: Uuid,
        copy: &file_copies::Model,
        pacer: &Pacer,
    ) -> Result<bool, CopyError> {
        let Some(file) = repo::file(&ctx.db, copy.file_id).await? else {
            return Ok(false);
        };
        let Some(key) = file.object_key.clone() else {
            return Ok(false);
        };
        let content_type = file
            .content_type
            .clone()
            .unwrap_or_else(|| "application/octet-stream".into());
        let (size, sha256_hex) = match self
            .stream_copy(&ctx.store, &key, &content_type, pacer)
            .await
        {
            Err(CopyError::Storage(e)) if e.is_not_found() => {
                // Deleted (and purged) since it was planned, or replaced.
                let gone = repo::file(&ctx.db, copy.file_id)
                    .await?
                    .is_none_or(|f| f.object_key.as_deref() != Some(key.as_str()));
                if gone {
                    return Ok(false);
                }
                return Err(CopyError::Storage(e));
            }
            other => other?,
        };
        if size != file.size.max(0) as u64 {
            return Err(CopyError::Mismatch(format!(
                "the primary object holds {size} bytes, the file {}",
                file.size
            )));
        }
        if let Some(declared) = &file.checksum_sha256 {
            let read = hex::decode(&sha256_hex)
                .map(|b| base64::engine::general_purpose::STANDARD.encode(b))
                .unwrap_or_default();
            if &read != declared {
                return Err(CopyError::Mismatch(
                    "the primary object does not match the file's SHA-256".into(),
                ));
            }
        }
        let Some(meta) = self.cloud.head(&key).await? else {
            return Err(CopyError::Mismatch(
                "the cloud copy is missing after the copy".into(),
            ));
        };
        if meta.size != size {
            return Err(CopyError::Mismatch(format!(
                "the cloud copy holds {} bytes, {size} were sent",
                meta.size
            )));
        }
        let verified = Verified {
            file_id: file.id,
            object_key: key.clone(),
            size: size as i64,
            sha256_hex,
            cloud_etag: meta.etag,
        };
        let txn = WriteGate::for_connection(&ctx.db).begin(&ctx.db).await?;
        let kept = repo::record_verified(&*txn, run, &verified).await?;
        txn.commit().await?;
        if !kept {
            // Deleted or replaced while it was copied: its copy must not outlive it.
            self.cloud.delete(&key).await?;
            return Ok(false);
        }
        Ok(true)
    }

    /// Works through the run's copies until none is left.
    async fn copy_all(
        &self,
        ctx: &TaskContext,
        run: Uuid,
        s: &RuntimeSettings,
    ) -> Result<(), TaskError> {
        let concurrency = s.tier_concurrency.max(1) as usize;
        let pacer = Pacer::new(s.tier_bandwidth_bytes_per_second);
        loop {
            let due = repo::due_copies(&ctx.db, run, now_ms(), concurrency as u64 * 4).await?;
            if due.is_empty() {
                let (left, next) = repo::copies_left(&ctx.db, run).await?;
                if left == 0 {
                    return Ok(());
                }
                let wait = next.map_or(1000, |at| (at - now_ms()).clamp(10, 1000));
                tokio::time::sleep(Duration::from_millis(wait as u64)).await;
                continue;
            }
            let results: Vec<Result<(), DbErr>> = futures_util::stream::iter(due)
                .map(|copy| {
                    let pacer = &pacer;
                    async move {
                        match self.copy_one(ctx, run, &copy, pacer).await {
                            Ok(true) => Ok(()),
                            Ok(false) => repo::drop_copy(&ctx.db, copy.file_id, run).await,
                            Err(CopyError::Db(e)) => Err(e),
                            Err(e) => {
                                let attempts = copy.attempts + 1;
                                let next = (attempts < COPY_ATTEMPTS).then(|| {
                                    let exp = (attempts - 1).clamp(0, 16) as u32;
                                    now_ms()
                                        + (self.h.backoff_base.as_millis() as i64)
                                            .saturating_mul(1 << exp)
                                            .min(600_000)
                                });
                                let error = chain(&e);
                                tracing::warn!(file.id = %copy.file_id, attempts, %error, "cloud copy failed");
                                repo::record_failure(
                                    &ctx.db,
                                    copy.file_id,
                                    run,
                                    attempts,
                                    &error,
                                    next,
                                )
                                .await
                            }
                        }
                    }
                })
                .buffer_unordered(concurrency)
                .collect()
                .await;
            for r in results {
                r?;
            }
        }
    }

    /// Releases primary copies whose cloud copy is verified and old enough; holds the
    /// run for an admin when that would free too much of the primary store.
    /// Returns the state the run ends in.
    async fn release(
        &self,
        ctx: &TaskContext,
        run: Uuid,
        confirmed: bool,
        s: &RuntimeSettings,
    ) -> Result<RunState, TaskError> {
        if !s.tier_release_primary {
            return Ok(RunState::Done);
        }
        let before = Utc::now()
            - chrono::Duration::seconds(s.tier_release_grace_seconds.min(i64::MAX as u64) as i64);
        let candidates = repo::releasable(&ctx.db, before).await?;
        if candidates.is_empty() {
            return Ok(RunState::Done);
        }
        let bytes: i64 = candidates.iter().map(|r| r.size).sum();
        let total = repo::primary_bytes(&ctx.db).await?;
        let share_ok =
            (bytes as i128) * 100 <= (s.tier_release_max_percent as i128) * (total as i128);
        if !share_ok && !confirmed {
            tracing::warn!(
                files = candidates.len(),
                bytes,
                total,
                "release held for an admin's confirmation"
            );
            self.h
                .audit
                .record(
                    AuditEvent::new("tier.release_held", DENIED)
                        .target("tier_run", run)
                        .detail(serde_json::json!({
                            "files": candidates.len(), "bytes": bytes, "primary_bytes": total,
                            "max_percent": s.tier_release_max_percent,
                        })),
                )
                .await;
            return Ok(RunState::Held);
        }
        let ttl = s.presign_ttl();
        let mut released = 0u64;
        let mut released_bytes = 0i64;
        for r in &candidates {
            if self.release_one(ctx, run, r, ttl).await? {
                released += 1;
                released_bytes += r.size;
            }
        }
        self.h
            .audit
            .record(
                AuditEvent::new("tier.released", OK)
                    .target("tier_run", run)
                    .detail(serde_json::json!({ "files": released, "bytes": released_bytes })),
            )
            .await;
        Ok(RunState::Done)
    }

    /// Re-checks one cloud copy, then marks the file as living in the cloud and queues
    /// the deletion of its primary copy after the presigned URLs already handed out
    /// have expired. `false` when it was not released.
    async fn release_one(
        &self,
        ctx: &TaskContext,
        run: Uuid,
        r: &Releasable,
        ttl: Duration,
    ) -> Result<bool, TaskError> {
        let meta = self.cloud.head(&r.object_key).await?;
        let intact = meta.as_ref().is_some_and(|m| {
            m.size as i64 == r.cloud_size && r.size == r.cloud_size && m.etag == r.cloud_etag
        });
        if !intact {
            let why = match meta {
                None => "the cloud copy is missing".to_owned(),
                Some(_) => "the cloud copy changed since it was verified".to_owned(),
            };
            tracing::warn!(file.id = %r.file_id, why, "primary copy kept");
            repo::mark_corrupt(&ctx.db, r.file_id, &why).await?;
            self.h
                .audit
                .record(
                    AuditEvent::new("tier.verification_failed", DENIED)
                        .target("file", r.file_id)
                        .detail(serde_json::json!({ "reason": why })),
                )
                .await;
            return Ok(false);
        }
        let txn = WriteGate::for_connection(&ctx.db).begin(&ctx.db).await?;
        if !repo::mark_released(&*txn, r).await? {
            txn.rollback().await?;
            return Ok(false);
        }
        let payload = PurgePayload {
            only: Some(CopyLocation::Primary),
            ..PurgePayload::keys(vec![r.object_key.clone()])
        };
        purge::enqueue(&*txn, payload, purge::late_sweep_at(ttl)).await?;
        repo::add_to_run(&*txn, run, RunCount::Released(r.size)).await?;
        txn.commit().await?;
        Ok(true)
    }
}

impl TierRunHandler {
    /// Applies the lifecycle rules: each file they match is trashed (or deleted) like a
    /// delete by its owner, once, even when several rules match it. A worker killed
    /// midway goes on with the files still there.
    async fn expire(
        &self,
        ctx: &TaskContext,
        run: Uuid,
        s: &RuntimeSettings,
    ) -> Result<(), TaskError> {
        if s.lifecycle_rules.is_empty() {
            return Ok(());
        }
        let now = Utc::now();
        let mut seen = std::collections::HashSet::new();
        let mut report = Vec::new();
        for rule in &s.lifecycle_rules {
            let (mut files, mut bytes) = (0u64, 0i64);
            for (id, owner, size) in repo::expirable(&ctx.db, rule, now).await? {
                if !seen.insert(id) {
                    continue;
                }
                let for_good = rule.action == LifecycleAction::Delete;
                match self.uploads.expire(owner, id, for_good).await {
                    Ok(()) => {
                        files += 1;
                        bytes += size;
                        repo::add_to_run(&ctx.db, run, RunCount::Expired(size)).await?;
                    }
                    // Deleted or moved away meanwhile.
                    Err(UploadError::File(FileError::NotFound)) => {}
                    Err(e) => {
                        return Err(TaskError::Failed(format!(
                            "lifecycle rule {:?}: {e}",
                            rule.name
                        )))
                    }
                }
            }
            report.push(serde_json::json!({
                "rule": rule.name, "action": rule.action, "files": files, "bytes": bytes,
            }));
        }
        self.audit
            .record(
                AuditEvent::new("lifecycle.expired", OK)
                    .target("tier_run", run)
                    .detail(serde_json::json!({ "rules": report })),
            )
            .await;
        Ok(())
    }
}

/// An error with its causes, for the copy's record (they name no secret: a store's
/// answer or a connection failure).
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[async_trait]
impl Handler for TierRunHandler {
    async fn run(&self, ctx: &TaskContext, task: &Task) -> Result<serde_json::Value, TaskError> {
        let payload: RunPayload =
            serde_json::from_value(task.payload.clone()).map_err(TaskError::Payload)?;
        let Some(run) = repo::run(&ctx.db, payload.run_id).await? else {
            return Ok(serde_json::json!({ "run": "gone" }));
        };
        if run.state == RunState::Done {
            return Ok(serde_json::json!({ "run": "done" }));
        }
        if run.state == RunState::Held {
            // The confirmation queues a new task.
            return Ok(serde_json::json!({ "run": "held" }));
        }
        let settings = self.runtime.get().await?;
        self.expire(ctx, run.id, &settings).await?;
        let end = match &self.cloud {
            Some(cloud) => {
                let copier = Copier { h: self, cloud };
                copier.copy_all(ctx, run.id, &settings).await?;
                copier
                    .release(ctx, run.id, run.release_confirmed, &settings)
                    .await?
            }
            None => RunState::Done,
        };
        repo::set_run_state(&ctx.db, run.id, end, None).await?;
        let done = repo::run(&ctx.db, run.id).await?;
        if end == RunState::Done {
            if let Some(done) = &done {
                self.audit
                    .record(
                        AuditEvent::new("tier.run_finished", OK)
                            .target("tier_run", run.id)
                            .detail(serde_json::json!({
                                "files_expired": done.files_expired,
                                "files_copied": done.files_copied,
                                "bytes_copied": done.bytes_copied,
                                "files_failed": done.files_failed,
                                "files_released": done.files_released,
                            })),
                    )
                    .await;
            }
        }
        Ok(serde_json::json!({ "run": run.id, "state": end }))
    }
}
