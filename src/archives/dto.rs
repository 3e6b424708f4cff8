//! Request types of the archives API.

use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateArchiveRequest {
    /// Files and folders to bundle (folders with everything below them).
    #[schema(min_items = 1)]
    pub ids: Vec<Uuid>,
    /// The archive's file name (default `archive.zip`).
    #[schema(example = "job-4711.zip", min_length = 1)]
    pub name: Option<String>,
}
