//! The worker side of zip bundles: objects stream from the store into a ZIP64 archive
//! that streams back to the store as a multipart upload. Memory holds at most two parts
//! (one filling, one uploading) whatever the archive's size.

use std::sync::Arc;

use async_trait::async_trait;
use futures_util::StreamExt as _;
use tokio::task::JoinHandle;

use super::archive_key;
use super::service::{archive_ttl_ms, ZipPlan};
use super::zip::ZipStream;
use crate::config::ArchiveSettings;
use crate::storage::{ObjectStore, StorageError, StoredPart};
use crate::tasks::dto::{TaskProgress, ZipResult};
use crate::tasks::purge::{self, PurgePayload};
use crate::tasks::worker::{Handler, TaskContext, TaskError};
use crate::tasks::{now_ms, Task};

/// Collects the archive's bytes into parts and uploads them, one in flight at a time.
struct PartSink {
    store: Arc<dyn ObjectStore>,
    key: String,
    upload_id: String,
    part_bytes: usize,
    buf: Vec<u8>,
    next: u32,
    parts: Vec<StoredPart>,
    in_flight: Option<JoinHandle<Result<StoredPart, StorageError>>>,
}

impl PartSink {
    async fn write(&mut self, mut data: &[u8]) -> Result<(), StorageError> {
        while !data.is_empty() {
            let take = (self.part_bytes - self.buf.len()).min(data.len());
            self.buf.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.buf.len() == self.part_bytes {
                self.send_part().await?;
            }
        }
        Ok(())
    }

    async fn wait_in_flight(&mut self) -> Result<(), StorageError> {
        if let Some(handle) = self.in_flight.take() {
            let part = handle.await.map_err(StorageError::request)??;
            self.parts.push(part);
        }
        Ok(())
    }

    async fn send_part(&mut self) -> Result<(), StorageError> {
        self.wait_in_flight().await?;
        let bytes = std::mem::replace(&mut self.buf, Vec::with_capacity(self.part_bytes));
        let (store, key, upload_id, number) = (
            self.store.clone(),
            self.key.clone(),
            self.upload_id.clone(),
            self.next,
        );
        self.next += 1;
        self.in_flight = Some(tokio::spawn(async move {
            store.upload_part(&key, &upload_id, number, bytes).await
        }));
        Ok(())
    }

    async fn finish(mut self) -> Result<Vec<StoredPart>, StorageError> {
        if !self.buf.is_empty() || self.next == 1 {
            self.send_part().await?;
        }
        self.wait_in_flight().await?;
        Ok(self.parts)
    }
}

pub struct ZipHandler {
    pub cfg: ArchiveSettings,
    /// The cloud tier, which holds the files whose primary copy was released.
    pub cloud: Option<Arc<dyn ObjectStore>>,
}

impl ZipHandler {
    async fn build(
        &self,
        ctx: &TaskContext,
        plan: &ZipPlan,
        key: &str,
        upload_id: &str,
    ) -> Result<u64, TaskError> {
        let mut sink = PartSink {
            store: ctx.store.clone(),
            key: key.to_owned(),
            upload_id: upload_id.to_owned(),
            part_bytes: self.cfg.part_bytes as usize,
            buf: Vec::with_capacity(self.cfg.part_bytes as usize),
            next: 1,
            parts: Vec::new(),
            in_flight: None,
        };
        let mut zip = ZipStream::new();
        let (mut files_done, mut bytes_done) = (0u64, 0u64);
        let total = plan.entries.len();
        for entry in &plan.entries {
            sink.write(&zip.begin(&entry.path)).await?;
            let mut stream = match ctx.store.get_stream(&entry.key).await {
                // Released to the cloud tier (before or after the plan was made).
                Err(e) if e.is_not_found() && self.cloud.is_some() => match &self.cloud {
                    Some(cloud) => cloud.get_stream(&entry.key).await?,
                    None => return Err(e.into()),
                },
                other => other?,
            };
            let mut crc = crc32fast::Hasher::new();
            let mut size = 0u64;
            while let Some(chunk) = stream.next().await {
                let chunk = chunk?;
                crc.update(&chunk);
                size += chunk.len() as u64;
                zip.data(chunk.len() as u64);
                sink.write(&chunk).await?;
            }
            if size != entry.size {
                return Err(TaskError::Failed(format!(
                    "{} changed size ({} bytes, expected {})",
                    entry.path, size, entry.size
                )));
            }
            sink.write(&zip.end(crc.finalize(), size)).await?;
            files_done += 1;
            bytes_done += size;
            ctx.progress(&TaskProgress {
                files_done,
                files_total: total as u64,
                bytes_done,
                bytes_total: plan.total_bytes,
            })
            .await;
        }
        sink.write(&zip.finish()).await?;
        let parts = sink.finish().await?;
        ctx.store.complete_multipart(key, upload_id, &parts).await?;
        let meta = ctx.store.head(key).await?;
        Ok(meta.map(|m| m.size).unwrap_or(0))
    }
}

#[async_trait]
impl Handler for ZipHandler {
    async fn run(&self, ctx: &TaskContext, task: &Task) -> Result<serde_json::Value, TaskError> {
        let plan: ZipPlan =
            serde_json::from_value(task.payload.clone()).map_err(TaskError::Payload)?;
        // Same key on every attempt: a retry overwrites what a dead attempt left.
        let key = archive_key(task.id);
        let upload_id = ctx.store.create_multipart(&key, "application/zip").await?;
        let size = match self.build(ctx, &plan, &key, &upload_id).await {
            Ok(size) => size,
            Err(e) => {
                let _ = ctx.store.abort_multipart(&key, &upload_id).await;
                return Err(e);
            }
        };
        let expires_at_ms = now_ms() + archive_ttl_ms(&self.cfg, size);
        purge::enqueue(
            &ctx.db,
            PurgePayload::keys(vec![key.clone()]),
            expires_at_ms,
        )
        .await?;
        let result = ZipResult {
            key,
            name: plan.name,
            size,
            entries: plan.entries.len() as u64,
            expires_at_ms,
        };
        Ok(serde_json::to_value(&result)?)
    }
}
