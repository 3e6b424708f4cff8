//! The command line of `coffer`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Parser)]
#[command(
    name = "coffer",
    version,
    about = "Coffer's command-line client: push and pull files, jobs, links and tokens.",
    after_help = "Exit status: 0 success, 1 some transfers or requests failed, 2 usage error, \
                  3 authentication, 4 quota or limit.\n\
                  COFFER_TOKEN (an API or job token) and COFFER_SERVER override the stored login."
)]
pub struct Cli {
    /// The server, e.g. https://coffer.example.org (default: the stored login's).
    #[arg(long, global = true, env = "COFFER_SERVER")]
    pub server: Option<String>,
    /// How to show progress: bars on a terminal and plain lines otherwise (auto), one
    /// JSON object per line (jsonl), or lines only.
    #[arg(long, global = true, value_enum, default_value_t = ProgressMode::Auto)]
    pub progress: ProgressMode,
    /// Print errors only.
    #[arg(long, short, global = true)]
    pub quiet: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProgressMode {
    Auto,
    Jsonl,
    Plain,
}

#[derive(Subcommand)]
pub enum Command {
    /// Sign in: device login (approve in a browser) unless --password.
    Login(LoginArgs),
    /// Sign out: ends this session on the server and forgets it here.
    Logout,
    /// Who the current credentials belong to.
    Whoami,
    /// Upload files and trees into a remote folder (created as needed).
    Push(PushArgs),
    /// Download a remote file or folder.
    Pull(PullArgs),
    /// Compare local files with the checksums the server stores.
    Verify(VerifyArgs),
    /// List a remote folder.
    Ls(LsArgs),
    /// Create a remote folder.
    Mkdir(MkdirArgs),
    /// Rename or move a remote file or folder.
    Mv(MvArgs),
    /// Delete a remote file, or a folder with -r.
    Rm(RmArgs),
    /// Your usage against your quota.
    Usage,
    /// Share a file or folder with a user, list or remove shares.
    Share(ShareArgs),
    /// Share links: create, list, revoke.
    #[command(subcommand)]
    Link(LinkCommand),
    /// HPC jobs: start, set state, finish, list, attach files.
    #[command(subcommand)]
    Job(JobCommand),
    /// API tokens for programs and batch jobs.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Print a shell completion script.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

#[derive(Args)]
pub struct LoginArgs {
    /// Sign in with a username and password instead of device login.
    #[arg(long)]
    pub password: bool,
    /// The username (asked when --password and not given).
    #[arg(long, short)]
    pub username: Option<String>,
}

#[derive(Args, Clone)]
pub struct TransferArgs {
    /// Files transferred at once.
    #[arg(long, short = 'j', default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub jobs: u16,
    /// Parts of one big file transferred at once.
    #[arg(long, default_value_t = 6, value_parser = clap::value_parser!(u16).range(1..=32))]
    pub part_jobs: u16,
    /// Print what would move, move nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Send (or fetch) files even when they are unchanged.
    #[arg(long)]
    pub force: bool,
    /// Most bytes per second over all transfers, e.g. 20M (0: no limit).
    #[arg(long, value_parser = parse_bytes, default_value = "0")]
    pub bwlimit: u64,
}

#[derive(Args)]
pub struct PushArgs {
    /// Local files and folders, then the remote folder (e.g. /results/run1).
    #[arg(required = true, num_args = 1..)]
    pub paths: Vec<PathBuf>,
    /// Push into this job's outputs folder (its Slurm id or Coffer id); the remote
    /// folder, if given, is then relative to it.
    #[arg(long)]
    pub job: Option<String>,
    #[command(flatten)]
    pub transfer: TransferArgs,
}

#[derive(Args)]
pub struct PullArgs {
    /// The remote file or folder.
    pub remote: String,
    /// Where to put it (default: the current folder).
    #[arg(default_value = ".")]
    pub local: PathBuf,
    #[command(flatten)]
    pub transfer: TransferArgs,
}

#[derive(Args)]
pub struct VerifyArgs {
    /// The remote file or folder.
    pub remote: String,
    /// The local copy.
    pub local: PathBuf,
}

#[derive(Args)]
pub struct LsArgs {
    /// The remote folder (default: the root).
    #[arg(default_value = "/")]
    pub remote: String,
    /// Long format: kind, size, modified, checksum.
    #[arg(short, long)]
    pub long: bool,
    /// Into sub-folders.
    #[arg(short = 'R', long)]
    pub recursive: bool,
}

#[derive(Args)]
pub struct MkdirArgs {
    pub remote: String,
    /// No error if it exists; parents are always created.
    #[arg(short, long)]
    pub parents: bool,
}

#[derive(Args)]
pub struct MvArgs {
    pub from: String,
    /// A new name, or an existing folder to move into (ends in `/` or exists).
    pub to: String,
}

#[derive(Args)]
pub struct RmArgs {
    #[arg(required = true)]
    pub remote: Vec<String>,
    /// Folders with everything in them.
    #[arg(short, long)]
    pub recursive: bool,
}

#[derive(Args)]
pub struct ShareArgs {
    /// The remote file or folder.
    pub remote: String,
    /// The user to share with (omit with --list).
    pub user: Option<String>,
    /// Write access (folders only); read otherwise.
    #[arg(long)]
    pub write: bool,
    /// List who has access.
    #[arg(long, conflicts_with_all = ["user", "remove"])]
    pub list: bool,
    /// Remove the user's share.
    #[arg(long)]
    pub remove: bool,
}

#[derive(Subcommand)]
pub enum LinkCommand {
    /// Create a link; prints its URL.
    Create {
        remote: String,
        /// Ask for a password (read from the terminal or stdin).
        #[arg(long)]
        password: bool,
        /// Expires after this long: 30m, 12h, 7d.
        #[arg(long, value_parser = parse_duration)]
        expires_in: Option<chrono::Duration>,
        /// At most this many downloads.
        #[arg(long)]
        max_downloads: Option<i64>,
    },
    /// A file's or folder's links with their download counts.
    List { remote: String },
    /// Revoke a link.
    Revoke { remote: String, link_id: String },
}

#[derive(Subcommand)]
pub enum JobCommand {
    /// Record a job (default: $SLURM_JOB_ID and $SLURM_CLUSTER_NAME, state RUNNING).
    Start {
        #[arg(long, env = "SLURM_JOB_ID")]
        slurm_id: Option<String>,
        #[arg(long, env = "SLURM_CLUSTER_NAME")]
        cluster: Option<String>,
        #[arg(long)]
        benchmark: Option<String>,
    },
    /// Set a job's state: PENDING, RUNNING, DONE, FAILED, CANCELLED.
    Set {
        /// Slurm id or Coffer id (default: $SLURM_JOB_ID).
        #[arg(long, env = "SLURM_JOB_ID")]
        job: String,
        state: String,
    },
    /// Finish a job: DONE when the exit code is 0, FAILED otherwise.
    Finish {
        #[arg(long, env = "SLURM_JOB_ID")]
        job: String,
        #[arg(long, allow_negative_numbers = true)]
        exit_code: i32,
    },
    /// Your jobs, oldest first.
    List {
        #[arg(long)]
        state: Option<String>,
    },
    /// Move remote files into a job's outputs folder.
    Attach {
        #[arg(long, env = "SLURM_JOB_ID")]
        job: String,
        #[arg(required = true)]
        remote: Vec<String>,
    },
}

#[derive(Subcommand)]
pub enum TokenCommand {
    /// Create a token; prints its secret once.
    Create {
        #[arg(long)]
        name: String,
        /// files:read, files:write, shares:write, jobs:write (comma-separated).
        #[arg(long, value_delimiter = ',', default_value = "files:read,files:write")]
        scope: Vec<String>,
        /// Lifetime in days.
        #[arg(long, default_value_t = 30)]
        days: i64,
        /// Confine the token to this remote folder.
        #[arg(long, conflicts_with = "job")]
        folder: Option<String>,
        /// Confine the token to this job's outputs folder (a job token).
        #[arg(long)]
        job: Option<String>,
        /// Most bytes the token may upload over its life, e.g. 10G.
        #[arg(long, value_parser = parse_bytes)]
        budget: Option<u64>,
    },
    /// Your tokens.
    List,
    /// Revoke a token by id.
    Revoke { id: String },
}

/// `64K`, `20M`, `10G`, `1T` (powers of 1024) or a plain number of bytes.
pub fn parse_bytes(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let (num, mult) = match s.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => {
            let m = match c.to_ascii_uppercase() {
                'K' => 1u64 << 10,
                'M' => 1 << 20,
                'G' => 1 << 30,
                'T' => 1 << 40,
                _ => return Err(format!("unknown unit in {s:?} (K, M, G, T)")),
            };
            (&s[..i], m)
        }
        _ => (s, 1),
    };
    let n: f64 = num.parse().map_err(|_| format!("not a size: {s:?}"))?;
    if !(n >= 0.0 && n.is_finite()) {
        return Err(format!("not a size: {s:?}"));
    }
    Ok((n * mult as f64) as u64)
}

/// `90s`, `30m`, `12h`, `7d`.
pub fn parse_duration(s: &str) -> Result<chrono::Duration, String> {
    let s = s.trim();
    let bad = || format!("not a duration: {s:?} (e.g. 30m, 12h, 7d)");
    let (num, unit) = s.split_at(s.len().saturating_sub(1));
    let n: i64 = num.parse().map_err(|_| bad())?;
    match unit {
        "s" => Ok(chrono::Duration::seconds(n)),
        "m" => Ok(chrono::Duration::minutes(n)),
        "h" => Ok(chrono::Duration::hours(n)),
        "d" => Ok(chrono::Duration::days(n)),
        _ => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_durations_parse() {
        assert_eq!(parse_bytes("64K"), Ok(65536));
        assert_eq!(parse_bytes("1.5M"), Ok(1572864));
        assert_eq!(parse_bytes("12"), Ok(12));
        assert!(parse_bytes("1X").is_err());
        assert!(parse_bytes("-1").is_err());
        assert_eq!(parse_duration("7d"), Ok(chrono::Duration::days(7)));
        assert!(parse_duration("7w").is_err());
    }

    #[test]
    fn the_command_line_is_consistent() {
        use clap::CommandFactory as _;
        Cli::command().debug_assert();
    }
}
