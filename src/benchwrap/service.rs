//! What the benchwrap storage routes do: the client's relative paths become folders
//! under a per-user root folder (`COFFER_BENCHWRAP_ROOT`), its uploads are unsized
//! uploads (see [`crate::uploads::sizeless`]), and every call first notices the
//! caller's uploads that have arrived.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::cache::{TtlCache, Turns};
use crate::config::BenchwrapSettings;
use crate::db::Db;
use crate::error::AppError;
use crate::files::access::Actor;
use crate::files::names::display_name;
use crate::files::repo::{self as files, FileState, Node};
use crate::files::service::FileService;
use crate::files::FileError;
use crate::jobs::JobService;
use crate::uploads::repo::Upload;
use crate::uploads::service::Presigned;
use crate::uploads::sizeless::Noticed;
use crate::uploads::{UploadError, UploadService};

/// Longest `object_name`, in characters.
pub const MAX_OBJECT_NAME: usize = 256;
/// Most of the caller's open uploads `list` looks at (newest first).
const NOTICE_LIMIT: u64 = 1000;
/// Most a background look takes in (newest first), and how often one starts per user.
const LATER_LIMIT: u64 = 100;
const LATER_EVERY: std::time::Duration = std::time::Duration::from_secs(1);
/// How long a start reuses the folder it found for a path: a client pushes a tree of
/// files into a few folders. A folder deleted meanwhile is looked up again; one renamed
/// or moved receives the starts of these seconds where it is now.
const FOLDERS_FOR: std::time::Duration = std::time::Duration::from_secs(5);

/// A folder path as one user (in one confining folder) names it.
type PathKey = (Uuid, Option<Uuid>, String);

#[derive(Clone)]
pub struct Benchwrap {
    db: Db,
    files: FileService,
    uploads: UploadService,
    jobs: JobService,
    cfg: Arc<BenchwrapSettings>,
    /// Users whose uploads a background look started within [`LATER_EVERY`].
    noticing: Arc<TtlCache<Uuid, ()>>,
    /// Folders found or made for a start, by user, place and path, for [`FOLDERS_FOR`].
    folders: Arc<TtlCache<PathKey, Uuid>>,
    /// Turns at finding or making a path's folders when `folders` misses.
    finding: Arc<Turns>,
}

/// One stored object as `list` shows it.
pub struct Listed {
    /// The path below the root folder.
    pub path: String,
    pub size: i64,
    pub modified: DateTime<Utc>,
}

/// The segments of a client's `object_name`: a relative path of valid file names.
pub fn parse_object_name(raw: &str) -> Result<Vec<String>, FileError> {
    let invalid = |why: &str| FileError::Invalid(format!("object_name {why}."));
    if raw.is_empty() || raw.chars().count() > MAX_OBJECT_NAME {
        return Err(invalid(&format!(
            "must be 1 to {MAX_OBJECT_NAME} characters"
        )));
    }
    if raw.starts_with('/') || raw.contains('\\') || raw.chars().any(char::is_control) {
        return Err(invalid(
            "must be a relative path with '/' between names, without control characters",
        ));
    }
    raw.split('/')
        .map(|segment| match display_name(segment) {
            Ok(name) if name == segment && segment != "." && segment != ".." => Ok(name),
            _ => Err(invalid("must not hold '.', '..', empty or invalid names")),
        })
        .collect()
}

/// A content type from the file name, for the file's metadata (the client sends its
/// own with the PUT).
pub fn content_type_of(name: &str) -> &'static str {
    let ext = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
    match ext.as_deref() {
        Some("csv") => "text/csv",
        Some("txt" | "log" | "out" | "err") => "text/plain",
        Some("json") => "application/json",
        Some("h5" | "hdf5") => "application/x-hdf5",
        Some("gz") => "application/gzip",
        Some("tar") => "application/x-tar",
        Some("zip") => "application/zip",
        _ => "application/octet-stream",
    }
}

impl Benchwrap {
    pub fn new(
        db: Db,
        files: FileService,
        uploads: UploadService,
        jobs: JobService,
        cfg: BenchwrapSettings,
    ) -> Benchwrap {
        Benchwrap {
            db,
            files,
            uploads,
            jobs,
            cfg: Arc::new(cfg),
            noticing: Arc::new(TtlCache::new(LATER_EVERY)),
            folders: Arc::new(TtlCache::new(FOLDERS_FOR)),
            finding: Arc::default(),
        }
    }

    /// Completes (or refuses) the caller's uploads that have arrived (the newest
    /// `limit` of those that may have); returns the refused ones, for the audit log.
    pub async fn notice(
        &self,
        actor: Actor,
        limit: Option<u64>,
    ) -> Result<Vec<(Upload, u64)>, UploadError> {
        let noticed = self
            .uploads
            .notice_open(Some(actor.id), limit.unwrap_or(NOTICE_LIMIT))
            .await?;
        Ok(noticed
            .into_iter()
            .filter_map(|(upload, n)| match n {
                Noticed::Refused { size } => Some((upload, size)),
                _ => None,
            })
            .collect())
    }

    /// Whether [`Benchwrap::notice_later`] is due for `user`: at most once per
    /// [`LATER_EVERY`] (the worker looks at the rest). Marks it done.
    pub fn notice_due(&self, user: Uuid) -> bool {
        if self.noticing.get(&user).is_some() {
            return false;
        }
        self.noticing.put(user, Arc::new(()));
        true
    }

    /// [`Benchwrap::notice`] of the newest [`LATER_LIMIT`] in a task of its own;
    /// `refused` receives what it refused.
    pub fn notice_later<F, Fut>(&self, actor: Actor, refused: F)
    where
        F: FnOnce(Vec<(Upload, u64)>) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = ()> + Send,
    {
        let this = self.clone();
        tokio::spawn(async move {
            match this.notice(actor, Some(LATER_LIMIT)).await {
                Ok(found) if !found.is_empty() => refused(found).await,
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "noticing uploads failed; the worker retries"),
            }
        });
    }

    /// The folder `path` below the root folder (the root itself when empty); created
    /// as needed when `create`, else `None` when missing.
    async fn folder(
        &self,
        actor: Actor,
        path: &[String],
        create: bool,
    ) -> Result<Option<Uuid>, FileError> {
        let mut parent = None;
        for name in std::iter::once(&self.cfg.root_name).chain(path) {
            match self.files.folder_named(actor, parent, name, create).await? {
                Some(folder) => parent = Some(folder.id),
                None => return Ok(None),
            }
        }
        Ok(parent)
    }

    /// Starts the upload of `object_name`: its folders created, the most an upload may
    /// hold reserved.
    pub async fn presign_upload(
        &self,
        actor: Actor,
        object_name: &str,
        benchmark: Option<&str>,
    ) -> Result<(Upload, Presigned), AppError> {
        let mut path = parse_object_name(object_name)?;
        let name = path.pop().ok_or(FileError::NotFound)?;
        let key = (actor.id, actor.root, path.join("/"));
        let job = self.jobs.job_for(actor, benchmark, &path, &name).await?;
        let cached = self.folders.get(&key).map(|id| *id);
        let parent = match cached {
            Some(id) => id,
            None => {
                let _turn = self.finding.take(&key).await;
                match self.folders.get(&key) {
                    Some(id) => *id,
                    None => self.made_folder(actor, &path, &key).await?,
                }
            }
        };
        let start = |parent| {
            self.uploads.start_unsized(
                actor,
                parent,
                &name,
                content_type_of(&name),
                self.cfg.max_upload_bytes,
                job,
            )
        };
        match start(parent).await {
            // The remembered folder is gone: find or make the path again.
            Err(UploadError::File(FileError::NotFound)) if cached.is_some() => {
                self.folders.invalidate(&key);
                let parent = self.made_folder(actor, &path, &key).await?;
                Ok(start(parent).await?)
            }
            other => Ok(other?),
        }
    }

    /// The folder of `path`, found or made, remembered under `key`.
    async fn made_folder(
        &self,
        actor: Actor,
        path: &[String],
        key: &PathKey,
    ) -> Result<Uuid, FileError> {
        let id = self
            .folder(actor, path, true)
            .await?
            .ok_or(FileError::NotFound)?;
        self.folders.put(key.clone(), Arc::new(id));
        Ok(id)
    }

    /// The stored file at `object_name`.
    pub async fn find(&self, actor: Actor, object_name: &str) -> Result<Node, FileError> {
        let mut path = parse_object_name(object_name)?;
        let name = path.pop().ok_or(FileError::NotFound)?;
        let parent = self
            .folder(actor, &path, false)
            .await?
            .ok_or(FileError::NotFound)?;
        match files::find_by_name(self.db.conn(), actor.id, Some(parent), &name).await? {
            // New content that has arrived but was not noticed yet is noticed first.
            Some(node) if !node.is_folder() => {
                let open = self.uploads.open_upload_of(node.id).await;
                let noticed = match open {
                    Ok(Some(upload)) if upload.is_unsized() => self.uploads.notice(&upload).await,
                    _ => Ok(Noticed::NotYet),
                };
                match noticed {
                    Ok(Noticed::Completed(now)) => Ok(now),
                    _ if node.state == FileState::Active => Ok(node),
                    _ => Err(FileError::NotFound),
                }
            }
            _ => Err(FileError::NotFound),
        }
    }

    /// A presigned GET of the file at `object_name`.
    pub async fn presign_download(
        &self,
        actor: Actor,
        object_name: &str,
    ) -> Result<(Node, crate::files::service::Download), FileError> {
        let node = self.find(actor, object_name).await?;
        let download = self.files.download(actor, node.id).await?;
        Ok((node, download))
    }

    /// Every stored file below the root folder, by path.
    pub async fn list(&self, actor: Actor) -> Result<Vec<Listed>, FileError> {
        let Some(root) = self.folder(actor, &[], false).await? else {
            return Ok(Vec::new());
        };
        let nodes = files::subtree(self.db.conn(), actor.id, root).await?;
        let by_id: HashMap<Uuid, &Node> = nodes.iter().map(|n| (n.id, n)).collect();
        let path_of = |node: &Node| {
            let mut segments = vec![node.name.as_str()];
            let mut parent = node.parent_id;
            while let Some(p) = parent.filter(|p| *p != root) {
                let Some(folder) = by_id.get(&p) else { break };
                segments.push(folder.name.as_str());
                parent = folder.parent_id;
            }
            segments.reverse();
            segments.join("/")
        };
        let mut listed: Vec<Listed> = nodes
            .iter()
            .filter(|n| !n.is_folder() && n.state == FileState::Active)
            .map(|n| Listed {
                path: path_of(n),
                size: n.size,
                modified: n.updated_at,
            })
            .collect();
        listed.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(listed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_names_are_relative_paths_of_valid_names() {
        assert_eq!(
            parse_object_name("flops_matrix_mul/job_4242/4242_batch_c0107.h5").expect("valid"),
            ["flops_matrix_mul", "job_4242", "4242_batch_c0107.h5"]
        );
        for bad in [
            "",
            "/etc/passwd",
            "a/../b",
            "../a",
            "a/./b",
            "a//b",
            "a/",
            "a\\b",
            "a\nb",
            "a/\u{7f}",
            " a",
        ] {
            assert!(parse_object_name(bad).is_err(), "{bad:?} accepted");
        }
        let longest = format!("a/{}", "x".repeat(MAX_OBJECT_NAME - 2));
        assert!(parse_object_name(&longest).is_ok());
        assert!(parse_object_name(&format!("{longest}x")).is_err());
    }
}
