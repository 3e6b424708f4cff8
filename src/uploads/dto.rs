//! Request and response types of the uploads API.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::repo::UploadState;
use crate::error::ErrorBody;
use crate::files::dto::FileResponse;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartUploadRequest {
    /// The file's display name.
    #[schema(example = "results.tar.gz", min_length = 1)]
    pub name: String,
    /// The target folder; omitted or null for the root.
    pub parent_id: Option<Uuid>,
    /// Exact size in bytes.
    #[schema(example = 1048576)]
    pub size: u64,
    /// Media type (default `application/octet-stream`).
    #[schema(example = "application/gzip")]
    pub content_type: Option<String>,
    /// The content's SHA-256 in base64 (as S3's `x-amz-checksum-sha256`), single-part
    /// uploads only: signed into the PUT, whose `headers` then carry it, so the store
    /// refuses any other bytes; kept in the file's metadata.
    #[schema(
        example = "n4bQgYhMfWWaL+qgxVrQFaO/TxsrC4Is0V1sFbDwCgg=",
        min_length = 44,
        max_length = 44
    )]
    pub checksum_sha256: Option<String>,
}

/// A presigned request. Send exactly these headers: they are part of the signature.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct PresignedRequest {
    #[schema(example = "PUT")]
    pub method: String,
    /// A bearer credential: do not share or log it.
    pub url: String,
    pub headers: BTreeMap<String, String>,
    pub expires_at: DateTime<Utc>,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct UploadResponse {
    pub upload_id: Uuid,
    pub file: FileResponse,
    pub state: UploadState,
    /// `single` (one PUT to `put`) or `multipart` (ask for part URLs).
    #[schema(example = "single")]
    pub mode: String,
    pub size: i64,
    /// Multipart: every part has this size except the last.
    pub part_size: Option<i64>,
    pub part_count: i32,
    /// The single-part PUT.
    pub put: Option<PresignedRequest>,
    /// When the upload is ended by reconciliation if still open.
    pub expires_at: DateTime<Utc>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PartUrlsRequest {
    /// Part numbers (1-based), at most 1000 per request.
    #[schema(example = json!([1, 2, 3]), min_items = 1, max_items = 1000)]
    pub part_numbers: Vec<u32>,
    /// Optional: each part's MD5 in base64, one per part number in the same order. Each
    /// is signed into its part's URL, whose headers then carry `Content-MD5`, so the
    /// store refuses a corrupted part.
    #[schema(example = json!(["1B2M2Y8AsgTpgAmY7PhCfg=="]))]
    pub content_md5: Option<Vec<String>>,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct PartUrl {
    pub part_number: u32,
    /// The part's exact size; it is signed as `Content-Length`.
    pub size: u64,
    pub method: String,
    /// A bearer credential: do not share or log it.
    pub url: String,
    pub headers: BTreeMap<String, String>,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct PartUrlsResponse {
    pub parts: Vec<PartUrl>,
    pub expires_at: DateTime<Utc>,
}

/// The optional body of `POST /uploads/{id}/complete`.
#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct CompleteUploadRequest {
    /// Multipart uploads only: the whole file's SHA-256 in base64, as the client
    /// computed it while reading the parts it sent (the store verified each part's
    /// `Content-MD5`). Recorded in the file's metadata as declared.
    #[schema(
        example = "n4bQgYhMfWWaL+qgxVrQFaO/TxsrC4Is0V1sFbDwCgg=",
        min_length = 44,
        max_length = 44
    )]
    pub checksum_sha256: Option<String>,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct StoredPartResponse {
    pub part_number: u32,
    pub size: u64,
    pub etag: String,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct UploadStatusResponse {
    pub upload_id: Uuid,
    pub file_id: Option<Uuid>,
    pub state: UploadState,
    pub mode: String,
    pub size: i64,
    pub part_size: Option<i64>,
    pub part_count: i32,
    /// Parts the store holds with the right size.
    pub parts_done: Vec<StoredPartResponse>,
    /// Parts still to send (`[1]` for a single upload the store does not hold yet).
    pub missing_parts: Vec<u32>,
    pub expires_at: DateTime<Utc>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartBatchRequest {
    /// 1 to 1,000 starts, each as `POST /uploads` takes it.
    #[schema(min_items = 1, max_items = 1000)]
    pub uploads: Vec<StartUploadRequest>,
}

/// One start of a batch: `status` is what `POST /uploads` would have answered (201, 200
/// for a retry of an identical open upload, or an error); `upload` is set on success,
/// `error` otherwise.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct StartBatchItem {
    #[schema(example = 201)]
    pub status: u16,
    pub upload: Option<UploadResponse>,
    pub error: Option<ErrorBody>,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct StartBatchResponse {
    /// One per requested start, in the request's order.
    pub items: Vec<StartBatchItem>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CompleteBatchRequest {
    /// 1 to 1,000 uploads to complete.
    #[schema(min_items = 1, max_items = 1000)]
    pub upload_ids: Vec<Uuid>,
}

/// One completion of a batch: `status` is what `POST /uploads/{id}/complete` would have
/// answered; `file` is set on success, `error` otherwise.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct CompleteBatchItem {
    pub upload_id: Uuid,
    #[schema(example = 200)]
    pub status: u16,
    pub file: Option<FileResponse>,
    pub error: Option<ErrorBody>,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct CompleteBatchResponse {
    /// One per requested upload, in the request's order.
    pub items: Vec<CompleteBatchItem>,
}

/// What a client needs to plan its uploads.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct UploadLimitsResponse {
    /// Uploads bigger than this are multipart: give their whole-file SHA-256 at complete,
    /// not at start.
    #[schema(example = 67108864)]
    pub multipart_threshold_bytes: u64,
    /// The largest upload allowed (a runtime setting).
    pub max_upload_bytes: u64,
    /// Most starts or completes in one batch request.
    #[schema(example = 1000)]
    pub max_batch: usize,
}
