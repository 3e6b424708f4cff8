//! `coffer pull` and `coffer verify`: remote files and folders to local ones. Big files
//! come in parallel ranged GETs; every file is written under a temporary name, checked
//! against its stored SHA-256 when it has one, and renamed into place.

use std::os::unix::fs::FileExt as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures_util::StreamExt as _;
use serde::Deserialize;
use sha2::Digest as _;
use tokio::sync::Semaphore;

use super::args::{PullArgs, VerifyArgs};
use super::hashing::{b64, sha256_file};
use super::progress::{FileProgress, Progress};
use super::remote::{self, Entry, Located};
use super::transfer::{get, Limiter};
use super::{Api, CliError, Exit, Result};

/// Files at least this big come in ranged GETs of this size.
const RANGE: u64 = 16 << 20;

#[derive(Deserialize)]
struct Download {
    url: String,
}

/// Remote files below `located`, each with the local path it maps to.
/// `into`: a remote folder goes into `local` under its name (pull, like `cp -r`); else
/// `local` is its copy (verify).
async fn collect(
    api: &Api,
    located: Located,
    remote: &str,
    local: &Path,
    into: bool,
) -> Result<Vec<(Entry, PathBuf)>> {
    let (folder, root_dir) = match located {
        Located::Entry(e) if !e.is_folder() => {
            let target = match local.is_dir() {
                true => local.join(&e.name),
                false => local.to_owned(),
            };
            return Ok(vec![(e, target)]);
        }
        Located::Entry(e) if into => (Some(e.id), local.join(&e.name)),
        Located::Entry(e) => (Some(e.id), local.to_owned()),
        Located::Root => (None, local.to_owned()),
    };
    let mut out = Vec::new();
    let mut stack = vec![(folder, root_dir)];
    while let Some((id, dir)) = stack.pop() {
        for e in remote::list(api, id).await? {
            let path = dir.join(safe_name(&e.name, remote)?);
            match e.is_folder() {
                true => stack.push((Some(e.id), path)),
                false if e.state == "active" => out.push((e, path)),
                false => {}
            }
        }
    }
    Ok(out)
}

/// A remote name as one local path component: never `..`, `.` or a path.
fn safe_name<'a>(name: &'a str, remote: &str) -> Result<&'a str> {
    match name {
        "" | "." | ".." => Err(CliError::failed(format!("{remote}: unsafe name {name:?}"))),
        n if n.contains('/') || n.contains('\0') => {
            Err(CliError::failed(format!("{remote}: unsafe name {name:?}")))
        }
        n => Ok(n),
    }
}

pub async fn pull(api: Arc<Api>, progress: Arc<Progress>, args: PullArgs) -> Result<()> {
    let located = remote::resolve(&api, None, &args.remote).await?;
    let files = collect(&api, located, &args.remote, &args.local, true).await?;
    progress.add_total(
        files.len() as u64,
        files.iter().map(|(e, _)| e.size as u64).sum(),
    );
    let t = &args.transfer;
    let limiter = Arc::new(Limiter::new(t.bwlimit));
    let jobs = Arc::new(Semaphore::new(usize::from(t.jobs)));
    let mut tasks = tokio::task::JoinSet::new();
    for (entry, path) in files {
        let (api, progress, limiter, jobs) =
            (api.clone(), progress.clone(), limiter.clone(), jobs.clone());
        let (dry_run, force, part_jobs) = (t.dry_run, t.force, usize::from(t.part_jobs));
        tasks.spawn(async move {
            let _p = jobs.acquire().await;
            let name = path.display().to_string();
            let size = entry.size as u64;
            let fp = progress.start(&name, size);
            if !force && unchanged(&entry, &path).await {
                progress.done(fp, &name, size, "skipped");
                return None;
            }
            if dry_run {
                progress.done(fp, &name, size, "would receive");
                return None;
            }
            match fetch(&api, &progress, &limiter, &entry, &path, part_jobs, &fp).await {
                Ok(()) => {
                    progress.done(fp, &name, size, "received");
                    None
                }
                Err(e) => {
                    progress.error(Some(fp), &name, &e.msg);
                    Some(e.exit)
                }
            }
        });
    }
    let mut worst = None;
    while let Some(r) = tasks.join_next().await {
        worst = worst.or(r.ok().flatten());
    }
    progress.finish("pull");
    match progress.failed() {
        0 => Ok(()),
        n => Err(CliError::new(
            worst.unwrap_or(Exit::Failed),
            format!("{n} file(s) failed"),
        )),
    }
}

/// The local file has the remote one's size and stored checksum.
async fn unchanged(entry: &Entry, path: &Path) -> bool {
    let Ok(meta) = tokio::fs::metadata(path).await else {
        return false;
    };
    let Some(remote_sha) = &entry.checksum_sha256 else {
        return false;
    };
    meta.len() == entry.size as u64
        && sha256_file(path.to_owned()).await.ok().as_ref() == Some(remote_sha)
}

fn part_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.coffer-part"))
}

async fn fetch(
    api: &Api,
    progress: &Progress,
    limiter: &Limiter,
    entry: &Entry,
    path: &Path,
    part_jobs: usize,
    fp: &FileProgress,
) -> Result<()> {
    let size = entry.size as u64;
    let d: Download = api
        .get(&format!("/api/v1/files/{}/download", entry.id))
        .await?;
    if let Some(dir) = path.parent() {
        tokio::fs::create_dir_all(dir).await?;
    }
    let tmp = part_path(path);
    let file = std::fs::File::create(&tmp)
        .map_err(|e| CliError::failed(format!("{}: {e}", tmp.display())))?;
    file.set_len(size)?;
    let file = Arc::new(file);
    let result = if size >= 2 * RANGE && part_jobs > 1 {
        let ranges: Vec<(u64, u64)> = (0..size.div_ceil(RANGE))
            .map(|i| (i * RANGE, ((i + 1) * RANGE).min(size)))
            .collect();
        let url = d.url.as_str();
        let stream = futures_util::stream::iter(ranges).map(|r| {
            let file = file.clone();
            async move {
                limiter.take(r.1 - r.0).await;
                write_range(api.http(), url, Some(r), file, progress, fp, None).await
            }
        });
        let mut s = stream.buffer_unordered(part_jobs);
        let mut r = Ok(None);
        while let Some(one) = s.next().await {
            if one.is_err() {
                r = one;
                break;
            }
        }
        match r {
            Ok(_) => match &entry.checksum_sha256 {
                Some(_) => sha256_file(tmp.clone()).await.map(Some),
                None => Ok(None),
            },
            Err(e) => Err(e),
        }
    } else {
        limiter.take(size).await;
        let hasher = sha2::Sha256::new();
        write_range(
            api.http(),
            &d.url,
            None,
            file.clone(),
            progress,
            fp,
            Some(hasher),
        )
        .await
    };
    let verdict = match (result, &entry.checksum_sha256) {
        (Err(e), _) => Err(e),
        (Ok(Some(got)), Some(want)) if &got != want => Err(CliError::failed(format!(
            "the bytes received do not match the stored SHA-256 ({got}, stored {want})"
        ))),
        _ => Ok(()),
    };
    if let Err(e) = verdict {
        let _ = tokio::fs::remove_file(&tmp).await;
        return Err(e);
    }
    file.sync_all()?;
    tokio::fs::rename(&tmp, path).await?;
    Ok(())
}

/// Streams one GET (of a range, or of the whole object) into `file` at its offset;
/// with a hasher (whole objects only), returns the SHA-256 of what came.
async fn write_range(
    http: &reqwest::Client,
    url: &str,
    range: Option<(u64, u64)>,
    file: Arc<std::fs::File>,
    progress: &Progress,
    fp: &FileProgress,
    mut hasher: Option<sha2::Sha256>,
) -> Result<Option<String>> {
    let resp = get(http, url, range).await?;
    let (mut offset, end) = range.unwrap_or((0, u64::MAX));
    let mut body = resp.bytes_stream();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| CliError::failed(super::api::without_url(e)))?;
        if offset + chunk.len() as u64 > end {
            return Err(CliError::failed("the store sent more than the range asked"));
        }
        if let Some(h) = hasher.as_mut() {
            h.update(&chunk);
        }
        let f = file.clone();
        let at = offset;
        tokio::task::block_in_place(|| f.write_all_at(&chunk, at))?;
        offset += chunk.len() as u64;
        progress.advance(fp, chunk.len() as u64);
    }
    if range.is_some() && offset != end {
        return Err(CliError::failed("the store sent less than the range asked"));
    }
    Ok(hasher.map(|h| b64(&h.finalize())))
}

/// `coffer verify REMOTE LOCAL`: each remote file's stored SHA-256 against the local copy.
pub async fn verify(api: Arc<Api>, args: VerifyArgs) -> Result<()> {
    let located = remote::resolve(&api, None, &args.remote).await?;
    let files = collect(&api, located, &args.remote, &args.local, false).await?;
    let (mut ok, mut bad) = (0u64, 0u64);
    for (entry, path) in files {
        let verdict = match (&entry.checksum_sha256, tokio::fs::metadata(&path).await) {
            (_, Err(_)) => "missing locally",
            (None, _) => "no stored checksum",
            (_, Ok(m)) if m.len() != entry.size as u64 => "size differs",
            (Some(want), Ok(_)) => match sha256_file(path.clone()).await {
                Ok(got) if &got == want => "ok",
                Ok(_) => "checksum differs",
                Err(_) => "unreadable",
            },
        };
        match verdict {
            "ok" => ok += 1,
            _ => bad += 1,
        }
        println!("{verdict:<18} {}", path.display());
    }
    println!("{ok} identical, {bad} not");
    match bad {
        0 => Ok(()),
        n => Err(CliError::failed(format!("{n} file(s) do not match"))),
    }
}
