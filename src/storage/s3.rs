//! The rust-s3 implementation of [`ObjectStore`].

use async_trait::async_trait;
use s3::creds::Credentials;
use s3::{Bucket, BucketConfiguration, Region};

use super::{ObjectStore, StorageError};

/// How to reach a bucket.
#[derive(Clone)]
pub struct S3Config {
    /// The endpoint the server talks to.
    pub endpoint: String,
    /// The endpoint clients reach; presigned URLs are signed for it.
    pub public_endpoint: String,
    pub region: String,
    pub bucket: String,
    pub access_key: String,
    pub secret_key: String,
    pub path_style: bool,
}

pub struct S3Store {
    /// Used for requests the server makes itself.
    bucket: Box<Bucket>,
    /// Same bucket addressed through the public endpoint, used only to sign URLs.
    #[allow(dead_code)]
    public: Box<Bucket>,
}

fn bucket_for(cfg: &S3Config, endpoint: &str) -> Result<Box<Bucket>, StorageError> {
    let region = Region::Custom {
        region: cfg.region.clone(),
        endpoint: endpoint.trim_end_matches('/').to_owned(),
    };
    let creds = Credentials::new(
        Some(&cfg.access_key),
        Some(&cfg.secret_key),
        None,
        None,
        None,
    )
    .map_err(|e| StorageError::Config(e.to_string()))?;
    let bucket =
        Bucket::new(&cfg.bucket, region, creds).map_err(|e| StorageError::Config(e.to_string()))?;
    Ok(if cfg.path_style {
        bucket.with_path_style()
    } else {
        bucket
    })
}

impl S3Store {
    pub fn new(cfg: &S3Config) -> Result<S3Store, StorageError> {
        Ok(S3Store {
            bucket: bucket_for(cfg, &cfg.endpoint)?,
            public: bucket_for(cfg, &cfg.public_endpoint)?,
        })
    }

    /// Creates the bucket if it does not exist yet (used for the embedded store).
    pub async fn ensure_bucket(&self, cfg: &S3Config) -> Result<(), StorageError> {
        if self.check().await.is_ok() {
            return Ok(());
        }
        let region = self.bucket.region.clone();
        let creds = Credentials::new(
            Some(&cfg.access_key),
            Some(&cfg.secret_key),
            None,
            None,
            None,
        )
        .map_err(|e| StorageError::Config(e.to_string()))?;
        let res = Bucket::create_with_path_style(
            &cfg.bucket,
            region,
            creds,
            BucketConfiguration::default(),
        )
        .await
        .map_err(|e| StorageError::Request(e.to_string()))?;
        match res.response_code {
            200..=299 | 409 => Ok(()),
            status => Err(StorageError::Status {
                status,
                message: res.response_text,
            }),
        }
    }
}

#[async_trait]
impl ObjectStore for S3Store {
    async fn check(&self) -> Result<(), StorageError> {
        let (_, status) = self
            .bucket
            .list_page(String::new(), None, None, None, Some(1))
            .await
            .map_err(|e| StorageError::Request(e.to_string()))?;
        if (200..300).contains(&status) {
            Ok(())
        } else {
            Err(StorageError::Status {
                status,
                message: "listing the bucket failed".into(),
            })
        }
    }
}
