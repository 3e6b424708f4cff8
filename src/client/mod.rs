//! `coffer`, the command-line client. It talks to the native API (`/api/v1`) and to the
//! presigned URLs it hands out, nothing else: the bytes go straight to the store.

mod api;
pub mod args;
mod commands;
mod hashing;
mod jobs;
mod journal;
mod login;
mod progress;
mod pull;
mod push;
mod remote;
mod session;
mod transfer;

use std::process::ExitCode;

use clap::Parser as _;

pub use api::Api;

/// What the process exits with: stable, documented in `coffer --help` and the README.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// Some transfers or requests failed.
    Failed = 1,
    Usage = 2,
    Auth = 3,
    /// Quota, budget, size or rate limit.
    Limit = 4,
}

/// An error for a person: one line, the server's `detail` when it gave one.
#[derive(Debug)]
pub struct CliError {
    pub exit: Exit,
    pub msg: String,
}

impl CliError {
    pub fn new(exit: Exit, msg: impl Into<String>) -> CliError {
        CliError {
            exit,
            msg: msg.into(),
        }
    }

    pub fn failed(msg: impl Into<String>) -> CliError {
        CliError::new(Exit::Failed, msg)
    }

    pub fn usage(msg: impl Into<String>) -> CliError {
        CliError::new(Exit::Usage, msg)
    }
}

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.msg)
    }
}

impl From<std::io::Error> for CliError {
    fn from(e: std::io::Error) -> CliError {
        CliError::failed(e.to_string())
    }
}

pub type Result<T, E = CliError> = std::result::Result<T, E>;

/// Parses the command line, runs it and turns the outcome into the exit status.
pub fn main() -> ExitCode {
    let cli = args::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("coffer: {e}");
            return ExitCode::from(Exit::Failed as u8);
        }
    };
    match runtime.block_on(commands::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("coffer: {}", e.msg);
            ExitCode::from(e.exit as u8)
        }
    }
}
