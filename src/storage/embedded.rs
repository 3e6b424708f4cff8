//! The embedded S3 server (s3s + s3s-fs) used when no `COFFER_S3_ENDPOINT` is set: it
//! listens on 127.0.0.1, stores under `<data_dir>/objects`, and is then used exactly like
//! an external store.

use std::net::SocketAddr;
use std::path::Path;

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnBuilder;
use rand::distributions::{Alphanumeric, DistString};
use s3s::auth::SimpleAuth;
use s3s::service::S3ServiceBuilder;
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use super::StorageError;
use crate::secrets::write_private;

/// Credentials of the embedded server, generated once and kept under the data dir.
#[derive(Serialize, Deserialize)]
pub struct EmbeddedCredentials {
    pub access_key: String,
    pub secret_key: String,
}

pub struct EmbeddedS3 {
    pub addr: SocketAddr,
    pub credentials: EmbeddedCredentials,
    task: JoinHandle<()>,
}

impl Drop for EmbeddedS3 {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn load_or_create_credentials(data_dir: &Path) -> Result<EmbeddedCredentials, StorageError> {
    let path = data_dir.join("embedded-s3.json");
    if let Ok(text) = std::fs::read_to_string(&path) {
        if let Ok(creds) = serde_json::from_str(&text) {
            return Ok(creds);
        }
    }
    let mut rng = rand::rngs::OsRng;
    let creds = EmbeddedCredentials {
        access_key: format!(
            "CF{}",
            Alphanumeric.sample_string(&mut rng, 18).to_uppercase()
        ),
        secret_key: Alphanumeric.sample_string(&mut rng, 40),
    };
    let text = serde_json::to_string(&creds).map_err(|e| StorageError::Embedded(e.to_string()))?;
    write_private(&path, text.as_bytes()).map_err(|e| StorageError::Embedded(e.to_string()))?;
    Ok(creds)
}

impl EmbeddedS3 {
    /// Binds 127.0.0.1:`port` (0 = any free port) and serves `<data_dir>/objects`.
    pub async fn start(data_dir: &Path, port: u16) -> Result<EmbeddedS3, StorageError> {
        let root = data_dir.join("objects");
        std::fs::create_dir_all(&root)
            .map_err(|e| StorageError::Embedded(format!("{}: {e}", root.display())))?;
        let credentials = load_or_create_credentials(data_dir)?;
        let fs =
            s3s_fs::FileSystem::new(&root).map_err(|e| StorageError::Embedded(format!("{e:?}")))?;
        let service = {
            let mut b = S3ServiceBuilder::new(fs);
            b.set_auth(SimpleAuth::from_single(
                credentials.access_key.clone(),
                credentials.secret_key.clone(),
            ));
            b.build()
        };
        let listener = TcpListener::bind(("127.0.0.1", port))
            .await
            .map_err(|e| StorageError::Embedded(format!("cannot bind 127.0.0.1:{port}: {e}")))?;
        let addr = listener
            .local_addr()
            .map_err(|e| StorageError::Embedded(e.to_string()))?;
        let task = tokio::spawn(async move {
            let http = ConnBuilder::new(TokioExecutor::new());
            loop {
                let socket = match listener.accept().await {
                    Ok((socket, _)) => socket,
                    Err(e) => {
                        tracing::warn!(error = %e, "embedded S3: accept failed");
                        continue;
                    }
                };
                let conn = http
                    .serve_connection(TokioIo::new(socket), service.clone())
                    .into_owned();
                tokio::spawn(async move {
                    let _ = conn.await;
                });
            }
        });
        tracing::info!(%addr, "embedded S3 server listening");
        Ok(EmbeddedS3 {
            addr,
            credentials,
            task,
        })
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }
}
