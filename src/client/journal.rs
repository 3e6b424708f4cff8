//! The resume journal of a push: `$XDG_STATE_HOME/coffer/push-<key>.jsonl`, one line per
//! upload started and one per upload ended. Re-running the same push (same server,
//! identity, sources and destination) after `kill -9` or a lost network reads it: a file
//! whose size and modification time are unchanged continues its open upload, sending
//! only the parts the store lacks. The journal is removed when a push ends with nothing
//! failed.

use std::collections::HashMap;
use std::io::{BufRead as _, Write as _};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::PathBuf;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use sha2::Digest as _;
use uuid::Uuid;

use super::Result;

#[derive(Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
enum Line {
    Started {
        local: String,
        size: u64,
        mtime_ns: i64,
        upload_id: Uuid,
    },
    Ended {
        upload_id: Uuid,
    },
}

pub struct Journal {
    path: PathBuf,
    file: Mutex<std::fs::File>,
    open: HashMap<String, (u64, i64, Uuid)>,
}

/// A file's modification time in nanoseconds since the epoch.
pub fn mtime_ns(meta: &std::fs::Metadata) -> i64 {
    use std::os::unix::fs::MetadataExt as _;
    meta.mtime()
        .saturating_mul(1_000_000_000)
        .saturating_add(meta.mtime_nsec())
}

impl Journal {
    /// The journal of the push `key` describes, with what earlier runs left open.
    pub fn open(key: &str) -> Result<Journal> {
        let digest = hex::encode(&sha2::Sha256::digest(key.as_bytes())[..12]);
        let dir = super::session::state_dir()?;
        std::fs::create_dir_all(&dir)?;
        let path = dir.join(format!("push-{digest}.jsonl"));
        let mut open = HashMap::new();
        if let Ok(f) = std::fs::File::open(&path) {
            let mut by_id: HashMap<Uuid, String> = HashMap::new();
            for line in std::io::BufReader::new(f).lines() {
                // A line cut short by a kill is skipped.
                match line
                    .ok()
                    .and_then(|l| serde_json::from_str::<Line>(&l).ok())
                {
                    Some(Line::Started {
                        local,
                        size,
                        mtime_ns,
                        upload_id,
                    }) => {
                        by_id.insert(upload_id, local.clone());
                        open.insert(local, (size, mtime_ns, upload_id));
                    }
                    Some(Line::Ended { upload_id }) => {
                        if let Some(local) = by_id.remove(&upload_id) {
                            open.remove(&local);
                        }
                    }
                    None => {}
                }
            }
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(&path)?;
        Ok(Journal {
            path,
            file: Mutex::new(file),
            open,
        })
    }

    /// The upload an earlier run left open for this file, if it is unchanged since.
    pub fn open_upload(&self, local: &str, size: u64, mtime_ns: i64) -> Option<Uuid> {
        match self.open.get(local) {
            Some(&(s, m, id)) if s == size && m == mtime_ns => Some(id),
            _ => None,
        }
    }

    fn append(&self, line: &Line) {
        if let Ok(mut json) = serde_json::to_vec(line) {
            json.push(b'\n');
            if let Ok(mut f) = self.file.lock() {
                // The journal only saves work on a re-run: a failed write costs nothing else.
                let _ = f.write_all(&json);
            }
        }
    }

    pub fn started(&self, local: &str, size: u64, mtime_ns: i64, upload_id: Uuid) {
        self.append(&Line::Started {
            local: local.to_owned(),
            size,
            mtime_ns,
            upload_id,
        });
    }

    pub fn ended(&self, upload_id: Uuid) {
        self.append(&Line::Ended { upload_id });
    }

    /// Forgets the journal once nothing is left to resume.
    pub fn close(self, all_done: bool) {
        if all_done {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}
