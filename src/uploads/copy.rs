//! `POST /files/{id}/copy`: a server-side copy to a new key, reserved and completed like
//! an upload, so the copy is counted exactly once or not at all.

use chrono::Utc;
use tracing::instrument;
use uuid::Uuid;

use super::reserve::Reservation;
use super::UploadError;
use super::UploadService;
use crate::files::access::Actor;
use crate::files::names::display_name;
use crate::files::repo::{FileState, Node};
use crate::files::service::Change;
use crate::files::FileError;
use crate::storage::keys;

impl UploadService {
    /// Server-side copy of a file to a new key, counted against the quota of the owner
    /// of the destination. Without `parent_id` the copy lands beside the source (which
    /// needs write access there); `parent_id: null` is the caller's own root (a confined token's folder).
    #[instrument(skip_all, fields(file.id = %id), err(level = "info", Display))]
    pub async fn copy(&self, actor: Actor, id: Uuid, change: Change) -> Result<Node, UploadError> {
        let src = self.files.get(actor, id).await?;
        if src.is_folder() {
            return Err(FileError::NotAFile.into());
        }
        if src.state != FileState::Active {
            return Err(FileError::NotReady.into());
        }
        let (owner, parent) = match change.parent {
            Some(parent) => {
                let parent = actor.place(parent);
                (self.files.writable_parent(actor, parent).await?, parent)
            }
            None => match src.parent_id {
                Some(p) => (self.files.writable_parent(actor, Some(p)).await?, Some(p)),
                None if src.owner_id == actor.id => (actor.id, None),
                None => return Err(FileError::Forbidden.into()),
            },
        };
        let name = match &change.name {
            Some(n) => display_name(n)?,
            None if parent == src.parent_id && owner == src.owner_id => {
                display_name(&format!("Copy of {}", src.name))?
            }
            None => src.name.clone(),
        };
        let src_key = src.object_key.as_deref().ok_or(FileError::NotReady)?;
        if src.tier == "cloud" {
            return Err(FileError::InCloudTier.into());
        }
        let reservation = Reservation {
            owner,
            created_by: (owner != actor.id).then_some(actor.id),
            token: actor.token,
            parent,
            object_key: keys::object_key(owner, &name),
            name,
            size: src.size,
            content_type: src
                .content_type
                .clone()
                .unwrap_or_else(|| "application/octet-stream".to_owned()),
            part_size: None,
            part_count: 1,
            expires_at: Utc::now() + self.upload_expiry(),
            job: None,
            // The same bytes.
            checksum: src.checksum_sha256.clone(),
        };
        let (_, upload) = self.reserve_copy(reservation).await?;
        if let Err(e) = self.store.copy(src_key, &upload.object_key).await {
            self.close_aborted(&upload).await?;
            // The source was deleted (and purged) meanwhile.
            return Err(match e.is_not_found() {
                true => FileError::NotFound.into(),
                false => e.into(),
            });
        }
        match self.complete_open(&upload, None).await {
            // The folder it was copied into went away meanwhile, taking the copy along.
            Err(UploadError::Aborted) => Err(FileError::NotFound.into()),
            done => done,
        }
    }
}
