//! Remote paths (`/results/run1/out.h5`) over the API's ids: resolved by listing one
//! folder per level, and folders created as needed.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use super::{Api, CliError, Exit, Result};

/// A file or folder as the API describes it (the fields the client uses).
#[derive(Deserialize, Clone, Debug)]
pub struct Entry {
    pub id: Uuid,
    pub name: String,
    pub kind: String,
    pub size: i64,
    pub state: String,
    pub updated_at: DateTime<Utc>,
    pub checksum_sha256: Option<String>,
}

impl Entry {
    pub fn is_folder(&self) -> bool {
        self.kind == "folder"
    }
}

#[derive(Deserialize)]
struct Page {
    items: Vec<Entry>,
    next_cursor: Option<String>,
}

/// What a remote path names: the root, or a file or folder.
pub enum Located {
    Root,
    Entry(Entry),
}

impl Located {
    /// The folder's id (`None` for the root), or an error for a file.
    pub fn folder(&self, path: &str) -> Result<Option<Uuid>> {
        match self {
            Located::Root => Ok(None),
            Located::Entry(e) if e.is_folder() => Ok(Some(e.id)),
            Located::Entry(_) => Err(CliError::failed(format!("{path} is a file, not a folder"))),
        }
    }
}

/// The path's names; `..` is refused (remote paths are always from the root).
pub fn components(path: &str) -> Result<Vec<&str>> {
    let mut out = Vec::new();
    for c in path.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                return Err(CliError::usage(format!(
                    "remote paths start at your root and cannot hold '..': {path}"
                )))
            }
            c => out.push(c),
        }
    }
    Ok(out)
}

fn items_path(folder: Option<Uuid>) -> String {
    match folder {
        Some(id) => format!("/api/v1/folders/{id}/items"),
        None => "/api/v1/folders/root/items".into(),
    }
}

/// Every entry of a folder, all pages.
pub async fn list(api: &Api, folder: Option<Uuid>) -> Result<Vec<Entry>> {
    let base = items_path(folder);
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("{base}?limit=1000&cursor={}", urlencode(c)),
            None => format!("{base}?limit=1000"),
        };
        let page: Page = api.get(&path).await?;
        out.extend(page.items);
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => return Ok(out),
        }
    }
}

/// A folder's entries by name.
pub async fn by_name(api: &Api, folder: Option<Uuid>) -> Result<HashMap<String, Entry>> {
    Ok(list(api, folder)
        .await?
        .into_iter()
        .map(|e| (e.name.clone(), e))
        .collect())
}

/// A path segment or query value, percent-encoded.
pub fn urlencode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// What `path` names below `base` (`None`: the root), or `None` if nothing.
pub async fn find(api: &Api, base: Option<Uuid>, path: &str) -> Result<Option<Located>> {
    let names = components(path)?;
    let mut here = Located::Root;
    let mut folder = base;
    for name in names {
        if let Located::Entry(e) = &here {
            if !e.is_folder() {
                return Ok(None);
            }
        }
        let Some(e) = list(api, folder)
            .await?
            .into_iter()
            .find(|e| e.name == name)
        else {
            return Ok(None);
        };
        folder = Some(e.id);
        here = Located::Entry(e);
    }
    if base.is_some() && matches!(here, Located::Root) {
        return Ok(Some(Located::Entry(entry(api, base).await?)));
    }
    Ok(Some(here))
}

/// Like [`find`], with "not found" as an error.
pub async fn resolve(api: &Api, base: Option<Uuid>, path: &str) -> Result<Located> {
    find(api, base, path)
        .await?
        .ok_or_else(|| CliError::failed(format!("{path}: no such file or folder")))
}

async fn entry(api: &Api, id: Option<Uuid>) -> Result<Entry> {
    match id {
        Some(id) => api.get(&format!("/api/v1/files/{id}")).await,
        None => Err(CliError::failed("the root has no metadata")),
    }
}

/// The folder `name` in `parent`, created unless it exists.
pub async fn ensure_child(api: &Api, parent: Option<Uuid>, name: &str) -> Result<Uuid> {
    let resp = api
        .send(
            reqwest::Method::POST,
            "/api/v1/folders",
            Some(&json!({ "name": name, "parent_id": parent })),
        )
        .await?;
    if resp.status().is_success() {
        let e: Entry = resp
            .json()
            .await
            .map_err(|e| CliError::failed(e.to_string()))?;
        return Ok(e.id);
    }
    if resp.status() != reqwest::StatusCode::CONFLICT {
        return Err(super::api::error_of(resp).await);
    }
    match list(api, parent)
        .await?
        .into_iter()
        .find(|e| e.name == name)
    {
        Some(e) if e.is_folder() => Ok(e.id),
        Some(_) => Err(CliError::failed(format!(
            "{name} exists and is a file, not a folder"
        ))),
        None => Err(CliError::new(Exit::Failed, format!("cannot create {name}"))),
    }
}

/// The folder at `path` below `base`, with every missing folder on the way created.
pub async fn ensure_folder(api: &Api, base: Option<Uuid>, path: &str) -> Result<Option<Uuid>> {
    let mut folder = base;
    for name in components(path)? {
        let existing = list(api, folder)
            .await?
            .into_iter()
            .find(|e| e.name == name);
        folder = Some(match existing {
            Some(e) if e.is_folder() => e.id,
            Some(_) => {
                return Err(CliError::failed(format!(
                    "{name} in {path} is a file, not a folder"
                )))
            }
            None => ensure_child(api, folder, name).await?,
        });
    }
    Ok(folder)
}
