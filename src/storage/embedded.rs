//! The embedded S3 server (s3s + s3s-fs) used when no `COFFER_S3_ENDPOINT` is set: it
//! listens on 127.0.0.1, stores under `<data_dir>/objects`, and is then used exactly like
//! an external store.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnBuilder;
use rand::distributions::{Alphanumeric, DistString};
use s3s::auth::SimpleAuth;
use s3s::dto::*;
use s3s::service::S3ServiceBuilder;
use s3s::{S3Request, S3Response, S3Result, S3};
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use super::StorageError;
use crate::secrets::write_private;

/// Credentials of the embedded server, generated once and kept under the data dir.
#[derive(Clone, Serialize, Deserialize)]
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

/// s3s-fs with the response overrides real S3 servers honour on GET
/// (`response-content-disposition`, `response-content-type`), so presigned downloads
/// behave the same against the embedded store as against Garage or AWS.
struct EmbeddedFs(s3s_fs::FileSystem);

#[async_trait::async_trait]
impl S3 for EmbeddedFs {
    async fn create_bucket(
        &self,
        req: S3Request<CreateBucketInput>,
    ) -> S3Result<S3Response<CreateBucketOutput>> {
        self.0.create_bucket(req).await
    }

    async fn head_bucket(
        &self,
        req: S3Request<HeadBucketInput>,
    ) -> S3Result<S3Response<HeadBucketOutput>> {
        self.0.head_bucket(req).await
    }

    async fn list_buckets(
        &self,
        req: S3Request<ListBucketsInput>,
    ) -> S3Result<S3Response<ListBucketsOutput>> {
        self.0.list_buckets(req).await
    }

    async fn get_bucket_location(
        &self,
        req: S3Request<GetBucketLocationInput>,
    ) -> S3Result<S3Response<GetBucketLocationOutput>> {
        self.0.get_bucket_location(req).await
    }

    async fn list_objects(
        &self,
        req: S3Request<ListObjectsInput>,
    ) -> S3Result<S3Response<ListObjectsOutput>> {
        self.0.list_objects(req).await
    }

    async fn list_objects_v2(
        &self,
        req: S3Request<ListObjectsV2Input>,
    ) -> S3Result<S3Response<ListObjectsV2Output>> {
        self.0.list_objects_v2(req).await
    }

    /// s3s-fs moves a new object into place before it compares the body with a
    /// declared `x-amz-checksum-sha256` or `Content-MD5`: a body that does not match
    /// would replace the key and only then be refused. Checked here, on the way in: such
    /// a body ends in an error instead, s3s-fs drops its temporary file, and the answer
    /// is `BadDigest`.
    async fn put_object(
        &self,
        mut req: S3Request<PutObjectInput>,
    ) -> S3Result<S3Response<PutObjectOutput>> {
        let expected = match (&req.input.checksum_sha256, &req.input.content_md5) {
            (Some(sha256), _) => Expected::Sha256(sha256.clone()),
            (None, Some(md5)) => Expected::Md5(md5.clone()),
            (None, None) => return self.0.put_object(req).await,
        };
        let Some(body) = req.input.body.take() else {
            return self.0.put_object(req).await;
        };
        let (body, mismatch) = checked(body, expected);
        req.input.body = Some(body);
        refused_if(mismatch, self.0.put_object(req).await)
    }

    async fn head_object(
        &self,
        req: S3Request<HeadObjectInput>,
    ) -> S3Result<S3Response<HeadObjectOutput>> {
        settled(req, |r| self.0.head_object(r)).await
    }

    async fn copy_object(
        &self,
        req: S3Request<CopyObjectInput>,
    ) -> S3Result<S3Response<CopyObjectOutput>> {
        settled(req, |r| self.0.copy_object(r)).await
    }

    async fn delete_object(
        &self,
        req: S3Request<DeleteObjectInput>,
    ) -> S3Result<S3Response<DeleteObjectOutput>> {
        // Two deletes of one key: the second sees the file, then fails to remove it.
        settled(req, |r| self.0.delete_object(r)).await
    }

    async fn delete_objects(
        &self,
        req: S3Request<DeleteObjectsInput>,
    ) -> S3Result<S3Response<DeleteObjectsOutput>> {
        self.0.delete_objects(req).await
    }

    async fn create_multipart_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        self.0.create_multipart_upload(req).await
    }

    /// s3s-fs ignores a part's `Content-MD5`: checked here as for `put_object`.
    async fn upload_part(
        &self,
        mut req: S3Request<UploadPartInput>,
    ) -> S3Result<S3Response<UploadPartOutput>> {
        let Some(md5) = req.input.content_md5.clone() else {
            return self.0.upload_part(req).await;
        };
        let Some(body) = req.input.body.take() else {
            return self.0.upload_part(req).await;
        };
        let (body, mismatch) = checked(body, Expected::Md5(md5));
        req.input.body = Some(body);
        refused_if(mismatch, self.0.upload_part(req).await)
    }

    async fn list_parts(
        &self,
        req: S3Request<ListPartsInput>,
    ) -> S3Result<S3Response<ListPartsOutput>> {
        self.0.list_parts(req).await
    }

    async fn complete_multipart_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        self.0.complete_multipart_upload(req).await
    }

    async fn abort_multipart_upload(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        self.0.abort_multipart_upload(req).await
    }

    async fn get_object(
        &self,
        req: S3Request<GetObjectInput>,
    ) -> S3Result<S3Response<GetObjectOutput>> {
        let disposition = req.input.response_content_disposition.clone();
        let content_type = req.input.response_content_type.clone();
        let mut res = settled(req, |r| self.0.get_object(r)).await?;
        if disposition.is_some() {
            res.output.content_disposition = disposition;
        }
        if content_type.is_some() {
            res.output.content_type = content_type;
        }
        Ok(res)
    }
}

/// A digest a body must have, base64 as its header carries it.
enum Expected {
    Sha256(String),
    Md5(String),
}

enum Hasher {
    Sha256(sha2::Sha256),
    Md5(md5::Md5),
}

impl Hasher {
    fn update(&mut self, bytes: &[u8]) {
        match self {
            Hasher::Sha256(h) => sha2::Digest::update(h, bytes),
            Hasher::Md5(h) => md5::Digest::update(h, bytes),
        }
    }

    fn base64(self) -> String {
        use base64::Engine as _;
        let engine = base64::engine::general_purpose::STANDARD;
        match self {
            Hasher::Sha256(h) => engine.encode(sha2::Digest::finalize(h)),
            Hasher::Md5(h) => engine.encode(md5::Digest::finalize(h)),
        }
    }
}

/// `body`, ending in an error instead of its end when its digest is not the expected
/// one; the flag tells that this is why.
fn checked(body: StreamingBlob, expected: Expected) -> (StreamingBlob, Arc<AtomicBool>) {
    use futures_util::StreamExt as _;
    let (want, hasher) = match expected {
        Expected::Sha256(want) => (want, Hasher::Sha256(sha2::Digest::new())),
        Expected::Md5(want) => (want, Hasher::Md5(md5::Digest::new())),
    };
    let mismatch = Arc::new(AtomicBool::new(false));
    let flag = mismatch.clone();
    let stream = futures_util::stream::unfold(Some((body, hasher)), move |state| {
        let (want, flag) = (want.clone(), flag.clone());
        async move {
            let (mut body, mut hasher) = state?;
            match body.next().await {
                Some(Ok(bytes)) => {
                    hasher.update(&bytes);
                    Some((Ok(bytes), Some((body, hasher))))
                }
                Some(Err(e)) => Some((Err(std::io::Error::other(e.to_string())), None)),
                None if hasher.base64() == want => None,
                None => {
                    flag.store(true, Ordering::Relaxed);
                    let e = std::io::Error::other("the body does not match its digest");
                    Some((Err(e), None))
                }
            }
        }
    });
    (StreamingBlob::wrap(stream), mismatch)
}

/// `BadDigest` when the body was cut short for not matching its digest.
fn refused_if<T>(mismatch: Arc<AtomicBool>, result: S3Result<T>) -> S3Result<T> {
    match result {
        Err(_) if mismatch.load(Ordering::Relaxed) => Err(s3s::s3_error!(
            BadDigest,
            "The body does not match the digest it was sent with."
        )),
        other => other,
    }
}

/// s3s-fs checks that an object exists, then reads or removes its files: an object deleted in
/// between makes it answer 500 InternalError. Asked again, it answers as the store now
/// is (404 NoSuchKey once the delete is through), as a real S3 server would have in
/// the first place. A delete removes several files, so a retry can land in the middle
/// of it too: a few retries, a few milliseconds apart; an error that persists is real.
async fn settled<T, R, F, Fut>(req: S3Request<T>, call: F) -> S3Result<R>
where
    T: Clone,
    F: Fn(S3Request<T>) -> Fut,
    Fut: std::future::Future<Output = S3Result<R>>,
{
    const RETRIES: u32 = 4;
    let mut pause = std::time::Duration::from_millis(2);
    for _ in 0..RETRIES {
        match call(req.clone()).await {
            Err(e) if *e.code() == s3s::S3ErrorCode::InternalError => {
                tokio::time::sleep(pause).await;
                pause *= 2;
            }
            done => return done,
        }
    }
    call(req).await
}

/// Answers CORS for the web interface's origins (`origins`), so that its pages can PUT
/// and GET through presigned URLs: a preflight from one of them is granted the methods
/// presigned URLs use and the headers it asks for, and every answer to a request from
/// one of them allows it and exposes `ETag`. Other origins get no CORS headers (their
/// scripts cannot use the store; the store itself answers as before).
async fn with_cors(
    s3: s3s::service::S3Service,
    origins: Arc<Vec<String>>,
    req: hyper::Request<hyper::body::Incoming>,
) -> Result<hyper::Response<s3s::Body>, s3s::HttpError> {
    use hyper::header::{self, HeaderValue};
    let origin = req
        .headers()
        .get(header::ORIGIN)
        .filter(|o| {
            origins
                .iter()
                .any(|allowed| o.as_bytes() == allowed.as_bytes())
        })
        .cloned();
    let preflight = req.method() == hyper::Method::OPTIONS
        && req
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    let mut res = match (&origin, preflight) {
        (Some(_), true) => {
            let mut res = hyper::Response::new(s3s::Body::empty());
            *res.status_mut() = hyper::StatusCode::NO_CONTENT;
            let h = res.headers_mut();
            h.insert(
                header::ACCESS_CONTROL_ALLOW_METHODS,
                HeaderValue::from_static("GET, HEAD, PUT"),
            );
            if let Some(asked) = req.headers().get(header::ACCESS_CONTROL_REQUEST_HEADERS) {
                h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, asked.clone());
            }
            h.insert(
                header::ACCESS_CONTROL_MAX_AGE,
                HeaderValue::from_static("3600"),
            );
            res
        }
        _ => hyper::service::Service::call(&s3, req).await?,
    };
    if let Some(origin) = origin {
        let h = res.headers_mut();
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        h.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static("ETag"),
        );
        h.append(header::VARY, HeaderValue::from_static("Origin"));
    }
    Ok(res)
}

impl EmbeddedS3 {
    /// Binds 127.0.0.1:`port` (0 = any free port) and serves `<data_dir>/objects`;
    /// pages from `web_origins` may use it (CORS).
    pub async fn start(
        data_dir: &Path,
        port: u16,
        web_origins: Vec<String>,
    ) -> Result<EmbeddedS3, StorageError> {
        let origins = Arc::new(web_origins);
        let root = data_dir.join("objects");
        std::fs::create_dir_all(&root)
            .map_err(|e| StorageError::Embedded(format!("{}: {e}", root.display())))?;
        let credentials = load_or_create_credentials(data_dir)?;
        let fs =
            s3s_fs::FileSystem::new(&root).map_err(|e| StorageError::Embedded(format!("{e:?}")))?;
        let service = {
            let mut b = S3ServiceBuilder::new(EmbeddedFs(fs));
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
                let (s3, origins) = (service.clone(), origins.clone());
                let with_cors = hyper::service::service_fn(move |req| {
                    with_cors(s3.clone(), origins.clone(), req)
                });
                let conn = http
                    .serve_connection(TokioIo::new(socket), with_cors)
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

/// How another process (`coffer-worker`) reaches the embedded server that `cofferd`
/// runs over the same data dir: its endpoint and the credentials kept there.
pub fn client_credentials(data_dir: &Path) -> Result<EmbeddedCredentials, StorageError> {
    let path = data_dir.join("embedded-s3.json");
    let text = std::fs::read_to_string(&path).map_err(|e| {
        StorageError::Embedded(format!(
            "{}: {e} (start cofferd first, or set COFFER_S3_ENDPOINT)",
            path.display()
        ))
    })?;
    serde_json::from_str(&text)
        .map_err(|e| StorageError::Embedded(format!("{}: {e}", path.display())))
}
