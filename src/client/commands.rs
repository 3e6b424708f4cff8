//! Every command but the transfers: listing and arranging files, usage, shares, links,
//! jobs and tokens.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{json, Value};
use uuid::Uuid;

use super::args::{
    Cli, Command, JobCommand, LinkCommand, LsArgs, MvArgs, RmArgs, ShareArgs, TokenCommand,
};
use super::jobs::{find_job, job_folder, Job};
use super::progress::{human, Progress};
use super::remote::{self, urlencode, Entry, Located};
use super::{session, Api, CliError, Result};

pub async fn run(cli: Cli) -> Result<()> {
    let server = cli.server.as_deref();
    let api = || -> Result<Arc<Api>> { Api::from_env(server).map(Arc::new) };
    match cli.command {
        Command::Login(args) => super::login::login(server, args).await,
        Command::Logout => logout(server).await,
        Command::Whoami => whoami(&*api()?).await,
        Command::Push(args) => {
            let progress = Progress::new(cli.progress, cli.quiet);
            super::push::push(api()?, progress, args).await
        }
        Command::Pull(args) => {
            let progress = Progress::new(cli.progress, cli.quiet);
            super::pull::pull(api()?, progress, args).await
        }
        Command::Verify(args) => super::pull::verify(api()?, args).await,
        Command::Ls(args) => ls(&*api()?, args).await,
        Command::Mkdir(args) => {
            let api = api()?;
            if !args.parents && remote::find(&api, None, &args.remote).await?.is_some() {
                return Err(CliError::failed(format!("{} exists", args.remote)));
            }
            remote::ensure_folder(&api, None, &args.remote)
                .await
                .map(drop)
        }
        Command::Mv(args) => mv(&*api()?, args).await,
        Command::Rm(args) => rm(&*api()?, args).await,
        Command::Usage => usage(&*api()?).await,
        Command::Share(args) => share(&*api()?, args).await,
        Command::Link(cmd) => link(&*api()?, cmd).await,
        Command::Job(cmd) => job(&*api()?, cmd).await,
        Command::Token(cmd) => token(&*api()?, cmd).await,
        Command::Completions { shell } => {
            use clap::CommandFactory as _;
            clap_complete::generate(shell, &mut Cli::command(), "coffer", &mut std::io::stdout());
            Ok(())
        }
    }
}

async fn logout(server: Option<&str>) -> Result<()> {
    if session::load()?.is_some() {
        let api = Api::from_env(server)?;
        if api.uses_login() {
            // The session ends on the server too; forgotten here even if that fails.
            if let Err(e) = api
                .send(reqwest::Method::POST, "/api/v1/auth/logout", None)
                .await
            {
                eprintln!("coffer: the server did not end the session: {}", e.msg);
            }
        }
    }
    session::forget()?;
    eprintln!("signed out");
    Ok(())
}

#[derive(Deserialize)]
struct Me {
    username: String,
    role: String,
}

async fn whoami(api: &Api) -> Result<()> {
    let me: Me = api.get("/api/v1/auth/me").await?;
    let how = match std::env::var("COFFER_TOKEN").ok().filter(|t| !t.is_empty()) {
        Some(_) => "an API token (COFFER_TOKEN)",
        None => "a login",
    };
    println!(
        "{} ({}) on {} with {how}",
        me.username,
        me.role,
        api.server()
    );
    Ok(())
}

fn print_entry(e: &Entry, long: bool, prefix: &str) {
    let name = format!("{prefix}{}{}", e.name, if e.is_folder() { "/" } else { "" });
    if !long {
        println!("{name}");
        return;
    }
    let size = match e.is_folder() {
        true => "-".into(),
        false => human(e.size as u64),
    };
    let state = if e.state == "active" {
        ""
    } else {
        " (pending)"
    };
    println!(
        "{:<6} {:>10}  {}  {:<44}  {name}{state}",
        e.kind,
        size,
        e.updated_at.format("%Y-%m-%d %H:%M"),
        e.checksum_sha256.as_deref().unwrap_or("-"),
    );
}

async fn ls(api: &Api, args: LsArgs) -> Result<()> {
    let folder = match remote::resolve(api, None, &args.remote).await? {
        Located::Entry(e) if !e.is_folder() => {
            print_entry(&e, args.long, "");
            return Ok(());
        }
        l => l.folder(&args.remote)?,
    };
    let mut stack = vec![(folder, String::new())];
    while let Some((id, prefix)) = stack.pop() {
        let items = remote::list(api, id).await?;
        for e in &items {
            print_entry(e, args.long, &prefix);
        }
        if args.recursive {
            for e in items.into_iter().rev().filter(Entry::is_folder) {
                stack.push((Some(e.id), format!("{prefix}{}/", e.name)));
            }
        }
    }
    Ok(())
}

fn entry_of(l: Located, path: &str) -> Result<Entry> {
    match l {
        Located::Entry(e) => Ok(e),
        Located::Root => Err(CliError::usage(format!(
            "{path}: the root cannot be changed"
        ))),
    }
}

async fn mv(api: &Api, args: MvArgs) -> Result<()> {
    let from = entry_of(remote::resolve(api, None, &args.from).await?, &args.from)?;
    let body = match remote::find(api, None, &args.to).await? {
        Some(l @ Located::Root) => json!({ "parent_id": l.folder(&args.to)? }),
        Some(Located::Entry(e)) if e.is_folder() => json!({ "parent_id": e.id }),
        Some(Located::Entry(_)) => {
            return Err(CliError::failed(format!("{} exists", args.to)));
        }
        None => {
            let names = remote::components(&args.to)?;
            let Some((name, parent)) = names.split_last() else {
                return Err(CliError::usage("give a new name or a folder"));
            };
            let parent_path = parent.join("/");
            let parent = remote::resolve(api, None, &parent_path)
                .await?
                .folder(&parent_path)?;
            json!({ "name": name, "parent_id": parent })
        }
    };
    let _: Entry = api
        .patch(&format!("/api/v1/files/{}", from.id), &body)
        .await?;
    Ok(())
}

async fn rm(api: &Api, args: RmArgs) -> Result<()> {
    for path in &args.remote {
        let e = entry_of(remote::resolve(api, None, path).await?, path)?;
        if e.is_folder() && !args.recursive {
            return Err(CliError::usage(format!(
                "{path} is a folder: use rm -r to delete it with everything in it"
            )));
        }
        api.delete(&format!("/api/v1/files/{}", e.id)).await?;
    }
    Ok(())
}

#[derive(Deserialize)]
struct Usage {
    used_bytes: i64,
    reserved_bytes: i64,
    quota_bytes: i64,
    used_objects: i64,
    reserved_objects: i64,
    quota_objects: i64,
}

async fn usage(api: &Api) -> Result<()> {
    let u: Usage = api.get("/api/v1/me/usage").await?;
    let pct = |a: i64, b: i64| {
        if b > 0 {
            a as f64 * 100.0 / b as f64
        } else {
            0.0
        }
    };
    println!(
        "bytes:   {} used, {} reserved, of {} ({:.1}%)",
        human(u.used_bytes as u64),
        human(u.reserved_bytes as u64),
        human(u.quota_bytes as u64),
        pct(u.used_bytes + u.reserved_bytes, u.quota_bytes)
    );
    println!(
        "objects: {} used, {} reserved, of {} ({:.1}%)",
        u.used_objects,
        u.reserved_objects,
        u.quota_objects,
        pct(u.used_objects + u.reserved_objects, u.quota_objects)
    );
    Ok(())
}

#[derive(Deserialize)]
struct Items<T> {
    items: Vec<T>,
    #[serde(default)]
    next_cursor: Option<String>,
}

#[derive(Deserialize)]
struct Share {
    username: String,
    permission: String,
    inherited: bool,
}

async fn share(api: &Api, args: ShareArgs) -> Result<()> {
    let e = entry_of(
        remote::resolve(api, None, &args.remote).await?,
        &args.remote,
    )?;
    let path = format!("/api/v1/files/{}/shares", e.id);
    if args.list {
        let shares: Items<Share> = api.get(&path).await?;
        for s in shares.items {
            let how = if s.inherited {
                " (from a folder above)"
            } else {
                ""
            };
            println!("{:<24} {}{how}", s.username, s.permission);
        }
        return Ok(());
    }
    let Some(user) = args.user else {
        return Err(CliError::usage("name the user to share with (or --list)"));
    };
    if args.remove {
        return api.delete(&format!("{path}/{}", urlencode(&user))).await;
    }
    let permission = if args.write { "write" } else { "read" };
    let _: Value = api
        .post(
            &path,
            &json!({ "username": user, "permission": permission }),
        )
        .await?;
    println!("shared {} with {user} ({permission})", args.remote);
    Ok(())
}

#[derive(Deserialize)]
struct Link {
    id: Uuid,
    state: String,
    expires_at: Option<DateTime<Utc>>,
    password_protected: bool,
    max_downloads: Option<i64>,
    download_count: i64,
}

#[derive(Deserialize)]
struct CreatedLink {
    url: String,
}

async fn link(api: &Api, cmd: LinkCommand) -> Result<()> {
    match cmd {
        LinkCommand::Create {
            remote: path,
            password,
            expires_in,
            max_downloads,
        } => {
            let e = entry_of(remote::resolve(api, None, &path).await?, &path)?;
            let password = match password {
                true => Some(super::login::read_secret("Link password: ")?),
                false => None,
            };
            let created: CreatedLink = api
                .post(
                    &format!("/api/v1/files/{}/links", e.id),
                    &json!({
                        "expires_at": expires_in.map(|d| Utc::now() + d),
                        "password": password,
                        "max_downloads": max_downloads,
                    }),
                )
                .await?;
            println!("{}", created.url);
        }
        LinkCommand::List { remote: path } => {
            let e = entry_of(remote::resolve(api, None, &path).await?, &path)?;
            let links: Items<Link> = api.get(&format!("/api/v1/files/{}/links", e.id)).await?;
            for l in links.items {
                println!(
                    "{}  {:<8} downloads {}{}  expires {}{}",
                    l.id,
                    l.state,
                    l.download_count,
                    l.max_downloads.map(|m| format!("/{m}")).unwrap_or_default(),
                    l.expires_at
                        .map(|t| t.format("%Y-%m-%d %H:%M").to_string())
                        .unwrap_or_else(|| "never".into()),
                    if l.password_protected {
                        "  password"
                    } else {
                        ""
                    },
                );
            }
        }
        LinkCommand::Revoke {
            remote: path,
            link_id,
        } => {
            let e = entry_of(remote::resolve(api, None, &path).await?, &path)?;
            api.delete(&format!(
                "/api/v1/files/{}/links/{}",
                e.id,
                urlencode(&link_id)
            ))
            .await?;
        }
    }
    Ok(())
}

fn print_job(j: &Job) {
    println!(
        "{}  slurm {:<10} {:<10} {:<9} exit {:<4} {}  {}",
        j.id,
        j.slurm_job_id.as_deref().unwrap_or("-"),
        if j.cluster.is_empty() {
            "-"
        } else {
            &j.cluster
        },
        j.state,
        j.exit_code
            .map(|c| c.to_string())
            .unwrap_or_else(|| "-".into()),
        j.submitted_at.format("%Y-%m-%d %H:%M"),
        j.benchmark.as_deref().unwrap_or(""),
    );
}

async fn job(api: &Api, cmd: JobCommand) -> Result<()> {
    match cmd {
        JobCommand::Start {
            slurm_id,
            cluster,
            benchmark,
        } => {
            let body = json!({"slurm_job_id": slurm_id, "cluster": cluster,
                              "benchmark": benchmark, "state": "RUNNING"});
            let resp = api
                .send(reqwest::Method::POST, "/api/v1/jobs", Some(&body))
                .await?;
            let job: Job = match (resp.status().as_u16(), &slurm_id) {
                (409, Some(id)) => find_job(api, id).await?,
                (s, _) if (200..300).contains(&s) => resp
                    .json()
                    .await
                    .map_err(|e| CliError::failed(e.to_string()))?,
                _ => return Err(super::api::error_of(resp).await),
            };
            print_job(&job);
        }
        JobCommand::Set { job, state } => {
            let j = find_job(api, &job).await?;
            let j: Job = api
                .patch(
                    &format!("/api/v1/jobs/{}", j.id),
                    &json!({ "state": state.to_ascii_uppercase() }),
                )
                .await?;
            print_job(&j);
        }
        JobCommand::Finish { job, exit_code } => {
            let j = find_job(api, &job).await?;
            let state = if exit_code == 0 { "DONE" } else { "FAILED" };
            let j: Job = api
                .patch(
                    &format!("/api/v1/jobs/{}", j.id),
                    &json!({ "state": state, "exit_code": exit_code }),
                )
                .await?;
            print_job(&j);
        }
        JobCommand::List { state } => {
            let mut cursor: Option<String> = None;
            loop {
                let mut path = "/api/v1/jobs?limit=1000".to_owned();
                if let Some(s) = &state {
                    path.push_str(&format!("&state={}", urlencode(&s.to_ascii_uppercase())));
                }
                if let Some(c) = &cursor {
                    path.push_str(&format!("&cursor={}", urlencode(c)));
                }
                let page: Items<Job> = api.get(&path).await?;
                page.items.iter().for_each(print_job);
                match page.next_cursor {
                    Some(c) => cursor = Some(c),
                    None => break,
                }
            }
        }
        JobCommand::Attach { job, remote: paths } => {
            let folder = job_folder(api, &job).await?;
            for path in paths {
                let e = entry_of(remote::resolve(api, None, &path).await?, &path)?;
                let _: Entry = api
                    .patch(
                        &format!("/api/v1/files/{}", e.id),
                        &json!({ "parent_id": folder }),
                    )
                    .await?;
            }
        }
    }
    Ok(())
}

#[derive(Deserialize)]
struct TokenInfo {
    id: Uuid,
    name: String,
    scopes: Vec<String>,
    expires_at: DateTime<Utc>,
    last_used_at: Option<DateTime<Utc>>,
    folder_id: Option<Uuid>,
    expired: bool,
}

#[derive(Deserialize)]
struct CreatedToken {
    token: String,
    #[serde(flatten)]
    info: TokenInfo,
}

async fn token(api: &Api, cmd: TokenCommand) -> Result<()> {
    match cmd {
        TokenCommand::Create {
            name,
            scope,
            days,
            folder,
            job,
            budget,
        } => {
            let folder_id = match (folder, job) {
                (Some(path), _) => remote::resolve(api, None, &path).await?.folder(&path)?,
                (_, Some(job)) => job_folder(api, &job).await?,
                _ => None,
            };
            let created: CreatedToken = api
                .post(
                    "/api/v1/tokens",
                    &json!({
                        "name": name, "scopes": scope, "folder_id": folder_id,
                        "expires_at": Utc::now() + chrono::Duration::days(days),
                        "budget_bytes": budget,
                    }),
                )
                .await?;
            eprintln!(
                "token {} ({}), expires {}; the secret is shown once:",
                created.info.id,
                created.info.scopes.join(","),
                created.info.expires_at.format("%Y-%m-%d")
            );
            println!("{}", created.token);
        }
        TokenCommand::List => {
            let list: Items<TokenInfo> = api.get("/api/v1/tokens").await?;
            for t in list.items {
                println!(
                    "{}  {:<20} {:<40} expires {}{}  last used {}{}",
                    t.id,
                    t.name,
                    t.scopes.join(","),
                    t.expires_at.format("%Y-%m-%d"),
                    if t.expired { " (expired)" } else { "" },
                    t.last_used_at
                        .map(|d| d.format("%Y-%m-%d %H:%M").to_string())
                        .unwrap_or_else(|| "never".into()),
                    t.folder_id
                        .map(|f| format!("  confined to {f}"))
                        .unwrap_or_default(),
                );
            }
        }
        TokenCommand::Revoke { id } => {
            api.delete(&format!("/api/v1/tokens/{}", urlencode(&id)))
                .await?;
        }
    }
    Ok(())
}
