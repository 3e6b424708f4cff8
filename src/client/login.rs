//! `coffer login`: device login (RFC 8628: show a code, the user approves it in a
//! browser, the client polls) or a password read from the terminal or stdin.

use std::io::{BufRead as _, IsTerminal as _, Write as _};
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::json;

use super::args::LoginArgs;
use super::session::{self, Stored, TokenAnswer};
use super::{Api, CliError, Exit, Result};

#[derive(Deserialize)]
struct DeviceStart {
    device_code: String,
    user_code: String,
    verification_uri: String,
    verification_uri_complete: String,
    expires_in: i64,
    interval: i32,
}

#[derive(Deserialize)]
struct DevicePollError {
    error: Option<String>,
    detail: Option<String>,
    interval: Option<i32>,
}

pub async fn login(server: Option<&str>, args: LoginArgs) -> Result<()> {
    let server = match server {
        Some(s) => s.to_owned(),
        None => session::load()?.map(|s| s.server).ok_or_else(|| {
            CliError::usage("which server? coffer login --server https://coffer.example.org")
        })?,
    };
    let api = Api::anonymous(&server)?;
    let answer = match args.password {
        true => password_login(&api, args.username).await?,
        false => device_login(&api).await?,
    };
    let stored = Stored::from_answer(api.server(), answer)?;
    session::save(&stored)?;
    eprintln!("signed in to {} as {}", stored.server, stored.username);
    Ok(())
}

/// A line from the terminal (echoed) or from stdin.
fn read_line(prompt: &str) -> Result<String> {
    if std::io::stdin().is_terminal() {
        eprint!("{prompt}");
        let _ = std::io::stderr().flush();
    }
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

/// A secret from the terminal (not echoed) or the first line of stdin.
pub fn read_secret(prompt: &str) -> Result<String> {
    match std::io::stdin().is_terminal() {
        true => Ok(rpassword::prompt_password(prompt)?),
        false => read_line(""),
    }
}

async fn password_login(api: &Api, username: Option<String>) -> Result<TokenAnswer> {
    let username = match username {
        Some(u) => u,
        None => read_line("Username: ")?,
    };
    let password = read_secret("Password: ")?;
    let resp = api
        .http()
        .post(format!("{}/api/v1/auth/login", api.server()))
        .json(&json!({ "username": username, "password": password }))
        .send()
        .await
        .map_err(|e| {
            CliError::failed(format!(
                "cannot reach {}: {}",
                api.server(),
                super::api::without_url(e)
            ))
        })?;
    if !resp.status().is_success() {
        let e = super::api::error_of(resp).await;
        return Err(CliError::new(Exit::Auth, e.msg));
    }
    resp.json()
        .await
        .map_err(|e| CliError::failed(format!("unexpected answer to login: {e}")))
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown host".into())
}

async fn device_login(api: &Api) -> Result<TokenAnswer> {
    let start: DeviceStart = api
        .post(
            "/api/v1/auth/device",
            &json!({ "client_name": "coffer command-line client", "host": hostname() }),
        )
        .await?;
    eprintln!(
        "To sign in, open {}\nand enter the code {}\n(or open {})\nWaiting for approval…",
        start.verification_uri, start.user_code, start.verification_uri_complete
    );
    let deadline = Instant::now() + Duration::from_secs(start.expires_in.max(1) as u64);
    let mut interval = Duration::from_secs(start.interval.max(1) as u64);
    loop {
        tokio::time::sleep(interval).await;
        if Instant::now() > deadline {
            return Err(CliError::new(
                Exit::Auth,
                "the code expired: run coffer login again",
            ));
        }
        let resp = api
            .http()
            .post(format!("{}/api/v1/auth/device/token", api.server()))
            .json(&json!({
                "device_code": start.device_code,
                "grant_type": "urn:ietf:params:oauth:grant-type:device_code",
            }))
            .send()
            .await;
        let resp = match resp {
            Ok(r) => r,
            // A lost network while waiting: keep polling until the code expires.
            Err(_) => continue,
        };
        if resp.status().is_success() {
            return resp
                .json()
                .await
                .map_err(|e| CliError::failed(format!("unexpected answer to device login: {e}")));
        }
        if resp.status().is_server_error() || resp.status().as_u16() == 429 {
            continue;
        }
        let err: DevicePollError = resp
            .json()
            .await
            .map_err(|e| CliError::failed(format!("unexpected answer to device login: {e}")))?;
        match err.error.as_deref() {
            Some("authorization_pending") => {}
            Some("slow_down") => {
                interval = err
                    .interval
                    .map(|i| Duration::from_secs(i.max(1) as u64))
                    .unwrap_or(interval + Duration::from_secs(5));
            }
            Some("access_denied") => {
                return Err(CliError::new(Exit::Auth, "the sign-in was denied"))
            }
            _ => {
                return Err(CliError::new(
                    Exit::Auth,
                    err.detail.unwrap_or_else(|| {
                        "the device login failed: run coffer login again".into()
                    }),
                ))
            }
        }
    }
}
