//! Requests to the native API: the bearer credential, one retry after a refresh on 401,
//! retries with backoff on connection errors, 429 and 5xx, and errors as one line.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::Mutex;

use super::session::{self, Stored, TokenAnswer};
use super::{CliError, Exit, Result};

/// How requests are authenticated.
enum Credential {
    /// `COFFER_TOKEN`: an API or job token, used as is.
    Token(String),
    /// The stored login, refreshed when it expires.
    Login(Mutex<Stored>),
    None,
}

pub struct Api {
    http: reqwest::Client,
    server: String,
    credential: Credential,
}

#[derive(Deserialize)]
struct ErrorAnswer {
    detail: Option<String>,
    error_code: Option<String>,
}

/// The exit status an API error maps to.
fn exit_for(status: StatusCode, code: &str) -> Exit {
    match (status.as_u16(), code) {
        (401 | 403, _) => Exit::Auth,
        (413 | 429, _) | (_, "QUOTA_EXCEEDED" | "TOKEN_BUDGET_EXCEEDED" | "UPLOAD_TOO_LARGE") => {
            Exit::Limit
        }
        _ => Exit::Failed,
    }
}

/// Turns an error answer into one line: the server's `detail`, else the status.
pub async fn error_of(resp: reqwest::Response) -> CliError {
    let status = resp.status();
    let body: Option<ErrorAnswer> = resp.json().await.ok();
    let code = body
        .as_ref()
        .and_then(|b| b.error_code.clone())
        .unwrap_or_default();
    let detail = body.and_then(|b| b.detail).unwrap_or_else(|| {
        format!(
            "the server answered {status}{}",
            if status == StatusCode::UNAUTHORIZED {
                ": run coffer login"
            } else {
                ""
            }
        )
    });
    CliError::new(exit_for(status, &code), detail)
}

fn transient(status: StatusCode) -> bool {
    status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error()
}

pub fn http_client() -> Result<reqwest::Client> {
    reqwest::Client::builder()
        .user_agent(concat!("coffer/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(15))
        .read_timeout(Duration::from_secs(120))
        .pool_max_idle_per_host(64)
        .build()
        .map_err(|e| CliError::failed(format!("cannot build the HTTP client: {e}")))
}

impl Api {
    /// The API as `COFFER_TOKEN`, `--server`/`COFFER_SERVER` and the stored login say.
    pub fn from_env(server: Option<&str>) -> Result<Api> {
        let stored = session::load()?;
        let token = std::env::var("COFFER_TOKEN").ok().filter(|t| !t.is_empty());
        let server = server
            .map(str::to_owned)
            .or_else(|| stored.as_ref().map(|s| s.server.clone()))
            .ok_or_else(|| {
                CliError::new(
                    Exit::Auth,
                    "not signed in: run coffer login --server URL (or set COFFER_SERVER and COFFER_TOKEN)",
                )
            })?;
        let credential = match (token, stored) {
            (Some(t), _) => Credential::Token(t),
            (None, Some(s)) if same_server(&s.server, &server) => Credential::Login(Mutex::new(s)),
            (None, _) => Credential::None,
        };
        Api::new(&server, credential)
    }

    /// An API without credentials (for login).
    pub fn anonymous(server: &str) -> Result<Api> {
        Api::new(server, Credential::None)
    }

    fn new(server: &str, credential: Credential) -> Result<Api> {
        let server = server.trim_end_matches('/').to_owned();
        if !(server.starts_with("http://") || server.starts_with("https://")) {
            return Err(CliError::usage(format!(
                "the server must be an http:// or https:// URL, not {server:?}"
            )));
        }
        Ok(Api {
            http: http_client()?,
            server,
            credential,
        })
    }

    pub fn server(&self) -> &str {
        &self.server
    }

    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// Who the requests are made as, for the resume journal's key (never the secret).
    pub async fn identity(&self) -> String {
        use sha2::Digest as _;
        match &self.credential {
            Credential::Token(t) => format!("token:{}", hex::encode(&sha2::Sha256::digest(t)[..8])),
            Credential::Login(s) => format!("login:{}", s.lock().await.username),
            Credential::None => "anonymous".into(),
        }
    }

    pub fn uses_login(&self) -> bool {
        matches!(self.credential, Credential::Login(_))
    }

    /// The bearer to send now: a stored login is refreshed first when it is about to
    /// expire (or when `rejected` is the token the server just refused).
    async fn bearer(&self, rejected: Option<&str>) -> Result<Option<String>> {
        let Credential::Login(stored) = &self.credential else {
            return Ok(match &self.credential {
                Credential::Token(t) => Some(t.clone()),
                _ => None,
            });
        };
        let mut s = stored.lock().await;
        if s.fresh() && rejected != Some(s.access_token.as_str()) {
            return Ok(Some(s.access_token.clone()));
        }
        let _lock = session::lock().await?;
        // Another process may have refreshed meanwhile: its tokens are ours too.
        if let Some(on_disk) = session::load()? {
            if on_disk.access_token != s.access_token && on_disk.fresh() {
                *s = on_disk;
                return Ok(Some(s.access_token.clone()));
            }
            if on_disk.refresh_token != s.refresh_token {
                *s = on_disk;
            }
        }
        let resp = self
            .http
            .post(format!("{}/api/v1/auth/refresh", self.server))
            .json(&serde_json::json!({ "refresh_token": s.refresh_token }))
            .send()
            .await
            .map_err(|e| CliError::failed(format!("cannot reach {}: {e}", self.server)))?;
        if !resp.status().is_success() {
            let e = error_of(resp).await;
            return Err(CliError::new(
                Exit::Auth,
                format!("your login has ended ({}): run coffer login", e.msg),
            ));
        }
        let answer: TokenAnswer = resp
            .json()
            .await
            .map_err(|e| CliError::failed(format!("unexpected answer to refresh: {e}")))?;
        *s = Stored::from_answer(&self.server, answer)?;
        session::save(&s)?;
        Ok(Some(s.access_token.clone()))
    }

    /// Sends a request to `path` (under the server), retrying what may be retried.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<reqwest::Response> {
        let url = format!("{}{path}", self.server);
        let mut rejected: Option<String> = None;
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let bearer = self.bearer(rejected.as_deref()).await?;
            let mut req = self.http.request(method.clone(), &url);
            if let Some(b) = &bearer {
                req = req.bearer_auth(b);
            }
            if let Some(body) = body {
                req = req.json(body);
            }
            match req.send().await {
                Ok(resp)
                    if resp.status() == StatusCode::UNAUTHORIZED
                        && self.uses_login()
                        && rejected.is_none() =>
                {
                    rejected = bearer;
                }
                Ok(resp) if transient(resp.status()) && attempt < 6 => {
                    let wait = resp
                        .headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.parse::<u64>().ok())
                        .map(Duration::from_secs)
                        .unwrap_or_else(|| backoff(attempt));
                    tokio::time::sleep(wait.min(Duration::from_secs(30))).await;
                }
                Ok(resp) => return Ok(resp),
                Err(_) if attempt < 6 => tokio::time::sleep(backoff(attempt)).await,
                Err(e) => {
                    return Err(CliError::failed(format!(
                        "cannot reach {}: {}",
                        self.server,
                        without_url(e)
                    )))
                }
            }
        }
    }

    /// A request whose answer must be a success with a JSON body.
    pub async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<T> {
        let resp = self.send(method, path, body).await?;
        if !resp.status().is_success() {
            return Err(error_of(resp).await);
        }
        resp.json()
            .await
            .map_err(|e| CliError::failed(format!("unexpected answer from {path}: {e}")))
    }

    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        self.call(Method::GET, path, None).await
    }

    pub async fn post<T: DeserializeOwned>(&self, path: &str, body: &Value) -> Result<T> {
        self.call(Method::POST, path, Some(body)).await
    }

    pub async fn patch<T: DeserializeOwned>(&self, path: &str, body: &Value) -> Result<T> {
        self.call(Method::PATCH, path, Some(body)).await
    }

    /// A request answered with no body (204).
    pub async fn delete(&self, path: &str) -> Result<()> {
        let resp = self.send(Method::DELETE, path, None).await?;
        match resp.status().is_success() {
            true => Ok(()),
            false => Err(error_of(resp).await),
        }
    }
}

fn same_server(a: &str, b: &str) -> bool {
    a.trim_end_matches('/') == b.trim_end_matches('/')
}

/// 0.2 s, 0.4 s, 0.8 s, … at most 10 s.
pub fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(200u64.saturating_mul(1 << attempt.min(6))).min(Duration::from_secs(10))
}

/// A transport error and its causes without the URL it carries: presigned URLs are
/// credentials.
pub fn without_url(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut msg = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        source = s.source();
    }
    msg
}
