//! Planning an archive: which objects, under which entry names, within which limits.

use std::collections::HashMap;
use std::sync::Arc;

use sea_orm::DatabaseConnection;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::names::{dedupe, entry_name};
use super::ArchiveError;
use crate::config::ArchiveSettings;
use crate::files::access::{self, Access, Actor};
use crate::files::repo::{self as files, FileState, Node};
use crate::files::FileError;
use crate::runtime::Runtime;
use crate::storage::ObjectStore;
use crate::tasks::repo::{self as tasks, NewTask};
use crate::tasks::{now_ms, KIND_ZIP};

/// One file of an archive, as the worker needs it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct PlannedEntry {
    pub key: String,
    pub path: String,
    pub size: u64,
}

/// The zip task's payload.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ZipPlan {
    /// The download's file name.
    pub name: String,
    pub entries: Vec<PlannedEntry>,
    pub total_bytes: u64,
    /// The share link whose "download all" this is (its holders may poll the task).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link_id: Option<Uuid>,
    /// The folder of the confined API token that asked for it: such a token sees only
    /// the archives made under the same confinement.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root: Option<Uuid>,
}

/// Who asks for an archive: a user (through a token confined to a folder, or not), or
/// the holder of a share link.
enum Requester {
    Owner(Uuid, Option<Uuid>),
    Link(Uuid),
}

#[derive(Clone)]
pub struct ArchiveService {
    pub(super) db: DatabaseConnection,
    pub(super) store: Arc<dyn ObjectStore>,
    pub(super) runtime: Runtime,
    cfg: Arc<ArchiveSettings>,
    max_attempts: i32,
}

impl ArchiveService {
    pub fn new(
        db: DatabaseConnection,
        store: Arc<dyn ObjectStore>,
        runtime: Runtime,
        cfg: ArchiveSettings,
        max_attempts: i32,
    ) -> ArchiveService {
        ArchiveService {
            db,
            store,
            runtime,
            cfg: Arc::new(cfg),
            max_attempts,
        }
    }

    /// Every active file below `folder`, with its path segments from the folder down.
    async fn files_below(&self, folder: &Node) -> Result<Vec<(Vec<String>, Node)>, ArchiveError> {
        let user = folder.owner_id;
        let mut out = Vec::new();
        // Folders of the current level, by id, with their path segments.
        let mut frontier: HashMap<Uuid, Vec<String>> =
            HashMap::from([(folder.id, vec![folder.name.clone()])]);
        while !frontier.is_empty() {
            let ids: Vec<Uuid> = frontier.keys().copied().collect();
            let children = files::children_of(&self.db, user, &ids).await?;
            let mut next = HashMap::new();
            for child in children {
                let Some(prefix) = child.parent_id.and_then(|p| frontier.get(&p)) else {
                    continue;
                };
                let mut path = prefix.clone();
                path.push(child.name.clone());
                if child.is_folder() {
                    next.insert(child.id, path);
                } else if child.state == FileState::Active {
                    out.push((path, child));
                }
                if out.len() as u64 > self.cfg.max_entries {
                    return Err(self.too_many());
                }
            }
            frontier = next;
        }
        // Database order is unspecified: sort, so the archive's layout is stable.
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }

    fn too_many(&self) -> ArchiveError {
        ArchiveError::TooManyFiles {
            max: self.cfg.max_entries,
        }
    }

    /// Plans the archive of `ids` (files and folders `user` may read) and enqueues it.
    pub async fn create(
        &self,
        actor: Actor,
        ids: &[Uuid],
        name: Option<&str>,
    ) -> Result<Uuid, ArchiveError> {
        if ids.is_empty() {
            return Err(FileError::Invalid("Name at least one file or folder.".into()).into());
        }
        let mut nodes = Vec::with_capacity(ids.len());
        for id in ids {
            nodes.push(access::require(&self.db, actor, *id, Access::Read).await?.0);
        }
        let by = Requester::Owner(actor.id, actor.root);
        self.enqueue(nodes, name, by).await
    }

    /// The "download all" of a folder behind a share link.
    pub async fn create_for_link(&self, link: Uuid, folder: Node) -> Result<Uuid, ArchiveError> {
        let name = folder.name.clone();
        self.enqueue(vec![folder], Some(&name), Requester::Link(link))
            .await
    }

    async fn enqueue(
        &self,
        nodes: Vec<Node>,
        name: Option<&str>,
        by: Requester,
    ) -> Result<Uuid, ArchiveError> {
        let (owner, root, link_id) = match by {
            Requester::Owner(owner, root) => (Some(owner), root, None),
            Requester::Link(link) => (None, None, Some(link)),
        };
        let mut selected: Vec<(Vec<String>, Node)> = Vec::new();
        for node in nodes {
            if node.is_folder() {
                selected.extend(self.files_below(&node).await?);
            } else if node.state == FileState::Active {
                selected.push((vec![node.name.clone()], node));
            } else {
                return Err(FileError::NotReady.into());
            }
            if selected.len() as u64 > self.cfg.max_entries {
                return Err(self.too_many());
            }
        }
        if selected.is_empty() {
            return Err(
                FileError::Invalid("There is no file to put in the archive.".into()).into(),
            );
        }
        let total_bytes: u64 = selected.iter().map(|(_, n)| n.size.max(0) as u64).sum();
        if total_bytes > self.cfg.max_bytes {
            return Err(ArchiveError::TooLarge {
                max: self.cfg.max_bytes,
            });
        }
        let mut paths: Vec<String> = selected
            .iter()
            .map(|(segments, _)| {
                entry_name(&segments.iter().map(String::as_str).collect::<Vec<_>>())
            })
            .collect();
        dedupe(&mut paths);
        let entries = selected
            .into_iter()
            .zip(paths)
            .filter_map(|((_, node), path)| {
                Some(PlannedEntry {
                    key: node.object_key?,
                    path,
                    size: node.size.max(0) as u64,
                })
            })
            .collect();
        let name = match name.map(str::trim).filter(|n| !n.is_empty()) {
            Some(n) => crate::files::names::display_name(n)?,
            None => "archive".to_owned(),
        };
        let name = if name.to_lowercase().ends_with(".zip") {
            name
        } else {
            format!("{name}.zip")
        };
        let plan = ZipPlan {
            name,
            entries,
            total_bytes,
            link_id,
            root,
        };
        let payload = serde_json::to_value(&plan).map_err(|e| FileError::Invalid(e.to_string()))?;
        let id = tasks::enqueue(
            &self.db,
            NewTask {
                kind: KIND_ZIP,
                payload,
                owner_id: owner,
                max_attempts: self.max_attempts,
                run_after_ms: now_ms(),
            },
        )
        .await?;
        tracing::info!(task.id = %id, entries = plan.entries.len(), bytes = total_bytes, "archive enqueued");
        Ok(id)
    }
}

/// How long an archive of `size` bytes is kept: max(min TTL, size ÷ min bandwidth).
pub fn archive_ttl_ms(cfg: &ArchiveSettings, size: u64) -> i64 {
    let by_bandwidth = size.saturating_mul(1000) / cfg.min_bandwidth.max(1);
    (cfg.min_ttl.as_millis() as u64).max(by_bandwidth) as i64
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn archives_live_long_enough_to_download_slowly() {
        let cfg = ArchiveSettings {
            max_bytes: u64::MAX,
            max_entries: 10,
            min_ttl: Duration::from_secs(3600),
            min_bandwidth: 1024 * 1024,
            part_bytes: 5 * 1024 * 1024,
        };
        assert_eq!(archive_ttl_ms(&cfg, 10), 3_600_000);
        // 10 GiB at 1 MiB/s: 10,240 seconds.
        assert_eq!(archive_ttl_ms(&cfg, 10 * 1024 * 1024 * 1024), 10_240_000);
    }
}
