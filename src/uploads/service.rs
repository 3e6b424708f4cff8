//! The upload rules: reserve quota and record the pending file in one transaction, sign
//! URLs, verify what the store holds on completion, release the reservation on abort.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::DatabaseConnection;

use crate::db::Db;
use crate::runtime::{Runtime, RuntimeSettings};
use tracing::instrument;
use uuid::Uuid;

use super::plan::{part_len, part_plan};
use super::repo::{self, Upload, UploadState};
use super::reserve::{Reservation, Reserved, Reserver};
use super::UploadError;
use crate::config::UploadSettings;
use crate::files::access::{self, Access, Actor};
use crate::files::names::display_name;
use crate::files::repo::{self as files, FileState, Node};
use crate::files::service::FileService;
use crate::files::FileError;
use crate::http::media_type::{content_type, content_type_allowed};
use crate::storage::{keys, ObjectStore, StoredPart};

/// Most part URLs handed out by one request.
pub const MAX_PART_BATCH: usize = 1000;
/// Most uploads one request starts or completes.
pub const MAX_START_BATCH: usize = 1000;

pub struct StartUpload {
    pub name: String,
    pub parent_id: Option<Uuid>,
    pub size: u64,
    pub content_type: Option<String>,
    /// The content's SHA-256, base64 (single-part uploads).
    pub checksum_sha256: Option<String>,
}

/// A SHA-256 as S3's `x-amz-checksum-sha256` carries it: the 32 bytes in standard
/// base64 (44 characters), returned in that one spelling.
pub(super) fn sha256_checksum(raw: &str) -> Result<String, UploadError> {
    use base64::Engine as _;
    let engine = base64::engine::general_purpose::STANDARD;
    match engine.decode(raw) {
        Ok(bytes) if bytes.len() == 32 => Ok(engine.encode(bytes)),
        _ => Err(UploadError::Checksum(
            "checksum_sha256 must be the content's SHA-256 in base64 (44 characters).".into(),
        )),
    }
}

/// Makes a reservation `owner`'s: billed to them, their object key, `actor` recorded as
/// the one who started it when someone else.
fn bill_to(reservation: &mut Reservation, actor: Actor, owner: Uuid) {
    reservation.owner = owner;
    reservation.created_by = (owner != actor.id).then_some(actor.id);
    reservation.object_key = keys::object_key(owner, &reservation.name);
}

/// A part's MD5 as `Content-MD5` carries it: the 16 bytes in standard base64.
fn md5_checksum(raw: &str) -> Result<String, UploadError> {
    use base64::Engine as _;
    let engine = base64::engine::general_purpose::STANDARD;
    match engine.decode(raw) {
        Ok(bytes) if bytes.len() == 16 => Ok(engine.encode(bytes)),
        _ => Err(UploadError::Checksum(
            "content_md5 must be each part's MD5 in base64 (24 characters).".into(),
        )),
    }
}

/// A presigned request: the URL and the headers the client must send as signed.
pub struct Presigned {
    pub url: String,
    pub expires_at: DateTime<Utc>,
}

pub struct Started {
    pub upload: Upload,
    pub file: Node,
    /// For single-part uploads.
    pub put: Option<Presigned>,
    /// True when this answers a retry of an earlier identical start.
    pub replayed: bool,
}

pub struct PartUrl {
    pub number: u32,
    pub size: u64,
    pub url: String,
    /// The part's MD5 (base64) signed into the URL, if one was given.
    pub content_md5: Option<String>,
}

pub struct Status {
    pub upload: Upload,
    /// Parts the store holds with the right size (multipart).
    pub parts_done: Vec<StoredPart>,
    /// Part numbers still to send (multipart), or `[1]` for a single upload not yet stored.
    pub missing: Vec<u32>,
}

#[derive(Clone)]
pub struct UploadService {
    pub(super) db: Db,
    /// Commits upload starts in groups.
    pub(super) reserver: Reserver,
    pub(super) store: Arc<dyn ObjectStore>,
    pub(super) cfg: Arc<UploadSettings>,
    /// Maximum size, allowed content types and presign TTL, as admins set them.
    runtime: Runtime,
    /// Access rules and the download cache of the tree uploads write into.
    pub(super) files: FileService,
}

impl UploadService {
    /// What a client needs to plan its uploads: above `multipart_threshold` an upload
    /// is multipart; `max_upload_bytes` is the largest upload allowed now.
    pub async fn limits(&self) -> Result<(u64, u64), UploadError> {
        let rules = self.runtime.get().await?;
        Ok((self.cfg.multipart_threshold, rules.max_upload_bytes))
    }

    /// `relaxed` commits the upload starts: see [`crate::db::connect_relaxed`]. Starts
    /// the group committer on the current runtime.
    pub fn new(
        db: Db,
        relaxed: DatabaseConnection,
        store: Arc<dyn ObjectStore>,
        cfg: UploadSettings,
        runtime: Runtime,
        files: FileService,
    ) -> UploadService {
        UploadService {
            runtime,
            files,
            reserver: Reserver::spawn(relaxed, db.gate().clone()),
            db,
            store,
            cfg: Arc::new(cfg),
        }
    }

    /// How long an upload stays open before the reconciliation ends it.
    pub fn upload_expiry(&self) -> Duration {
        self.cfg.upload_expiry
    }

    /// The settings in force.
    pub(crate) async fn settings(
        &self,
    ) -> Result<std::sync::Arc<crate::runtime::RuntimeSettings>, sea_orm::DbErr> {
        self.runtime.get().await
    }

    /// The lifetime of presigned URLs handed out now.
    pub async fn presign_ttl(&self) -> Result<Duration, sea_orm::DbErr> {
        Ok(self.runtime.get().await?.presign_ttl())
    }

    fn expires_at(ttl: Duration) -> DateTime<Utc> {
        Utc::now() + ttl
    }

    #[instrument(skip_all, fields(upload.size = req.size), err(level = "info", Display))]
    pub async fn start(&self, actor: Actor, req: StartUpload) -> Result<Started, UploadError> {
        let rules = self.runtime.get().await?;
        let (reservation, own) = self.prepare(actor, req, &rules).await?;
        let reserved = self.reserver.reserve(reservation.clone()).await?;
        self.settle(actor, reservation, own, reserved, rules.presign_ttl())
            .await
    }

    /// Starts up to [`MAX_START_BATCH`] uploads in one transaction: every start is
    /// checked first, then all that passed are decided together, in order, under the
    /// owners' locks (each all or nothing, as a single start), then signed. One result
    /// per request, in order.
    pub async fn start_many(
        &self,
        actor: Actor,
        reqs: Vec<StartUpload>,
    ) -> Result<Vec<Result<Started, UploadError>>, UploadError> {
        let rules = self.runtime.get().await?;
        let mut results: Vec<Option<Result<Started, UploadError>>> = Vec::new();
        let mut checked = Vec::new();
        for (i, req) in reqs.into_iter().enumerate() {
            results.push(None);
            match self.prepare(actor, req, &rules).await {
                Ok((reservation, own)) => checked.push((i, reservation, own)),
                Err(e) => results[i] = Some(Err(e)),
            }
        }
        let ttl = rules.presign_ttl();
        let reserved = self
            .reserver
            .reserve_many(checked.iter().map(|(_, r, _)| r.clone()).collect())
            .await?;
        // Starts into a folder taken to be the actor's own that is not (another user's,
        // shared with them): its owner read once per folder, then one more group,
        // rather than the single start's fallback once per item.
        let mut owners: HashMap<Uuid, Uuid> = HashMap::new();
        let mut again = Vec::new();
        for ((i, mut reservation, own), outcome) in checked.into_iter().zip(reserved) {
            let Some(parent) = reservation.parent.filter(|_| own) else {
                results[i] = Some(self.settle(actor, reservation, own, outcome, ttl).await);
                continue;
            };
            if !matches!(outcome, Reserved::ParentGone) {
                results[i] = Some(self.settle(actor, reservation, own, outcome, ttl).await);
                continue;
            }
            let owner = match owners.get(&parent) {
                Some(owner) => *owner,
                None => match self.folder_owner(actor, Some(parent)).await {
                    Ok(owner) => *owners.entry(parent).or_insert(owner),
                    Err(e) => {
                        results[i] = Some(Err(e));
                        continue;
                    }
                },
            };
            bill_to(&mut reservation, actor, owner);
            again.push((i, reservation));
        }
        let reserved = self
            .reserver
            .reserve_many(again.iter().map(|(_, r)| r.clone()).collect())
            .await?;
        for ((i, reservation), outcome) in again.into_iter().zip(reserved) {
            results[i] = Some(self.settle(actor, reservation, false, outcome, ttl).await);
        }
        Ok(results
            .into_iter()
            .map(|r| r.unwrap_or_else(|| Err(FileError::NotFound.into())))
            .collect())
    }

    /// Checks a start and makes its reservation; `own` when the target was taken to be
    /// the actor's own folder without reading it.
    async fn prepare(
        &self,
        actor: Actor,
        req: StartUpload,
        rules: &RuntimeSettings,
    ) -> Result<(Reservation, bool), UploadError> {
        let name = display_name(&req.name)?;
        if req.size > rules.max_upload_bytes {
            return Err(UploadError::TooLarge {
                max: rules.max_upload_bytes,
            });
        }
        let ct = content_type(req.content_type.as_deref()).ok_or_else(|| {
            UploadError::ContentType("The content type is not a valid media type.".into())
        })?;
        if !content_type_allowed(&rules.allowed_content_types, &ct) {
            return Err(UploadError::ContentType(format!(
                "Uploads of type {ct} are not allowed here."
            )));
        }
        // Uploads into a folder shared for writing belong to, and are billed to, the
        // folder's owner. A folder taken to be the actor's own is not read first: the
        // reservation checks, under the owner's lock, that it is a folder of theirs.
        let parent = actor.place(req.parent_id);
        let own = parent.is_none_or(|p| actor.root.is_none() || actor.root == Some(p));
        let owner = match own {
            true => actor.id,
            false => self.folder_owner(actor, parent).await?,
        };
        let size = i64::try_from(req.size).map_err(|_| UploadError::TooLarge {
            max: rules.max_upload_bytes,
        })?;
        let multipart = req.size > self.cfg.multipart_threshold;
        let checksum = match req.checksum_sha256.as_deref() {
            None => None,
            Some(_) if multipart => {
                return Err(UploadError::Checksum(format!(
                    "A whole-file checksum is signed at start for single-part uploads (up \
                     to {} bytes) only; give each part's MD5 when asking for part URLs, \
                     and the whole file's SHA-256 at complete.",
                    self.cfg.multipart_threshold
                )))
            }
            Some(c) => Some(sha256_checksum(c)?),
        };
        let (part_size, part_count) = if multipart {
            part_plan(req.size)
        } else {
            (req.size, 1)
        };
        let reservation = Reservation {
            owner,
            created_by: (owner != actor.id).then_some(actor.id),
            token: actor.token,
            parent,
            object_key: keys::object_key(owner, &name),
            name,
            size,
            content_type: ct,
            part_size: multipart.then_some(part_size as i64),
            part_count: part_count as i32,
            expires_at: Utc::now() + self.cfg.upload_expiry,
            job: None,
            checksum,
        };
        Ok((reservation, own))
    }

    /// What a reservation came to: the started upload, signed, or why not.
    async fn settle(
        &self,
        actor: Actor,
        mut reservation: Reservation,
        own: bool,
        mut reserved: Reserved,
        ttl: Duration,
    ) -> Result<Started, UploadError> {
        let parent = reservation.parent;
        if own && parent.is_some() && matches!(reserved, Reserved::ParentGone) {
            // Not a folder of the actor's: someone else's shared with them, or what the
            // full check says it is (missing, not a folder, not writable).
            let owner = self.folder_owner(actor, parent).await?;
            bill_to(&mut reservation, actor, owner);
            reserved = self.reserver.reserve(reservation.clone()).await?;
        }
        match reserved {
            Reserved::Created(file, upload) => self.finish_start(upload, file, false, ttl).await,
            Reserved::QuotaExceeded => Err(UploadError::QuotaExceeded),
            Reserved::BudgetExceeded => Err(UploadError::BudgetExceeded),
            Reserved::TokenRevoked => Err(UploadError::TokenRevoked),
            Reserved::ParentGone => Err(FileError::NotFound.into()),
            Reserved::NameTaken => self.replay(actor.id, &reservation).await,
        }
    }

    /// The owner of `parent`, a folder `actor` may write to (the actor at the root).
    async fn folder_owner(&self, actor: Actor, parent: Option<Uuid>) -> Result<Uuid, UploadError> {
        let Some(parent) = parent else {
            return Ok(actor.id);
        };
        let (folder, _) = access::require(self.db.conn(), actor, parent, Access::Write).await?;
        if !folder.is_folder() {
            return Err(FileError::NotAFolder.into());
        }
        Ok(folder.owner_id)
    }

    /// Reserves quota for a server-side copy: an upload that the server itself fills
    /// (no URL is handed out) and completes, so a crash in between is settled by the
    /// reconciliation like any abandoned upload.
    pub(crate) async fn reserve_copy(
        &self,
        reservation: Reservation,
    ) -> Result<(Node, Upload), UploadError> {
        match self.reserver.reserve(reservation).await? {
            Reserved::Created(file, upload) => Ok((file, upload)),
            Reserved::QuotaExceeded => Err(UploadError::QuotaExceeded),
            Reserved::BudgetExceeded => Err(UploadError::BudgetExceeded),
            Reserved::TokenRevoked => Err(UploadError::TokenRevoked),
            Reserved::ParentGone => Err(FileError::NotFound.into()),
            Reserved::NameTaken => Err(FileError::NameTaken.into()),
        }
    }

    /// A start whose name is taken by an identical open upload of the same user, not
    /// yet expired, is a retry: answer with that upload again.
    async fn replay(&self, user: Uuid, r: &Reservation) -> Result<Started, UploadError> {
        let existing = files::find_by_name(self.db.conn(), r.owner, r.parent, &r.name)
            .await?
            .ok_or(FileError::NameTaken)?;
        if existing.state != FileState::Pending {
            return Err(FileError::NameTaken.into());
        }
        let upload = repo::find_open_for_file(self.db.conn(), existing.id)
            .await?
            .ok_or(FileError::NameTaken)?;
        if upload.uploader() != user
            || upload.declared_size != r.size
            || upload.content_type != r.content_type
            || existing.checksum_sha256 != r.checksum
            || upload.expires_at <= Utc::now()
        {
            return Err(FileError::NameTaken.into());
        }
        let ttl = self.presign_ttl().await?;
        self.finish_start(upload, existing, true, ttl).await
    }

    async fn finish_start(
        &self,
        mut upload: Upload,
        file: Node,
        replayed: bool,
        ttl: Duration,
    ) -> Result<Started, UploadError> {
        if upload.part_size.is_some() {
            if upload.multipart_upload_id.is_none() {
                let id = match self
                    .store
                    .create_multipart(&upload.object_key, &upload.content_type)
                    .await
                {
                    Ok(id) => id,
                    Err(e) => {
                        // Nothing was handed out yet: give the reservation back.
                        self.close_aborted(&upload).await?;
                        return Err(e.into());
                    }
                };
                repo::set_multipart_id(self.db.conn(), upload.id, &id).await?;
                upload.multipart_upload_id = Some(id);
            }
            return Ok(Started {
                upload,
                file,
                put: None,
                replayed,
            });
        }
        let (key, size, ct) = (
            &upload.object_key,
            upload.declared_size as u64,
            &upload.content_type,
        );
        let url = match file.checksum_sha256.as_deref() {
            Some(sha256) => {
                self.store
                    .presign_put_checked(key, size, ct, sha256, ttl)
                    .await?
            }
            None => self.store.presign_put(key, size, ct, ttl).await?,
        };
        tracing::info!(upload.id = %upload.id, presign = "put", "upload URL issued");
        Ok(Started {
            put: Some(Presigned {
                url,
                expires_at: Self::expires_at(ttl),
            }),
            upload,
            file,
            replayed,
        })
    }

    /// An upload `actor` is billed for or started. A grantee who started it must still
    /// be allowed to write where it lands, and a confined token sees only uploads into
    /// its folder.
    pub(super) async fn find(&self, actor: Actor, id: Uuid) -> Result<Upload, UploadError> {
        let upload = repo::find_owned(self.db.conn(), actor.id, id)
            .await?
            .ok_or(FileError::NotFound)?;
        if upload.user_id != actor.id || actor.root.is_some() {
            let parent = match upload.file_id {
                Some(f) => files::find(self.db.conn(), f)
                    .await?
                    .and_then(|n| n.parent_id),
                None => None,
            };
            match parent {
                Some(p) => {
                    access::require(self.db.conn(), actor, p, Access::Write).await?;
                }
                None if actor.root.is_some() => return Err(FileError::NotFound.into()),
                None => return Err(FileError::Forbidden.into()),
            }
        }
        Ok(upload)
    }

    fn require_open(upload: &Upload) -> Result<(), UploadError> {
        match upload.state {
            UploadState::Open => Ok(()),
            UploadState::Completed => Err(UploadError::Completed),
            _ => Err(UploadError::Aborted),
        }
    }

    /// Presigned UploadPart URLs for the given part numbers.
    #[instrument(skip_all, fields(upload.id = %id, parts = numbers.len()), err(level = "info", Display))]
    pub async fn part_urls(
        &self,
        actor: Actor,
        id: Uuid,
        numbers: &[u32],
        md5s: Option<&[String]>,
    ) -> Result<(Vec<PartUrl>, DateTime<Utc>), UploadError> {
        let upload = self.find(actor, id).await?;
        Self::require_open(&upload)?;
        // URLs are handed out only while the upload is open and not expired, so none
        // outlives the upload's expiry by more than one presign lifetime.
        if upload.expires_at <= Utc::now() {
            return Err(UploadError::Expired);
        }
        let (Some(part_size), Some(mp)) = (upload.part_size, upload.multipart_upload_id.as_deref())
        else {
            return Err(
                FileError::Invalid("This is a single-part upload; PUT to its URL.".into()).into(),
            );
        };
        if numbers.is_empty() || numbers.len() > MAX_PART_BATCH {
            return Err(FileError::Invalid(format!(
                "Ask for 1 to {MAX_PART_BATCH} parts at a time."
            ))
            .into());
        }
        let md5s = match md5s {
            None => vec![None; numbers.len()],
            Some(given) if given.len() == numbers.len() => given
                .iter()
                .map(|m| md5_checksum(m).map(Some))
                .collect::<Result<_, _>>()?,
            Some(_) => {
                return Err(UploadError::Checksum(
                    "Give one content_md5 per part number, in the same order.".into(),
                ))
            }
        };
        let count = upload.part_count as u32;
        let ttl = self.presign_ttl().await?;
        let mut urls = Vec::with_capacity(numbers.len());
        for (&n, md5) in numbers.iter().zip(md5s) {
            if n == 0 || n > count {
                return Err(
                    FileError::Invalid(format!("Part numbers run from 1 to {count}.")).into(),
                );
            }
            let size = part_len(
                upload.declared_size as u64,
                part_size as u64,
                count as u64,
                n as u64,
            );
            let url = self
                .store
                .presign_upload_part(&upload.object_key, mp, n, size, md5.as_deref(), ttl)
                .await?;
            urls.push(PartUrl {
                number: n,
                size,
                url,
                content_md5: md5,
            });
        }
        tracing::info!(upload.id = %upload.id, presign = "upload_part", count = urls.len(), "part URLs issued");
        Ok((urls, Self::expires_at(ttl)))
    }

    /// Parts the store holds with the expected sizes, and the part numbers missing.
    pub(super) async fn stored_parts(
        &self,
        upload: &Upload,
    ) -> Result<(Vec<StoredPart>, Vec<u32>), FileError> {
        let (Some(part_size), Some(mp)) = (upload.part_size, upload.multipart_upload_id.as_deref())
        else {
            return Ok((Vec::new(), Vec::new()));
        };
        let count = upload.part_count as u64;
        let stored = self.store.list_parts(&upload.object_key, mp).await?;
        let mut done = Vec::new();
        let mut missing = Vec::new();
        for n in 1..=count {
            let want = part_len(upload.declared_size as u64, part_size as u64, count, n);
            match stored
                .iter()
                .find(|p| u64::from(p.number) == n && p.size == want)
            {
                Some(p) => done.push(p.clone()),
                None => missing.push(n as u32),
            }
        }
        Ok((done, missing))
    }

    pub async fn status(&self, actor: Actor, id: Uuid) -> Result<Status, UploadError> {
        let upload = self.find(actor, id).await?;
        if upload.state != UploadState::Open {
            return Ok(Status {
                upload,
                parts_done: Vec::new(),
                missing: Vec::new(),
            });
        }
        let (parts_done, missing) = if upload.part_size.is_some() {
            self.stored_parts(&upload).await?
        } else {
            let held = self.store.head(&upload.object_key).await?.is_some();
            (Vec::new(), if held { Vec::new() } else { vec![1] })
        };
        Ok(Status {
            upload,
            parts_done,
            missing,
        })
    }

    /// The open upload behind a pending file, if any.
    pub async fn open_upload_of(&self, file_id: Uuid) -> Result<Option<Upload>, UploadError> {
        Ok(repo::find_open_for_file(self.db.conn(), file_id).await?)
    }
}
