//! HPC job records: a Slurm job's state, times, exit code and metadata, its outputs
//! folder (`jobs/<id>/` in the owner's root), and the files attached to it — by the
//! client or automatically, when the benchwrap protocol stores a file whose name or
//! path names a Slurm job.

pub mod repo;
pub mod routes;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::cache::{TtlCache, Turns};
use crate::db::Db;
use crate::error::AppError;
use crate::files::access::Actor;
use crate::files::repo::{self as files, Node};
use crate::files::service::FileService;
use crate::files::FileError;
use crate::page::{rows_for, Page};
use repo::{Filter, Job, JobState};

/// Longest metadata document, in bytes of JSON.
pub const MAX_METADATA_BYTES: usize = 16 * 1024;
/// The folder in each user's root that holds the jobs' outputs folders.
pub const JOBS_FOLDER: &str = "jobs";

#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error("{0}")]
    Invalid(String),
    #[error("a job cannot go from {from} to {to}")]
    Transition { from: JobState, to: JobState },
    #[error("a job with this Slurm id exists on this cluster")]
    Exists,
    #[error(transparent)]
    File(#[from] FileError),
}

crate::files::wraps_file_error!(JobError: sea_orm::DbErr);

impl From<JobError> for AppError {
    fn from(e: JobError) -> AppError {
        let msg = e.to_string();
        match e {
            JobError::Invalid(d) => AppError::unprocessable("INVALID_JOB", d),
            JobError::Transition { .. } => {
                AppError::conflict("INVALID_TRANSITION", format!("{msg}."))
            }
            JobError::Exists => AppError::conflict("JOB_EXISTS", format!("{msg}.")),
            JobError::File(e) => e.into(),
        }
    }
}

impl JobState {
    /// Whether a job may go from `self` to `to`: forward only, and never out of a
    /// final state.
    pub fn may_become(self, to: JobState) -> bool {
        use JobState::*;
        matches!(
            (self, to),
            (Pending, Running | Done | Failed | Cancelled) | (Running, Done | Failed | Cancelled)
        )
    }

    pub fn is_final(self) -> bool {
        matches!(
            self,
            JobState::Done | JobState::Failed | JobState::Cancelled
        )
    }
}

/// What a new job says about itself.
#[derive(Debug, Default)]
pub struct NewJob {
    pub slurm_job_id: Option<String>,
    pub cluster: Option<String>,
    pub benchmark: Option<String>,
    pub state: Option<JobState>,
    pub submitted_at: Option<DateTime<Utc>>,
    pub metadata: Option<serde_json::Value>,
}

/// A change of a job: a new state, an exit code, new metadata.
#[derive(Debug, Default)]
pub struct JobChange {
    pub state: Option<JobState>,
    pub exit_code: Option<i32>,
    pub metadata: Option<serde_json::Value>,
}

/// The Slurm job a stored file belongs to, read from its name (`4242_batch_…`,
/// `4242_0_…`) or from a `job_4242` folder in its path.
pub fn slurm_job_of(path: &[String], name: &str) -> Option<String> {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    // `^(\d+)_(batch|\d+)_`
    let mut parts = name.splitn(3, '_');
    if let (Some(id), Some(kind), Some(_)) = (parts.next(), parts.next(), parts.next()) {
        if digits(id) && (kind == "batch" || digits(kind)) {
            return Some(id.to_owned());
        }
    }
    // `^job_(\d+)$`, the deepest such folder
    path.iter().rev().find_map(|segment| {
        segment
            .strip_prefix("job_")
            .filter(|id| digits(id))
            .map(str::to_owned)
    })
}

fn text(field: &str, value: Option<String>, max: usize) -> Result<Option<String>, JobError> {
    match value.map(|v| v.trim().to_owned()) {
        Some(v) if v.is_empty() || v.len() > max || v.chars().any(char::is_control) => {
            Err(JobError::Invalid(format!(
                "{field} must be 1 to {max} bytes without control characters."
            )))
        }
        other => Ok(other),
    }
}

fn metadata(value: Option<serde_json::Value>) -> Result<Option<String>, JobError> {
    match value {
        None => Ok(None),
        Some(v @ serde_json::Value::Object(_)) => {
            let s = v.to_string();
            if s.len() > MAX_METADATA_BYTES {
                return Err(JobError::Invalid(format!(
                    "metadata must be at most {MAX_METADATA_BYTES} bytes of JSON."
                )));
            }
            Ok(Some(s))
        }
        Some(_) => Err(JobError::Invalid("metadata must be a JSON object.".into())),
    }
}

/// How long the job of a (user, Slurm id) is remembered by `job_for`. Jobs are never
/// deleted but with their user and their Slurm id never changes, so a remembered id
/// stays right; the bound only keeps the memory of old jobs short.
const KNOWN_FOR: std::time::Duration = std::time::Duration::from_secs(60);

/// A Slurm job of a user: (owner, Slurm id).
type SlurmKey = (Uuid, String);

#[derive(Clone)]
pub struct JobService {
    db: Db,
    files: FileService,
    known: Arc<TtlCache<SlurmKey, Uuid>>,
    /// Turns at recording a job when `known` misses.
    recording: Arc<Turns>,
}

impl JobService {
    pub fn new(db: Db, files: FileService) -> JobService {
        JobService {
            db,
            files,
            known: Arc::new(TtlCache::new(KNOWN_FOR)),
            recording: Arc::default(),
        }
    }

    /// Records a job and creates its outputs folder.
    pub async fn create(&self, actor: Actor, new: NewJob) -> Result<Job, JobError> {
        let slurm_job_id = text("slurm_job_id", new.slurm_job_id, 32)?;
        let cluster = text("cluster", new.cluster, 64)?.unwrap_or_default();
        let benchmark = text("benchmark", new.benchmark, 255)?;
        let metadata = metadata(new.metadata)?;
        let state = new.state.unwrap_or(JobState::Pending);
        let now = Utc::now();
        if let Some(slurm) = &slurm_job_id {
            if repo::find_by_slurm(self.db.conn(), actor.id, &cluster, slurm)
                .await?
                .is_some()
            {
                return Err(JobError::Exists);
            }
        }
        let id = Uuid::now_v7();
        let folder = self.outputs_folder(actor, id).await?;
        let job = Job {
            id,
            owner_id: actor.id,
            slurm_job_id,
            cluster,
            benchmark,
            state,
            submitted_at: new.submitted_at.unwrap_or(now),
            started_at: (state != JobState::Pending).then_some(now),
            finished_at: state.is_final().then_some(now),
            exit_code: None,
            metadata,
            folder_id: Some(folder),
            created_at: now,
            updated_at: now,
        };
        match repo::insert(self.db.conn(), &job).await {
            Ok(()) => Ok(job),
            // The same Slurm job recorded meanwhile (the unique index decides).
            Err(e) if job.slurm_job_id.is_some() && is_unique_violation(&e) => {
                Err(JobError::Exists)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// `jobs/<id>` in the actor's root.
    async fn outputs_folder(&self, actor: Actor, id: Uuid) -> Result<Uuid, FileError> {
        let jobs = self
            .files
            .folder_named(actor, None, JOBS_FOLDER, true)
            .await?
            .ok_or(FileError::NotFound)?;
        let folder = self
            .files
            .folder_named(actor, Some(jobs.id), &id.to_string(), true)
            .await?
            .ok_or(FileError::NotFound)?;
        Ok(folder.id)
    }

    pub async fn get(&self, actor: Actor, id: Uuid) -> Result<Job, JobError> {
        repo::find_owned(self.db.conn(), actor.id, id)
            .await?
            .ok_or(FileError::NotFound.into())
    }

    pub async fn list(
        &self,
        actor: Actor,
        filter: &Filter,
        after: Option<Uuid>,
        limit: u64,
    ) -> Result<Page<Job, Uuid>, JobError> {
        let rows = repo::list(self.db.conn(), actor.id, filter, after, rows_for(limit)).await?;
        Ok(Page::from_rows(rows, limit, |j| j.id))
    }

    /// Applies a change; a new state must follow from the current one (`started_at` and
    /// `finished_at` are set as it does).
    pub async fn update(&self, actor: Actor, id: Uuid, change: JobChange) -> Result<Job, JobError> {
        let mut job = self.get(actor, id).await?;
        let from = job.state;
        let now = Utc::now();
        if let Some(to) = change.state.filter(|to| *to != from) {
            if !from.may_become(to) {
                return Err(JobError::Transition { from, to });
            }
            job.state = to;
            if to == JobState::Running || job.started_at.is_none() && to != JobState::Cancelled {
                job.started_at.get_or_insert(now);
            }
            if to.is_final() {
                job.finished_at = Some(now);
            }
        }
        if let Some(code) = change.exit_code {
            job.exit_code = Some(code);
        }
        if let Some(m) = metadata(change.metadata)? {
            job.metadata = Some(m);
        }
        job.updated_at = now;
        if !repo::update_if(self.db.conn(), &job, from).await? {
            // Changed meanwhile: judge the change against what it is now.
            let now = self.get(actor, id).await?;
            return Err(JobError::Transition {
                from: now.state,
                to: job.state,
            });
        }
        Ok(job)
    }

    /// The job's files: those attached to it and those in its outputs folder.
    pub async fn files(&self, actor: Actor, id: Uuid) -> Result<Vec<Node>, JobError> {
        let job = self.get(actor, id).await?;
        let mut ids = repo::attached(self.db.conn(), job.id).await?;
        if let Some(folder) = job.folder_id {
            ids.extend(
                files::subtree(self.db.conn(), actor.id, folder)
                    .await?
                    .into_iter()
                    .filter(|n| !n.is_folder())
                    .map(|n| n.id),
            );
        }
        ids.sort();
        ids.dedup();
        let mut out = Vec::with_capacity(ids.len());
        // One read per thousand ids (within every database's limit on bound values).
        for chunk in ids.chunks(1000) {
            out.extend(
                files::find_many(self.db.conn(), chunk)
                    .await?
                    .into_iter()
                    .filter(|n| n.owner_id == actor.id && n.state == files::FileState::Active),
            );
        }
        out.sort_by(|a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id)));
        Ok(out)
    }

    /// The Slurm job a file the benchwrap protocol stores at `path`/`name` belongs to,
    /// recorded on first sight (benchmark: `benchmark`, else the first folder of the
    /// path); `None` when they name no job. The file is attached when its upload completes.
    pub async fn job_for(
        &self,
        actor: Actor,
        benchmark: Option<&str>,
        path: &[String],
        name: &str,
    ) -> Result<Option<Uuid>, JobError> {
        let Some(slurm) = slurm_job_of(path, name) else {
            return Ok(None);
        };
        let key = (actor.id, slurm);
        if let Some(id) = self.known.get(&key) {
            return Ok(Some(*id));
        }
        let _turn = self.recording.take(&key).await;
        if let Some(id) = self.known.get(&key) {
            return Ok(Some(*id));
        }
        let id = self.recorded_job(actor, benchmark, path, &key.1).await?;
        if let Some(id) = id {
            self.known.put(key, Arc::new(id));
        }
        Ok(id)
    }

    /// The job of `slurm`, recorded now unless it was already.
    async fn recorded_job(
        &self,
        actor: Actor,
        benchmark: Option<&str>,
        path: &[String],
        slurm: &str,
    ) -> Result<Option<Uuid>, JobError> {
        if let Some(job) = repo::find_by_slurm(self.db.conn(), actor.id, "", slurm).await? {
            return Ok(Some(job.id));
        }
        let benchmark = benchmark
            .map(str::to_owned)
            .or_else(|| (!path.is_empty()).then(|| path[0].clone()));
        let new = NewJob {
            slurm_job_id: Some(slurm.to_owned()),
            benchmark: benchmark.filter(|b| !b.trim().is_empty() && b.len() <= 255),
            ..NewJob::default()
        };
        match self.create(actor, new).await {
            Ok(job) => Ok(Some(job.id)),
            // Recorded meanwhile by a parallel upload of the same job.
            Err(JobError::Exists) => Ok(repo::find_by_slurm(self.db.conn(), actor.id, "", slurm)
                .await?
                .map(|j| j.id)),
            Err(e) => Err(e),
        }
    }
}

fn is_unique_violation(e: &sea_orm::DbErr) -> bool {
    matches!(
        e.sql_err(),
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slurm_ids_come_from_file_names_then_job_folders() {
        let path = |p: &[&str]| p.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            slurm_job_of(&[], "4242_batch_c0107.h5").as_deref(),
            Some("4242")
        );
        assert_eq!(slurm_job_of(&[], "77_0_out.txt").as_deref(), Some("77"));
        assert_eq!(
            slurm_job_of(&path(&["flops", "job_4242"]), "results.csv").as_deref(),
            Some("4242")
        );
        assert_eq!(slurm_job_of(&path(&["flops"]), "results.csv"), None);
        assert_eq!(slurm_job_of(&[], "4242_final.csv"), None);
        assert_eq!(slurm_job_of(&path(&["job_x"]), "a.csv"), None);
    }

    #[test]
    fn states_move_forward_only() {
        use JobState::*;
        assert!(Pending.may_become(Running));
        assert!(Running.may_become(Done));
        assert!(Pending.may_become(Cancelled));
        assert!(!Running.may_become(Pending));
        for end in [Done, Failed, Cancelled] {
            for to in [Pending, Running, Done, Failed, Cancelled] {
                assert!(!end.may_become(to), "{end:?} -> {to:?}");
            }
        }
    }
}
