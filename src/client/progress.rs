//! What a transfer tells its user: bars on a terminal (a total, and one per big file),
//! plain lines in a log, or one JSON object per line (`--progress=jsonl`): `start`,
//! `part`, `progress` every 2 s, `done`, `error`, and a closing `summary`.

use std::io::IsTerminal as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::json;

use super::args::ProgressMode;

/// Files at least this big get their own bar.
const OWN_BAR: u64 = 16 << 20;

enum Mode {
    Bars {
        multi: MultiProgress,
        total: ProgressBar,
    },
    Plain,
    Jsonl,
    Quiet,
}

pub struct Progress {
    mode: Mode,
    started: Instant,
    bytes_total: AtomicU64,
    bytes_done: AtomicU64,
    files_total: AtomicU64,
    files_done: AtomicU64,
    files_failed: AtomicU64,
    files_skipped: AtomicU64,
    out: Mutex<()>,
}

/// One file's progress: its bar, if it has one.
pub struct FileProgress {
    bar: Option<ProgressBar>,
}

impl Progress {
    pub fn new(mode: ProgressMode, quiet: bool) -> Arc<Progress> {
        let mode = match (mode, quiet) {
            (ProgressMode::Jsonl, _) => Mode::Jsonl,
            (_, true) => Mode::Quiet,
            (ProgressMode::Auto, false) if std::io::stderr().is_terminal() => {
                let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
                let total = multi.add(ProgressBar::new(0));
                total.set_style(
                    ProgressStyle::with_template(
                        "{msg:>12} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
                    )
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
                );
                total.set_message("total");
                Mode::Bars { multi, total }
            }
            _ => Mode::Plain,
        };
        let p = Arc::new(Progress {
            mode,
            started: Instant::now(),
            bytes_total: AtomicU64::new(0),
            bytes_done: AtomicU64::new(0),
            files_total: AtomicU64::new(0),
            files_done: AtomicU64::new(0),
            files_failed: AtomicU64::new(0),
            files_skipped: AtomicU64::new(0),
            out: Mutex::new(()),
        });
        if matches!(p.mode, Mode::Jsonl) {
            let weak = Arc::downgrade(&p);
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_secs(2));
                tick.tick().await;
                loop {
                    tick.tick().await;
                    match weak.upgrade() {
                        Some(p) => p.emit_progress(),
                        None => return,
                    }
                }
            });
        }
        p
    }

    fn line(&self, line: String) {
        let _g = self.out.lock();
        match &self.mode {
            Mode::Bars { multi, .. } => {
                let _ = multi.println(line);
            }
            Mode::Quiet => {}
            _ => println!("{line}"),
        }
    }

    fn emit_progress(&self) {
        self.line(
            json!({
                "event": "progress",
                "bytes_done": self.bytes_done.load(Relaxed),
                "bytes_total": self.bytes_total.load(Relaxed),
                "files_done": self.files_done.load(Relaxed),
                "files_total": self.files_total.load(Relaxed),
                "elapsed_s": self.started.elapsed().as_secs_f64(),
            })
            .to_string(),
        );
    }

    /// More work found: `files` files of `bytes` bytes.
    pub fn add_total(&self, files: u64, bytes: u64) {
        self.files_total.fetch_add(files, Relaxed);
        let total = self.bytes_total.fetch_add(bytes, Relaxed) + bytes;
        if let Mode::Bars { total: bar, .. } = &self.mode {
            bar.set_length(total);
        }
    }

    pub fn start(&self, name: &str, size: u64) -> FileProgress {
        match &self.mode {
            Mode::Jsonl => {
                self.line(json!({"event": "start", "file": name, "size": size}).to_string());
                FileProgress { bar: None }
            }
            Mode::Bars { multi, .. } if size >= OWN_BAR => {
                let bar = multi.add(ProgressBar::new(size));
                bar.set_style(
                    ProgressStyle::with_template(
                        "{msg:>12.dim} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}",
                    )
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
                );
                bar.set_message(short(name));
                FileProgress { bar: Some(bar) }
            }
            _ => FileProgress { bar: None },
        }
    }

    /// `n` more bytes of `file` moved.
    pub fn advance(&self, file: &FileProgress, n: u64) {
        self.bytes_done.fetch_add(n, Relaxed);
        if let Some(bar) = &file.bar {
            bar.inc(n);
        }
        if let Mode::Bars { total, .. } = &self.mode {
            total.inc(n);
        }
    }

    /// A part of a multipart transfer is in place (jsonl only).
    pub fn part(&self, name: &str, part: u32, sent: bool) {
        if matches!(self.mode, Mode::Jsonl) {
            self.line(
                json!({"event": "part", "file": name, "part": part, "sent": sent}).to_string(),
            );
        }
    }

    /// `outcome`: `sent`, `received`, `skipped`, `would send`, …
    pub fn done(&self, file: FileProgress, name: &str, size: u64, outcome: &str) {
        self.files_done.fetch_add(1, Relaxed);
        if outcome == "skipped" {
            self.files_skipped.fetch_add(1, Relaxed);
            self.bytes_done.fetch_add(size, Relaxed);
            if let Mode::Bars { total, .. } = &self.mode {
                total.inc(size);
            }
        }
        if let Some(bar) = file.bar {
            bar.finish_and_clear();
        }
        match &self.mode {
            Mode::Jsonl => self.line(
                json!({"event": "done", "file": name, "size": size, "outcome": outcome})
                    .to_string(),
            ),
            Mode::Plain => self.line(format!("{outcome} {name} ({})", human(size))),
            _ => {}
        }
    }

    pub fn error(&self, file: Option<FileProgress>, name: &str, msg: &str) {
        self.files_failed.fetch_add(1, Relaxed);
        if let Some(bar) = file.and_then(|f| f.bar) {
            bar.abandon();
        }
        match &self.mode {
            Mode::Jsonl => {
                self.line(json!({"event": "error", "file": name, "error": msg}).to_string())
            }
            Mode::Bars { multi, .. } => {
                let _ = multi.println(format!("error: {name}: {msg}"));
            }
            _ => eprintln!("coffer: {name}: {msg}"),
        }
    }

    /// Failed files so far.
    pub fn failed(&self) -> u64 {
        self.files_failed.load(Relaxed)
    }

    /// The closing line: counts, bytes and rate.
    pub fn finish(&self, verb: &str) {
        let secs = self.started.elapsed().as_secs_f64();
        let bytes = self.bytes_done.load(Relaxed);
        let (files, skipped, failed) = (
            self.files_done.load(Relaxed),
            self.files_skipped.load(Relaxed),
            self.files_failed.load(Relaxed),
        );
        if let Mode::Bars { total, .. } = &self.mode {
            total.finish_and_clear();
        }
        match &self.mode {
            Mode::Jsonl => self.line(
                json!({"event": "summary", "verb": verb, "files": files, "skipped": skipped,
                       "failed": failed, "bytes": bytes, "seconds": secs})
                .to_string(),
            ),
            Mode::Quiet => {}
            _ => self.line(format!(
                "{verb}: {files} file(s), {skipped} unchanged, {failed} failed, {} in {secs:.1} s ({}/s)",
                human(bytes),
                human((bytes as f64 / secs.max(0.001)) as u64)
            )),
        }
    }
}

fn short(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    if chars.len() <= 24 {
        return name.to_owned();
    }
    let tail: String = chars[chars.len() - 23..].iter().collect();
    format!("…{tail}")
}

/// 1.5 MiB, 12 B, 3.2 GiB.
pub fn human(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    match u {
        0 => format!("{n} B"),
        _ => format!("{v:.1} {}", UNITS[u]),
    }
}
