//! The `coffer` binary against an in-process `cofferd`: each run is a real process with
//! its own config and state folders, talking HTTP to the API and the store.

use std::collections::BTreeMap;
use std::io::{BufRead as _, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{pattern, spawn_app, spawn_app_with, TempDir, TestApp, PASSWORD};

const MIB: usize = 1 << 20;

/// One user's machine: a home with its config and state folders.
struct Machine {
    home: TempDir,
    server: String,
    token: Option<String>,
}

impl Machine {
    fn new(app: &TestApp) -> Machine {
        let home =
            TempDir(std::env::temp_dir().join(format!("coffer-cli-{}", uuid::Uuid::new_v4())));
        std::fs::create_dir_all(&home.0).expect("home");
        Machine {
            home,
            server: app.address.clone(),
            token: None,
        }
    }

    fn with_token(app: &TestApp, token: &str) -> Machine {
        let mut m = Machine::new(app);
        m.token = Some(token.to_owned());
        m
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.home.0.join(rel)
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_coffer"));
        c.args(args)
            .current_dir(&self.home.0)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", &self.home.0)
            .env("XDG_CONFIG_HOME", self.path("config"))
            .env("XDG_STATE_HOME", self.path("state"))
            .env("COFFER_SERVER", &self.server);
        if let Some(t) = &self.token {
            c.env("COFFER_TOKEN", t);
        }
        c
    }

    /// Runs `coffer args…` to its end (on a blocking thread: the server runs on ours).
    async fn run_with(&self, args: &[&str], stdin: &str) -> Output {
        let mut c = self.command(args);
        let stdin = stdin.to_owned();
        tokio::task::spawn_blocking(move || {
            let mut child = c
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("start coffer");
            child
                .stdin
                .take()
                .expect("stdin")
                .write_all(stdin.as_bytes())
                .expect("write stdin");
            child.wait_with_output().expect("coffer ran")
        })
        .await
        .expect("join")
    }

    async fn run(&self, args: &[&str]) -> Output {
        self.run_with(args, "").await
    }

    /// Runs and expects success; returns stdout.
    async fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args).await;
        assert!(
            out.status.success(),
            "coffer {args:?} failed: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8(out.stdout).expect("utf-8")
    }

    async fn login(&self, username: &str) {
        let out = self
            .run_with(
                &["login", "--password", "--username", username],
                &format!("{PASSWORD}\n"),
            )
            .await;
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// The JSON lines a `--progress jsonl` run printed.
fn events(stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

fn outcomes(stdout: &str) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for e in events(stdout).iter().filter(|e| e["event"] == "done") {
        *out.entry(e["outcome"].as_str().unwrap_or("").to_owned())
            .or_default() += 1;
    }
    out
}

fn write(path: &Path, bytes: &[u8]) {
    std::fs::create_dir_all(path.parent().expect("parent")).expect("dirs");
    std::fs::write(path, bytes).expect("write");
}

/// Every file below `dir` by relative path, with its bytes.
fn tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(base: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for e in std::fs::read_dir(dir).expect("read dir") {
            let p = e.expect("entry").path();
            if p.is_dir() {
                walk(base, &p, out);
            } else {
                let rel = p
                    .strip_prefix(base)
                    .expect("prefix")
                    .to_string_lossy()
                    .into_owned();
                out.insert(rel, std::fs::read(&p).expect("read"));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

async fn signed_in(app: &TestApp, name: &str) -> (Machine, crate::helpers::Tokens) {
    let tokens = app.user(name).await;
    let m = Machine::new(app);
    m.login(name).await;
    (m, tokens)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tree_goes_up_and_comes_back_identical_and_unchanged_files_are_not_sent_again() {
    let app = spawn_app_with(|s| s.default_quota_bytes = 1 << 30).await;
    let (m, alice) = signed_in(&app, "alice").await;
    let src = m.path("results");
    write(&src.join("empty.bin"), b"");
    write(&src.join("deep/er/still/notes.txt"), b"nested\n");
    write(&src.join("big.h5"), &pattern(70 * MIB + 12_345, 7));
    for i in 0..500 {
        write(
            &src.join(format!("small/{i:03}.csv")),
            &pattern(100 + i * 7, i as u8),
        );
    }
    let src_arg = src.to_string_lossy().into_owned();
    let out = m
        .ok(&["push", "--progress", "jsonl", &src_arg, "/runs/1"])
        .await;
    assert_eq!(outcomes(&out), BTreeMap::from([("sent".into(), 503)]));
    let summary = events(&out).into_iter().last().expect("summary");
    assert_eq!(summary["event"], "summary");
    assert_eq!(summary["failed"], 0);

    // The server holds every file, active, with its checksum.
    let usage = app.usage(&alice.access).await;
    let expected: usize = (70 * MIB + 12_345) + 7 + (0..500).map(|i| 100 + i * 7).sum::<usize>();
    assert_eq!(usage.used_bytes as usize, expected);
    assert_eq!(usage.used_objects, 503);
    assert_eq!(usage.reserved_bytes, 0);
    let listing = m.ok(&["ls", "-l", "-R", "/runs/1"]).await;
    assert!(listing.contains("results/small/499.csv"), "{listing}");
    assert!(!listing.contains("pending"), "{listing}");

    // Pulled back into a fresh folder: identical, byte for byte.
    let back = m.path("back");
    std::fs::create_dir_all(&back).expect("dir");
    m.ok(&[
        "pull",
        "--progress",
        "plain",
        "/runs/1/results",
        &back.to_string_lossy(),
    ])
    .await;
    assert_eq!(tree(&back.join("results")), tree(&src));
    m.ok(&["verify", "/runs/1/results", &src_arg]).await;

    // The same push again sends nothing.
    let again = m
        .ok(&["push", "--progress", "jsonl", &src_arg, "/runs/1"])
        .await;
    assert_eq!(outcomes(&again), BTreeMap::from([("skipped".into(), 503)]));
    assert_eq!(app.usage(&alice.access).await.used_objects, 503);

    // A changed file is sent and replaces the old one; --force sends the rest.
    write(&src.join("deep/er/still/notes.txt"), b"changed\n");
    let changed = m
        .ok(&["push", "--progress", "jsonl", &src_arg, "/runs/1"])
        .await;
    assert_eq!(
        outcomes(&changed),
        BTreeMap::from([("sent".into(), 1), ("skipped".into(), 502)])
    );
    let fresh = m.path("fresh");
    std::fs::create_dir_all(&fresh).expect("dir");
    m.ok(&[
        "pull",
        "/runs/1/results/deep/er/still/notes.txt",
        &fresh.to_string_lossy(),
    ])
    .await;
    assert_eq!(
        std::fs::read(fresh.join("notes.txt")).expect("read"),
        b"changed\n"
    );
    assert_eq!(app.usage(&alice.access).await.used_objects, 503);
    let verify = m
        .run(&[
            "verify",
            "/runs/1/results",
            &back.join("results").to_string_lossy(),
        ])
        .await;
    assert_eq!(verify.status.code(), Some(1), "the old copy differs now");
    assert!(String::from_utf8_lossy(&verify.stdout).contains("size differs"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_push_resumes_and_sends_only_the_missing_parts() {
    let app = spawn_app_with(|s| s.default_quota_bytes = 1 << 30).await;
    let (m, alice) = signed_in(&app, "bob").await;
    let file = m.path("profile.h5");
    let bytes = pattern(70 * MIB, 3);
    write(&file, &bytes);
    let file_arg = file.to_string_lossy().into_owned();
    let args = [
        "push",
        "--progress",
        "jsonl",
        "--part-jobs",
        "1",
        "--bwlimit",
        "20M",
        &file_arg,
        "/energy",
    ];
    // Killed with -9 once three parts are in the store.
    let mut child = m
        .command(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start coffer");
    let stdout = child.stdout.take().expect("stdout");
    let sent_before_kill = tokio::task::spawn_blocking(move || {
        let mut sent = 0;
        for line in BufReader::new(stdout).lines() {
            let e: Value = serde_json::from_str(&line.expect("line")).unwrap_or_default();
            if e["event"] == "part" && e["sent"] == true {
                sent += 1;
                if sent == 3 {
                    child.kill().expect("kill -9");
                    break;
                }
            }
        }
        let _ = child.kill();
        child.wait().expect("reaped");
        sent
    })
    .await
    .expect("join");
    assert_eq!(sent_before_kill, 3);

    // What the store holds now, as the server sees it.
    let journal = std::fs::read_dir(m.path("state/coffer"))
        .expect("journal folder")
        .map(|e| e.expect("entry").path())
        .find(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .expect("a journal");
    let line: Value = serde_json::from_str(
        std::fs::read_to_string(&journal)
            .expect("journal")
            .lines()
            .next()
            .expect("a line"),
    )
    .expect("json");
    let upload_id = line["upload_id"].as_str().expect("upload id").to_owned();
    let status: Value = app
        .get_auth(&format!("/api/v1/uploads/{upload_id}"), &alice.access)
        .await
        .json()
        .await
        .expect("json");
    let held = status["parts_done"].as_array().expect("parts").len();
    let total = status["part_count"].as_u64().expect("count") as usize;
    assert!(held >= 3 && held < total, "{held} of {total} parts held");

    // The same push again: only the missing parts go.
    let out = m
        .ok(&args[..3]
            .iter()
            .chain(&[&file_arg[..], "/energy"])
            .copied()
            .collect::<Vec<_>>())
        .await;
    let parts: Vec<Value> = events(&out)
        .into_iter()
        .filter(|e| e["event"] == "part")
        .collect();
    let sent = parts.iter().filter(|e| e["sent"] == true).count();
    let skipped = parts.iter().filter(|e| e["sent"] == false).count();
    assert_eq!((sent, skipped), (total - held, held), "{status}");
    assert_eq!(outcomes(&out), BTreeMap::from([("sent".into(), 1)]));
    assert!(
        !journal.exists(),
        "a push that ended well forgets its journal"
    );

    // One file, the right bytes, the right checksum, counted once.
    let usage = app.usage(&alice.access).await;
    assert_eq!(
        (usage.used_bytes as usize, usage.used_objects),
        (70 * MIB, 1)
    );
    assert_eq!(usage.reserved_bytes, 0);
    let back = m.path("back");
    std::fs::create_dir_all(&back).expect("dir");
    m.ok(&["pull", "/energy/profile.h5", &back.to_string_lossy()])
        .await;
    assert!(std::fs::read(back.join("profile.h5")).expect("read") == bytes);
    let ls = m.ok(&["ls", "-l", "/energy"]).await;
    use base64::Engine as _;
    use sha2::Digest as _;
    let sha = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(&bytes));
    assert!(ls.contains(&sha), "{ls}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn device_login_end_to_end_and_refreshes_take_turns() {
    let app = spawn_app().await;
    let carol = app.user("carol").await;
    let m = Machine::new(&app);
    let mut child = m
        .command(&["login"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start coffer login");
    let stderr = child.stderr.take().expect("stderr");
    let (code, rest) = tokio::task::spawn_blocking(move || {
        let mut lines = BufReader::new(stderr).lines();
        let code = lines
            .by_ref()
            .map_while(Result::ok)
            .find_map(|l| l.strip_prefix("and enter the code ").map(str::to_owned))
            .expect("the code is shown");
        (code, lines)
    })
    .await
    .expect("join");
    let res = app
        .post_auth(
            &format!("/api/v1/auth/device/{code}/approve"),
            &carol.access,
            &json!({}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let status = tokio::task::spawn_blocking(move || {
        let said: Vec<String> = rest.map_while(Result::ok).collect();
        assert!(said.iter().any(|l| l.contains("signed in")), "{said:?}");
        child.wait().expect("login ends")
    })
    .await
    .expect("join");
    assert!(status.success());
    assert!(m.ok(&["whoami"]).await.starts_with("carol (user)"));
    let creds = m.path("config/coffer/credentials.json");
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(&creds)
        .expect("credentials")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);

    // The access token has run out: four processes at once refresh it. Presenting one
    // refresh token twice would end the session, so each must see the others' refresh.
    let mut stored: Value =
        serde_json::from_slice(&std::fs::read(&creds).expect("read")).expect("json");
    stored["access_expires_at"] = json!("2000-01-01T00:00:00Z");
    std::fs::write(&creds, serde_json::to_vec(&stored).expect("json")).expect("write");
    let runs = (0..4).map(|_| m.run(&["whoami"]));
    for out in futures::future::join_all(runs).await {
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let after: Value = serde_json::from_slice(&std::fs::read(&creds).expect("read")).expect("json");
    assert_ne!(after["refresh_token"], stored["refresh_token"]);
    assert!(m.ok(&["whoami"]).await.starts_with("carol"));

    // Logout ends the session on the server as well.
    m.ok(&["logout"]).await;
    let refused = app
        .refresh(after["refresh_token"].as_str().expect("refresh"))
        .await;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(m.run(&["whoami"]).await.status.code(), Some(3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_token_pushes_into_its_jobs_folder_and_nowhere_else() {
    let app = spawn_app().await;
    let (m, dave) = signed_in(&app, "dave").await;
    write(&m.path("private.txt"), b"mine");
    m.ok(&["push", &m.path("private.txt").to_string_lossy(), "/"])
        .await;
    let job = m
        .ok(&["job", "start", "--slurm-id", "4242", "--cluster", "hpc1"])
        .await;
    assert!(job.contains("4242") && job.contains("RUNNING"), "{job}");
    let token = m
        .ok(&["token", "create", "--name", "job 4242", "--job", "4242"])
        .await
        .trim()
        .to_owned();
    assert!(token.starts_with("cft_"));

    let batch = Machine::with_token(&app, &token);
    write(&batch.path("out/result.csv"), b"gflops\n42\n");
    batch
        .ok(&[
            "push",
            "--progress",
            "plain",
            &batch.path("out").to_string_lossy(),
            "/",
        ])
        .await;
    // It landed in the job's folder; the token sees that folder as its root, only.
    let owner_view = m.ok(&["ls", "-R", "/jobs"]).await;
    assert!(owner_view.contains("/out/result.csv"), "{owner_view}");
    let seen = batch.ok(&["ls", "-R", "/"]).await;
    assert_eq!(seen.trim(), "out/\nout/result.csv");
    assert_eq!(
        batch
            .run(&["pull", "/private.txt", "."])
            .await
            .status
            .code(),
        Some(1)
    );
    let root: Value = app
        .get_auth("/api/v1/folders/root/items", &dave.access)
        .await
        .json()
        .await
        .expect("json");
    let private = root["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|f| f["name"] == "private.txt")
        .expect("private.txt")["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let res = app
        .get_auth(&format!("/api/v1/files/{private}"), &token)
        .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    m.ok(&["job", "finish", "--job", "4242", "--exit-code", "0"])
        .await;
    assert!(m.ok(&["job", "list"]).await.contains("DONE"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_codes_say_what_went_wrong() {
    let app = spawn_app_with(|s| s.default_quota_bytes = 1000).await;
    let (m, _) = signed_in(&app, "erin").await;
    write(&m.path("big.bin"), &pattern(5000, 1));
    write(&m.path("dir/a.txt"), b"a");
    // 4: over quota, with the server's words.
    let over = m
        .run(&["push", &m.path("big.bin").to_string_lossy(), "/"])
        .await;
    assert_eq!(over.status.code(), Some(4));
    assert!(String::from_utf8_lossy(&over.stderr)
        .to_lowercase()
        .contains("quota"));
    // 2: usage errors, from the command line or from what it names.
    assert_eq!(m.run(&["push"]).await.status.code(), Some(2));
    m.ok(&["push", &m.path("dir").to_string_lossy(), "/"]).await;
    let rm = m.run(&["rm", "/dir"]).await;
    assert_eq!(rm.status.code(), Some(2));
    m.ok(&["rm", "-r", "/dir"]).await;
    // 1: a missing remote file.
    assert_eq!(m.run(&["rm", "/nothing"]).await.status.code(), Some(1));
    // 3: a bad token; never a stack trace, one line.
    let bad = Machine::with_token(&app, "cft_not-a-real-token");
    let out = bad.run(&["ls"]).await;
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(!err.contains("panicked"));
    // Completions for the three shells.
    for shell in ["bash", "zsh", "fish"] {
        assert!(m.ok(&["completions", shell]).await.contains("coffer"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_everyday_commands_do_what_they_say() {
    let app = spawn_app().await;
    let (m, frank) = signed_in(&app, "frank").await;
    app.user("grace").await;
    m.ok(&["mkdir", "-p", "/a/b/c"]).await;
    assert_eq!(m.run(&["mkdir", "/a/b"]).await.status.code(), Some(1));
    write(&m.path("r.txt"), b"result");
    m.ok(&["push", &m.path("r.txt").to_string_lossy(), "/a/b/c"])
        .await;
    m.ok(&["mv", "/a/b/c/r.txt", "/a/renamed.txt"]).await;
    m.ok(&["mv", "/a/b", "/moved"]).await;
    assert_eq!(
        m.ok(&["ls", "-R", "/"]).await,
        "a/\nmoved/\na/renamed.txt\nmoved/c/\n"
    );
    let dry = m
        .ok(&[
            "push",
            "--dry-run",
            &m.path("r.txt").to_string_lossy(),
            "/new",
        ])
        .await;
    assert!(dry.contains("would send r.txt"), "{dry}");
    assert_eq!(
        m.ok(&["ls", "/"]).await,
        "a/\nmoved/\n",
        "a dry run creates nothing"
    );

    m.ok(&["share", "/moved", "grace", "--write"]).await;
    let shares = m.ok(&["share", "/moved", "--list"]).await;
    assert!(
        shares.contains("grace") && shares.contains("write"),
        "{shares}"
    );
    m.ok(&["share", "/moved", "grace", "--remove"]).await;
    assert!(m.ok(&["share", "/moved", "--list"]).await.is_empty());

    let url = m
        .ok(&[
            "link",
            "create",
            "/a/renamed.txt",
            "--expires-in",
            "7d",
            "--max-downloads",
            "2",
        ])
        .await;
    assert!(url.trim().contains("/s/"), "{url}");
    let links = m.ok(&["link", "list", "/a/renamed.txt"]).await;
    assert!(links.contains("downloads 0/2"), "{links}");
    let link_id = links.split_whitespace().next().expect("link id").to_owned();
    m.ok(&["link", "revoke", "/a/renamed.txt", &link_id]).await;
    assert!(m
        .ok(&["link", "list", "/a/renamed.txt"])
        .await
        .contains("revoked"));

    let usage = m.ok(&["usage"]).await;
    assert!(usage.contains("6 B used"), "{usage}");
    m.ok(&["token", "create", "--name", "ci"]).await;
    let tokens = m.ok(&["token", "list"]).await;
    let token_id = tokens
        .split_whitespace()
        .next()
        .expect("token id")
        .to_owned();
    m.ok(&["token", "revoke", &token_id]).await;
    let left: Value = app
        .get_auth("/api/v1/tokens", &frank.access)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(left["items"].as_array().map(Vec::len), Some(0));
    m.ok(&["rm", "/a/renamed.txt"]).await;
    assert_eq!(app.usage(&frank.access).await.used_objects, 0);
}
