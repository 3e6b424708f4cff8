//! `coffer push`: local files and trees into a remote folder. Small files go in batches
//! of up to a thousand (one batch start, parallel PUTs, one batch complete), each with
//! its SHA-256 signed into its PUT; big files go multipart, their parts read once in
//! order (MD5 per part, signed into its URL; SHA-256 of the whole, given at complete)
//! and sent in parallel within a memory budget.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::json;
use tokio::sync::Semaphore;
use uuid::Uuid;

use super::args::PushArgs;
use super::journal::{mtime_ns, Journal};
use super::progress::{FileProgress, Progress};
use super::remote::{self, Entry};
use super::transfer::{put, Limiter, Outcome};
use super::{Api, CliError, Exit, Result};
use crate::uploads::dto::{
    CompleteBatchResponse, PartUrlsResponse, StartBatchResponse, UploadLimitsResponse,
    UploadResponse, UploadStatusResponse,
};

/// Bytes of parts held in memory at once, over all files: with 5 MiB parts, six being
/// sent or read (a 2 GiB push peaked at 101 MiB RSS with 48 MiB here).
const PART_BUDGET: usize = 32 << 20;

/// Batches of small files in flight at once, and the size of the first.
const BATCHES_AT_ONCE: usize = 3;
const FIRST_BATCH: usize = 64;

/// A local file to push.
struct Local {
    path: PathBuf,
    /// Its folder below the destination, `a/b` (empty for the destination itself).
    dir: String,
    name: String,
    size: u64,
    mtime_ns: i64,
    /// The journal's key for it.
    key: String,
}

impl Local {
    fn display(&self) -> String {
        match self.dir.is_empty() {
            true => self.name.clone(),
            false => format!("{}/{}", self.dir, self.name),
        }
    }
}

/// A file to send: where it goes, and what it replaces.
struct Send {
    local: Local,
    folder: Option<Uuid>,
    /// The name it is uploaded under: its own, or a temporary one when it replaces a
    /// changed remote file (which is deleted once the new one is complete).
    upload_name: String,
    replaces: Option<Uuid>,
    sha256: Option<String>,
}

struct Ctx {
    api: Arc<Api>,
    progress: Arc<Progress>,
    journal: Journal,
    limiter: Limiter,
    budget: Arc<Semaphore>,
    /// Small files being hashed or sent, over all batches.
    transfers: Arc<Semaphore>,
    part_jobs: usize,
    jobs: usize,
}

pub async fn push(api: Arc<Api>, progress: Arc<Progress>, args: PushArgs) -> Result<()> {
    let (locals, remote_path) = match (&args.job, args.paths.len()) {
        (Some(_), _) => (args.paths.clone(), String::new()),
        (None, 1) => {
            return Err(CliError::usage(
                "give local files or folders and then the remote folder (or --job)",
            ))
        }
        (None, n) => (
            args.paths[..n - 1].to_vec(),
            args.paths[n - 1].to_string_lossy().into_owned(),
        ),
    };
    let base = match &args.job {
        Some(job) => super::jobs::job_folder(&api, job).await?,
        None => None,
    };
    let t = &args.transfer;
    let files = scan(&locals)?;
    progress.add_total(files.len() as u64, files.iter().map(|f| f.size).sum());
    let limits: UploadLimitsResponse = api.get("/api/v1/uploads/limits").await?;

    let dest = match t.dry_run {
        true => match remote::find(&api, base, &remote_path).await? {
            Some(l) => Some(l.folder(&remote_path)?),
            None => None,
        },
        false => Some(remote::ensure_folder(&api, base, &remote_path).await?),
    };
    let identity = format!(
        "{}|{}|{:?}|{remote_path}|{:?}",
        api.server(),
        api.identity().await,
        args.job,
        locals
            .iter()
            .map(|p| std::fs::canonicalize(p).unwrap_or_else(|_| p.clone()))
            .collect::<Vec<_>>()
    );
    let ctx = Arc::new(Ctx {
        api,
        progress,
        journal: Journal::open(&identity)?,
        limiter: Limiter::new(t.bwlimit),
        budget: Arc::new(Semaphore::new(PART_BUDGET >> 20)),
        transfers: Arc::new(Semaphore::new(usize::from(t.jobs))),
        part_jobs: usize::from(t.part_jobs),
        jobs: usize::from(t.jobs),
    });
    let sends = plan(&ctx, dest, files, t.force, t.dry_run).await?;
    if t.dry_run {
        for s in sends {
            let fp = ctx.progress.start(&s.local.display(), s.local.size);
            ctx.progress
                .done(fp, &s.local.display(), s.local.size, "would send");
        }
        return Ok(());
    }
    let (small, big): (Vec<Send>, Vec<Send>) = sends
        .into_iter()
        .partition(|s| s.local.size <= limits.multipart_threshold_bytes);
    let mut worst = None;
    // Batches of small files overlap: one is started or completed while another's
    // PUTs run. They grow from 64 files to the server's most, so the first PUTs start
    // at once and a big tree still costs about one start and one complete per thousand.
    let in_flight = Arc::new(Semaphore::new(BATCHES_AT_ONCE));
    let mut batches = tokio::task::JoinSet::new();
    for chunk in chunks(small, limits.max_batch.max(1)) {
        let permit = in_flight.clone().acquire_owned().await;
        let ctx = ctx.clone();
        batches.spawn(async move {
            let _p = permit;
            send_batch(&ctx, chunk).await
        });
    }
    while let Some(r) = batches.join_next().await {
        worst = worst.or(r.ok().flatten());
    }
    let sem = Arc::new(Semaphore::new(ctx.jobs.min(4)));
    let mut tasks = tokio::task::JoinSet::new();
    for s in big {
        let (ctx, sem) = (ctx.clone(), sem.clone());
        tasks.spawn(async move {
            let _permit = sem.acquire().await;
            let name = s.local.display();
            let fp = ctx.progress.start(&name, s.local.size);
            match send_multipart(&ctx, &s, &fp).await {
                Ok(()) => {
                    ctx.progress.done(fp, &name, s.local.size, "sent");
                    None
                }
                Err(e) => {
                    ctx.progress.error(Some(fp), &name, &e.msg);
                    Some(e.exit)
                }
            }
        });
    }
    while let Some(r) = tasks.join_next().await {
        worst = worst.or(r.ok().flatten());
    }
    let failed = ctx.progress.failed();
    ctx.progress.finish("push");
    if let Ok(ctx) = Arc::try_unwrap(ctx) {
        ctx.journal.close(failed == 0);
    }
    match failed {
        0 => Ok(()),
        n => Err(CliError::new(
            worst.unwrap_or(Exit::Failed),
            format!("{n} file(s) failed"),
        )),
    }
}

/// Batches of 64, 128, 256, … files, at most `max` each.
fn chunks<T>(items: Vec<T>, max: usize) -> Vec<Vec<T>> {
    let mut out: Vec<Vec<T>> = Vec::new();
    let mut size = FIRST_BATCH.min(max);
    for item in items {
        match out.last_mut() {
            Some(last) if last.len() < size => last.push(item),
            Some(_) => {
                size = (size * 2).min(max);
                out.push(vec![item]);
            }
            None => out.push(vec![item]),
        }
    }
    out
}

/// Every regular file under the given paths; a folder is pushed as a folder of its name.
fn scan(paths: &[PathBuf]) -> Result<Vec<Local>> {
    let mut out = Vec::new();
    for p in paths {
        let meta =
            std::fs::metadata(p).map_err(|e| CliError::usage(format!("{}: {e}", p.display())))?;
        let name = file_name(p)?;
        match meta.is_dir() {
            true => walk(p, &name, &mut out)?,
            false => out.push(local(p, String::new(), name, &meta)),
        }
    }
    Ok(out)
}

fn file_name(p: &Path) -> Result<String> {
    let abs = std::fs::canonicalize(p)?;
    abs.file_name()
        .and_then(|n| n.to_str())
        .map(str::to_owned)
        .ok_or_else(|| CliError::usage(format!("{}: not a name Coffer can store", p.display())))
}

fn local(path: &Path, dir: String, name: String, meta: &std::fs::Metadata) -> Local {
    Local {
        key: path.to_string_lossy().into_owned(),
        path: path.to_owned(),
        dir,
        name,
        size: meta.len(),
        mtime_ns: mtime_ns(meta),
    }
}

fn walk(dir: &Path, rel: &str, out: &mut Vec<Local>) -> Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let Some(name) = e.file_name().to_str().map(str::to_owned) else {
            eprintln!(
                "coffer: skipped {} (its name is not UTF-8)",
                e.path().display()
            );
            continue;
        };
        let ft = e.file_type()?;
        let path = e.path();
        if ft.is_dir() {
            walk(&path, &format!("{rel}/{name}"), out)?;
        } else if let Ok(meta) = std::fs::metadata(&path) {
            // Symbolic links to files are followed; to folders, not (no loops).
            if meta.is_file() {
                out.push(local(&path, rel.to_owned(), name, &meta));
            }
        }
    }
    Ok(())
}

/// Creates the remote folders and decides, file by file, what to send.
async fn plan(
    ctx: &Ctx,
    dest: Option<Option<Uuid>>,
    files: Vec<Local>,
    force: bool,
    dry_run: bool,
) -> Result<Vec<Send>> {
    let dirs: BTreeSet<String> = files.iter().map(|f| f.dir.clone()).collect();
    // Folder ids and listings, parents before children (BTreeSet order).
    let mut folders: HashMap<String, Option<Option<Uuid>>> = HashMap::new();
    let mut listings: HashMap<String, HashMap<String, Entry>> = HashMap::new();
    folders.insert(String::new(), dest);
    for dir in &dirs {
        let mut prefix = String::new();
        for name in remote::components(dir)? {
            let parent = prefix.clone();
            prefix = match prefix.is_empty() {
                true => name.to_owned(),
                false => format!("{prefix}/{name}"),
            };
            if folders.contains_key(&prefix) {
                continue;
            }
            let listing = listing(ctx, &folders, &mut listings, &parent).await?;
            let id = match listing.get(name) {
                Some(e) if e.is_folder() => Some(Some(e.id)),
                Some(_) => {
                    return Err(CliError::failed(format!(
                        "{prefix} exists remotely as a file, not a folder"
                    )))
                }
                None if dry_run => None,
                None => {
                    let parent_id = folders.get(&parent).copied().flatten().flatten();
                    Some(Some(remote::ensure_child(&ctx.api, parent_id, name).await?))
                }
            };
            folders.insert(prefix.clone(), id);
        }
    }
    let mut sends = Vec::new();
    for f in files {
        let existing = listing(ctx, &folders, &mut listings, &f.dir)
            .await?
            .get(&f.name)
            .cloned();
        let folder = folders.get(&f.dir).copied().flatten().flatten();
        let mut send = Send {
            upload_name: f.name.clone(),
            folder,
            replaces: None,
            sha256: None,
            local: f,
        };
        match existing {
            // A pending file of that name is an upload an earlier run left open: the
            // identical start below answers it, and only what the store lacks is sent.
            None => {}
            Some(e) if e.state != "active" && !e.is_folder() => {}
            Some(e) if e.is_folder() => {
                ctx.progress
                    .error(None, &send.local.display(), "a remote folder has this name");
                continue;
            }
            Some(e) => {
                if !force && e.size as u64 == send.local.size && e.checksum_sha256.is_some() {
                    let sha = super::hashing::sha256_file(send.local.path.clone()).await?;
                    if e.checksum_sha256.as_deref() == Some(sha.as_str()) {
                        let name = send.local.display();
                        let fp = ctx.progress.start(&name, send.local.size);
                        ctx.progress.done(fp, &name, send.local.size, "skipped");
                        continue;
                    }
                    send.sha256 = Some(sha);
                }
                send.replaces = Some(e.id);
                send.upload_name = format!(".{}.coffer-upload", send.local.name);
            }
        }
        sends.push(send);
    }
    Ok(sends)
}

/// The listing of the folder at `dir` (empty when it does not exist yet).
async fn listing<'a>(
    ctx: &Ctx,
    folders: &HashMap<String, Option<Option<Uuid>>>,
    listings: &'a mut HashMap<String, HashMap<String, Entry>>,
    dir: &str,
) -> Result<&'a HashMap<String, Entry>> {
    if !listings.contains_key(dir) {
        let l = match folders.get(dir).copied().flatten() {
            Some(id) => remote::by_name(&ctx.api, id).await?,
            None => HashMap::new(),
        };
        listings.insert(dir.to_owned(), l);
    }
    Ok(&listings[dir])
}

/// One batch of small files: hashes, one batch start, PUTs in parallel, one batch
/// complete. Returns the exit kind of the worst failure, if any.
async fn send_batch(ctx: &Arc<Ctx>, mut batch: Vec<Send>) -> Option<Exit> {
    let mut worst = None;
    // Hashes, `jobs` files at a time.
    let mut hashing = tokio::task::JoinSet::new();
    let sem = ctx.transfers.clone();
    for (i, s) in batch.iter().enumerate() {
        if s.sha256.is_none() {
            let (path, sem) = (s.local.path.clone(), sem.clone());
            hashing.spawn(async move {
                let _p = sem.acquire().await;
                (i, super::hashing::sha256_file(path).await)
            });
        }
    }
    let mut failed: BTreeMap<usize, CliError> = BTreeMap::new();
    while let Some(Ok((i, r))) = hashing.join_next().await {
        match r {
            Ok(sha) => batch[i].sha256 = Some(sha),
            Err(e) => {
                failed.insert(i, e);
            }
        }
    }
    let starts: Vec<_> = batch
        .iter()
        .enumerate()
        .filter(|(i, _)| !failed.contains_key(i))
        .map(|(i, s)| {
            (
                i,
                json!({"name": s.upload_name, "parent_id": s.folder, "size": s.local.size,
                       "checksum_sha256": s.sha256}),
            )
        })
        .collect();
    let body = json!({"uploads": starts.iter().map(|(_, v)| v).collect::<Vec<_>>()});
    let answer: Result<StartBatchResponse> = ctx.api.post("/api/v1/uploads/batch", &body).await;
    let items = match answer {
        Ok(a) => a.items,
        Err(e) => {
            for s in &batch {
                ctx.progress.error(None, &s.local.display(), &e.msg);
            }
            return Some(e.exit);
        }
    };
    for (i, e) in failed {
        ctx.progress.error(None, &batch[i].local.display(), &e.msg);
        worst = worst.or(Some(e.exit));
    }
    // PUTs, `jobs` at a time.
    let batch = Arc::new(batch);
    let mut puts = tokio::task::JoinSet::new();
    for ((i, _), item) in starts.iter().zip(items) {
        let s = &batch[*i];
        let Some(upload) = item.upload else {
            let msg = item.error.map(|e| e.detail).unwrap_or_default();
            ctx.progress.error(None, &s.local.display(), &msg);
            worst = worst.or(Some(match item.status {
                413 | 429 => Exit::Limit,
                401 | 403 => Exit::Auth,
                _ => Exit::Failed,
            }));
            continue;
        };
        ctx.journal.started(
            &s.local.key,
            s.local.size,
            s.local.mtime_ns,
            upload.upload_id,
        );
        let (ctx, sem, batch, i) = (ctx.clone(), sem.clone(), batch.clone(), *i);
        let resumed = item.status == 200;
        puts.spawn(async move {
            let _p = sem.acquire().await;
            let s = &batch[i];
            let fp = ctx.progress.start(&s.local.display(), s.local.size);
            let r = send_single(&ctx, s, &upload, resumed, &fp).await;
            (i, upload.upload_id, fp, r)
        });
    }
    let mut put_done = Vec::new();
    while let Some(Ok((i, id, fp, r))) = puts.join_next().await {
        match r {
            Ok(()) => put_done.push((i, id, fp)),
            Err(e) => {
                ctx.progress
                    .error(Some(fp), &batch[i].local.display(), &e.msg);
                worst = worst.or(Some(e.exit));
            }
        }
    }
    if put_done.is_empty() {
        return worst;
    }
    let ids: Vec<Uuid> = put_done.iter().map(|(_, id, _)| *id).collect();
    let completed: Result<CompleteBatchResponse> = ctx
        .api
        .post(
            "/api/v1/uploads/batch/complete",
            &json!({ "upload_ids": ids }),
        )
        .await;
    // Each upload's file id, or why it did not complete.
    let results: HashMap<Uuid, Result<Uuid, String>> = match completed {
        Ok(c) => c
            .items
            .into_iter()
            .map(|it| {
                let r = match it.file {
                    Some(f) => Ok(f.id),
                    None => Err(it.error.map(|e| e.detail).unwrap_or_default()),
                };
                (it.upload_id, r)
            })
            .collect(),
        Err(e) => ids.iter().map(|id| (*id, Err(e.msg.clone()))).collect(),
    };
    for (i, id, fp) in put_done {
        let s = &batch[i];
        let r = match results.get(&id).cloned() {
            Some(Ok(file)) => finish_replace(ctx, s, file).await,
            Some(Err(msg)) => Err(CliError::failed(msg)),
            None => Err(CliError::failed(
                "the server did not answer for this upload",
            )),
        };
        match r {
            Ok(()) => {
                ctx.journal.ended(id);
                ctx.progress
                    .done(fp, &s.local.display(), s.local.size, "sent");
            }
            Err(e) => {
                ctx.progress.error(Some(fp), &s.local.display(), &e.msg);
                worst = worst.or(Some(e.exit));
            }
        }
    }
    worst
}

/// The single PUT of a small file, unless a resumed upload's object is already stored.
async fn send_single(
    ctx: &Ctx,
    s: &Send,
    upload: &UploadResponse,
    resumed: bool,
    fp: &FileProgress,
) -> Result<()> {
    if resumed {
        let status: UploadStatusResponse = ctx
            .api
            .get(&format!("/api/v1/uploads/{}", upload.upload_id))
            .await?;
        if status.missing_parts.is_empty() {
            ctx.progress.advance(fp, s.local.size);
            return Ok(());
        }
    }
    let Some(req) = &upload.put else {
        return Err(CliError::failed(
            "the server gave no PUT for a single upload",
        ));
    };
    ctx.limiter.take(s.local.size).await;
    let outcome = put(
        ctx.api.http(),
        &req.url,
        &req.headers,
        &s.local.path,
        s.local.size,
    )
    .await?;
    match outcome {
        Outcome::Stored => {
            ctx.progress.advance(fp, s.local.size);
            Ok(())
        }
        Outcome::Refused(msg) => Err(CliError::failed(msg)),
    }
}

/// A changed remote file: the new one, uploaded under a temporary name, takes its place.
async fn finish_replace(ctx: &Ctx, s: &Send, new: Uuid) -> Result<()> {
    let Some(old) = s.replaces else {
        return Ok(());
    };
    let resp = ctx
        .api
        .send(
            reqwest::Method::DELETE,
            &format!("/api/v1/files/{old}"),
            None,
        )
        .await?;
    // Already gone (a concurrent push deleted it): the rename decides.
    if !resp.status().is_success() && resp.status() != reqwest::StatusCode::NOT_FOUND {
        return Err(super::api::error_of(resp).await);
    }
    let _: Entry = ctx
        .api
        .patch(
            &format!("/api/v1/files/{new}"),
            &json!({ "name": s.local.name }),
        )
        .await?;
    Ok(())
}

/// A big file: start (or resume) a multipart upload, read the parts once in order
/// (MD5 each, SHA-256 of the whole), send the missing ones in parallel, complete.
async fn send_multipart(ctx: &Arc<Ctx>, s: &Send, fp: &FileProgress) -> Result<()> {
    let (upload, held) = start_or_resume(ctx, s).await?;
    let part_size = upload.part_size.unwrap_or(upload.size).max(1) as u64;
    let count = upload.part_count.max(1) as u32;
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Part>(2);
    // The reader: parts in order, hashed once; parts the store holds are not sent.
    let path = s.local.path.clone();
    let size = s.local.size;
    let reader_ctx = ctx.clone();
    let held2 = held.clone();
    let name = s.local.display();
    let reader = tokio::spawn(async move {
        read_parts(&reader_ctx, path, size, part_size, count, held2, tx, &name).await
    });
    let upload_id = upload.upload_id;
    let mut sending = tokio::task::JoinSet::new();
    let sem = Arc::new(Semaphore::new(ctx.part_jobs));
    let mut first_error: Option<CliError> = None;
    while let Some(part) = rx.recv().await {
        let permit = sem.clone().acquire_owned().await;
        let part_ctx = ctx.clone();
        sending.spawn(async move {
            let _p = permit;
            let (n, len) = (part.number, part.bytes.len() as u64);
            let r = send_part(&part_ctx, upload_id, part).await;
            (n, len, r)
        });
        while let Some(done) = sending.try_join_next() {
            record_part(ctx.as_ref(), s, fp, done, &mut first_error);
        }
        if first_error.is_some() {
            break;
        }
    }
    drop(rx);
    while let Some(done) = sending.join_next().await {
        record_part(ctx.as_ref(), s, fp, done, &mut first_error);
    }
    let sha = reader
        .await
        .map_err(|e| CliError::failed(e.to_string()))??;
    if let Some(e) = first_error {
        return Err(e);
    }
    let file: Entry = ctx
        .api
        .post(
            &format!("/api/v1/uploads/{upload_id}/complete"),
            &json!({ "checksum_sha256": sha }),
        )
        .await?;
    finish_replace(ctx, s, file.id).await?;
    ctx.journal.ended(upload_id);
    Ok(())
}

fn record_part(
    ctx: &Ctx,
    s: &Send,
    fp: &FileProgress,
    done: Result<(u32, u64, Result<()>), tokio::task::JoinError>,
    first_error: &mut Option<CliError>,
) {
    match done {
        Ok((n, len, Ok(()))) => {
            ctx.progress.advance(fp, len);
            ctx.progress.part(&s.local.display(), n, true);
        }
        Ok((_, _, Err(e))) => {
            first_error.get_or_insert(e);
        }
        Err(e) => {
            first_error.get_or_insert(CliError::failed(e.to_string()));
        }
    }
}

/// The open upload an earlier run left (from the journal, or an identical start), with
/// the parts the store already holds by number and ETag; or a new one.
async fn start_or_resume(ctx: &Ctx, s: &Send) -> Result<(UploadResponse, HashMap<u32, String>)> {
    let l = &s.local;
    let body = json!({"name": s.upload_name, "parent_id": s.folder, "size": l.size});
    let resp = ctx
        .api
        .send(reqwest::Method::POST, "/api/v1/uploads", Some(&body))
        .await?;
    if !resp.status().is_success() {
        return Err(super::api::error_of(resp).await);
    }
    let status = resp.status().as_u16();
    let upload: UploadResponse = resp
        .json()
        .await
        .map_err(|e| CliError::failed(format!("unexpected answer to an upload start: {e}")))?;
    let journaled = ctx.journal.open_upload(&l.key, l.size, l.mtime_ns);
    let mut held = HashMap::new();
    if status == 200 || journaled == Some(upload.upload_id) {
        let st: UploadStatusResponse = ctx
            .api
            .get(&format!("/api/v1/uploads/{}", upload.upload_id))
            .await?;
        // A part is kept when its ETag is this part's MD5; a store that lists parts
        // without ETags (the embedded one) is trusted for the upload the journal says
        // this unchanged file started (each part's MD5 was signed when it was sent).
        let trusted = journaled == Some(upload.upload_id);
        for p in st.parts_done {
            let etag = p.etag.trim_matches('"').to_ascii_lowercase();
            if !etag.is_empty() || trusted {
                held.insert(p.part_number, etag);
            }
        }
    } else {
        ctx.journal
            .started(&l.key, l.size, l.mtime_ns, upload.upload_id);
    }
    Ok((upload, held))
}

/// A part read (and counted into the whole file's SHA-256), with its share of the memory budget (given back when it is
/// dropped: sent, failed or never sent).
struct Part {
    number: u32,
    bytes: Vec<u8>,
    _budget: tokio::sync::OwnedSemaphorePermit,
}

#[allow(clippy::too_many_arguments)]
async fn read_parts(
    ctx: &Ctx,
    path: PathBuf,
    size: u64,
    part_size: u64,
    count: u32,
    held: HashMap<u32, String>,
    tx: tokio::sync::mpsc::Sender<Part>,
    name: &str,
) -> Result<String> {
    use md5::Digest as _;
    use sha2::Digest as _;
    use std::io::Read as _;
    let mut file = std::fs::File::open(&path)
        .map_err(|e| CliError::failed(format!("{}: {e}", path.display())))?;
    let mut whole = sha2::Sha256::new();
    let mib = u32::try_from(part_size.div_ceil(1 << 20))
        .unwrap_or(u32::MAX)
        .min((PART_BUDGET >> 20) as u32);
    for n in 1..=count {
        let len = if n < count {
            part_size
        } else {
            size - part_size * u64::from(count - 1)
        };
        let permit = ctx
            .budget
            .clone()
            .acquire_many_owned(mib)
            .await
            .map_err(|e| CliError::failed(e.to_string()))?;
        let buf = tokio::task::block_in_place(|| -> Result<Vec<u8>> {
            let mut buf = vec![0u8; len as usize];
            file.read_exact(&mut buf).map_err(|e| {
                CliError::failed(format!("{}: {e} (did it change?)", path.display()))
            })?;
            Ok(buf)
        })?;
        whole.update(&buf);
        // Each part's MD5 is computed by its sender, in parallel; here only for parts the
        // store may already hold.
        let kept = match held.get(&n) {
            Some(etag) => etag.is_empty() || *etag == hex::encode(md5::Md5::digest(&buf)),
            None => false,
        };
        if kept {
            ctx.progress.part(name, n, false);
            continue;
        }
        let part = Part {
            number: n,
            bytes: buf,
            _budget: permit,
        };
        if tx.send(part).await.is_err() {
            // The sender gave up (a part failed): its error is reported there.
            return Ok(String::new());
        }
    }
    Ok(super::hashing::b64(&whole.finalize()))
}

/// One part: its URL (with its MD5 signed in), the PUT; retried 4 times.
async fn send_part(ctx: &Ctx, upload: Uuid, part: Part) -> Result<()> {
    use md5::Digest as _;
    let n = part.number;
    let len = part.bytes.len() as u64;
    let md5 = tokio::task::block_in_place(|| super::hashing::b64(&md5::Md5::digest(&part.bytes)));
    let bytes = bytes::Bytes::from(part.bytes);
    let mut attempt = 0;
    loop {
        attempt += 1;
        let urls: PartUrlsResponse = ctx
            .api
            .post(
                &format!("/api/v1/uploads/{upload}/parts"),
                &json!({"part_numbers": [n], "content_md5": [md5]}),
            )
            .await?;
        let Some(url) = urls.parts.into_iter().next() else {
            return Err(CliError::failed("the server gave no part URL"));
        };
        ctx.limiter.take(len).await;
        match super::transfer::put_bytes(ctx.api.http(), &url.url, &url.headers, bytes.clone())
            .await
        {
            Ok(Outcome::Stored) => return Ok(()),
            Ok(Outcome::Refused(msg)) if attempt >= 4 => return Err(CliError::failed(msg)),
            Err(e) if attempt >= 4 => return Err(e),
            _ => tokio::time::sleep(super::api::backoff(attempt)).await,
        }
    }
}
