//! The object store the settings name: an external S3 endpoint, or the embedded server
//! (`cofferd` starts it; other processes reach it over the same data dir).

use std::sync::Arc;

use secrecy::ExposeSecret as _;

use super::embedded::EmbeddedS3;
use super::s3::{S3Config, S3Store};
use super::{ObjectStore, StorageError};
use crate::config::Settings;

/// The store settings with `endpoint` and credentials filled in.
fn store_config(
    settings: &Settings,
    endpoint: String,
    access_key: String,
    secret_key: String,
    path_style: bool,
) -> S3Config {
    let s3 = &settings.s3;
    S3Config {
        public_endpoint: s3
            .public_endpoint
            .clone()
            .unwrap_or_else(|| endpoint.clone()),
        endpoint,
        region: s3.region.clone(),
        bucket: s3.bucket.clone(),
        access_key,
        secret_key,
        path_style,
    }
}

fn external_config(settings: &Settings) -> S3Config {
    let s3 = &settings.s3;
    let secret = |k: &Option<secrecy::SecretString>| {
        k.as_ref()
            .map(|k| k.expose_secret().to_owned())
            .unwrap_or_default()
    };
    store_config(
        settings,
        s3.endpoint.clone().unwrap_or_default(),
        secret(&s3.access_key),
        secret(&s3.secret_key),
        s3.path_style,
    )
}

/// The store as a separate process sees it: the external endpoint, or the embedded
/// server `cofferd` runs over the same data dir.
pub fn connect(settings: &Settings) -> Result<Arc<dyn ObjectStore>, StorageError> {
    let cfg = match &settings.s3.endpoint {
        Some(_) => external_config(settings),
        None => {
            let creds = super::embedded::client_credentials(&settings.data_dir)?;
            let endpoint = format!("http://127.0.0.1:{}", settings.s3.embedded_port);
            store_config(settings, endpoint, creds.access_key, creds.secret_key, true)
        }
    };
    Ok(Arc::new(S3Store::new(&cfg)?))
}

/// Connects to the configured store, or starts the embedded one (`cofferd`).
pub async fn start(settings: &Settings) -> Result<(S3Store, Option<EmbeddedS3>), StorageError> {
    let s3 = &settings.s3;
    if s3.endpoint.is_some() {
        let store = S3Store::new(&external_config(settings))?;
        // The web interface's uploads go straight to the store: it must allow its pages.
        if let Err(e) = store.allow_pages(&settings.web_origins()).await {
            tracing::warn!(
                error = %e,
                "could not set the bucket's CORS rule for the web interface; browsers \
                 cannot upload until the store allows COFFER_WEB_ORIGINS (see README)"
            );
        }
        return Ok((store, None));
    }
    let embedded =
        EmbeddedS3::start(&settings.data_dir, s3.embedded_port, settings.web_origins()).await?;
    let creds = &embedded.credentials;
    let cfg = store_config(
        settings,
        embedded.endpoint(),
        creds.access_key.clone(),
        creds.secret_key.clone(),
        true,
    );
    let store = S3Store::new(&cfg)?;
    store.ensure_bucket(&cfg).await?;
    Ok((store, Some(embedded)))
}

/// The cloud tier's store, when `COFFER_TIER_S3_ENDPOINT` is set.
pub fn connect_tier(settings: &Settings) -> Result<Option<Arc<dyn ObjectStore>>, StorageError> {
    let tier = &settings.tier;
    let Some(endpoint) = tier.endpoint.clone() else {
        return Ok(None);
    };
    let secret = |k: &Option<secrecy::SecretString>| {
        k.as_ref()
            .map(|k| k.expose_secret().to_owned())
            .unwrap_or_default()
    };
    let cfg = S3Config {
        public_endpoint: tier
            .public_endpoint
            .clone()
            .unwrap_or_else(|| endpoint.clone()),
        endpoint,
        region: tier.region.clone(),
        bucket: tier.bucket.clone(),
        access_key: secret(&tier.access_key),
        secret_key: secret(&tier.secret_key),
        path_style: tier.path_style,
    };
    Ok(Some(Arc::new(S3Store::new(&cfg)?)))
}
