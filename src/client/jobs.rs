//! Jobs by Slurm id or Coffer id, for the commands and for `push --job`.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use uuid::Uuid;

use super::remote::urlencode;
use super::{Api, CliError, Result};

#[derive(Deserialize)]
struct Page {
    items: Vec<Job>,
}

#[derive(Deserialize)]
pub struct Job {
    pub id: Uuid,
    pub slurm_job_id: Option<String>,
    pub cluster: String,
    pub benchmark: Option<String>,
    pub state: String,
    pub exit_code: Option<i32>,
    pub folder_id: Option<Uuid>,
    pub submitted_at: DateTime<Utc>,
}

/// A job by its Coffer id, or by Slurm id (on `$SLURM_CLUSTER_NAME` when several match).
pub async fn find_job(api: &Api, job: &str) -> Result<Job> {
    if let Ok(id) = Uuid::parse_str(job) {
        return api.get(&format!("/api/v1/jobs/{id}")).await;
    }
    let jobs: Page = api
        .get(&format!("/api/v1/jobs?slurm_job_id={}", urlencode(job)))
        .await?;
    let cluster = std::env::var("SLURM_CLUSTER_NAME").unwrap_or_default();
    let mut items = jobs.items;
    let pick = match items.iter().position(|j| j.cluster == cluster) {
        Some(i) => i,
        None if !items.is_empty() => items.len() - 1,
        None => {
            return Err(CliError::failed(format!(
                "no job {job}: coffer job start first"
            )))
        }
    };
    Ok(items.swap_remove(pick))
}

/// The outputs folder of a job.
pub async fn job_folder(api: &Api, job: &str) -> Result<Option<Uuid>> {
    match find_job(api, job).await?.folder_id {
        Some(id) => Ok(Some(id)),
        None => Err(CliError::failed(format!("job {job} has no outputs folder"))),
    }
}
