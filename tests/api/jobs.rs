//! HPC job records: recorded on first sight by the benchwrap protocol, created and
//! moved on through `/api/v1/jobs`, filtered, paged, and private to their owner.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::benchwrap::{client_login, listed, push, roomy_app};
use crate::helpers::{assert_error, upload_into, TestApp};

async fn patch(app: &TestApp, access: &str, path: &str, body: Value) -> reqwest::Response {
    app.client
        .patch(app.url(path))
        .bearer_auth(access)
        .json(&body)
        .send()
        .await
        .expect("patch")
}

async fn jobs(app: &TestApp, access: &str, query: &str) -> Value {
    let res = app.get_auth(&format!("/api/v1/jobs{query}"), access).await;
    assert_eq!(res.status(), StatusCode::OK, "{query}");
    res.json().await.expect("json")
}

async fn file_names(app: &TestApp, access: &str, job: &str) -> Vec<String> {
    let res = app
        .get_auth(&format!("/api/v1/jobs/{job}/files"), access)
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.expect("json");
    body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|f| f["name"].as_str().expect("name").to_owned())
        .collect()
}

#[tokio::test]
async fn the_protocol_records_jobs_on_first_sight_and_attaches_their_files() {
    let app = roomy_app().await;
    let (access, _) = client_login(&app, "hpc-gus").await;
    // By path (job_4242), twice for one job; by name (77_0_…) with a benchmark named by
    // the client; and a file that names no job.
    push(
        &app,
        &access,
        "flops_matrix_mul/job_4242/4242_batch_c0107.h5",
        vec![1; 64],
        "application/x-hdf5",
    )
    .await;
    push(
        &app,
        &access,
        "flops_matrix_mul/job_4242/results.csv",
        b"a,b".to_vec(),
        "text/csv",
    )
    .await;
    push(
        &app,
        &access,
        "runs/77_0_triad.csv",
        b"t".to_vec(),
        "text/csv",
    )
    .await;
    push(
        &app,
        &access,
        "notes/readme.txt",
        b"r".to_vec(),
        "text/plain",
    )
    .await;
    assert_eq!(listed(&app, &access).await.len(), 4);
    let all = jobs(&app, &access, "").await;
    let items = all["items"].as_array().expect("items");
    assert_eq!(items.len(), 2, "{all}");
    let by_slurm = |id: &str| {
        items
            .iter()
            .find(|j| j["slurm_job_id"] == id)
            .unwrap_or_else(|| panic!("job {id} in {all}"))
            .clone()
    };
    let flops = by_slurm("4242");
    assert_eq!(flops["benchmark"], "flops_matrix_mul");
    assert_eq!(flops["state"], "PENDING");
    assert!(flops["folder_id"].is_string(), "an outputs folder");
    let mut names = file_names(&app, &access, flops["id"].as_str().expect("id")).await;
    names.sort();
    assert_eq!(names, ["4242_batch_c0107.h5", "results.csv"]);
    let runs = by_slurm("77");
    assert_eq!(runs["benchmark"], "runs", "the first folder of the path");
    assert_eq!(
        file_names(&app, &access, runs["id"].as_str().expect("id")).await,
        ["77_0_triad.csv"]
    );
    // Re-sending a file keeps one job and one attachment.
    push(
        &app,
        &access,
        "runs/77_0_triad.csv",
        b"t2".to_vec(),
        "text/csv",
    )
    .await;
    assert_eq!(listed(&app, &access).await.len(), 4);
    assert_eq!(
        jobs(&app, &access, "").await["items"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );
    assert_eq!(
        file_names(&app, &access, runs["id"].as_str().expect("id")).await,
        ["77_0_triad.csv"]
    );
}

#[tokio::test]
async fn jobs_move_forward_only_and_are_filtered_paged_and_private() {
    let app = roomy_app().await;
    let ada = app.user("job-ada").await.access;
    let create = |body: Value| {
        let (app, ada) = (&app, ada.clone());
        async move { app.post_auth("/api/v1/jobs", &ada, &body).await }
    };
    let res = create(json!({
        "slurm_job_id": "100", "cluster": "levante", "benchmark": "hpl",
        "submitted_at": "2026-11-01T10:00:00Z", "metadata": {"nodes": 4}
    }))
    .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let job: Value = res.json().await.expect("json");
    let id = job["id"].as_str().expect("id").to_owned();
    assert_eq!(job["state"], "PENDING");
    assert_eq!(job["metadata"]["nodes"], 4);
    assert!(job["started_at"].is_null());
    // Its outputs folder exists, and what is stored there is the job's.
    let folder = job["folder_id"].as_str().expect("folder");
    let res = app.get_auth(&format!("/api/v1/files/{folder}"), &ada).await;
    assert_eq!(res.status(), StatusCode::OK);
    upload_into(&app, &ada, "hpl.out", folder, b"ok").await;
    assert_eq!(file_names(&app, &ada, &id).await, ["hpl.out"]);
    // The same Slurm job on the same cluster again; invalid fields.
    let res = create(json!({"slurm_job_id": "100", "cluster": "levante"})).await;
    assert_error(res, StatusCode::CONFLICT, "JOB_EXISTS").await;
    let res = create(json!({"metadata": [1, 2]})).await;
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "INVALID_JOB").await;
    let res = create(json!({"metadata": {"x": "y".repeat(17_000)}})).await;
    assert_error(res, StatusCode::UNPROCESSABLE_ENTITY, "INVALID_JOB").await;
    let res = create(json!({"state": "SLEEPING"})).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);

    // Transitions.
    let path = format!("/api/v1/jobs/{id}");
    let res = patch(&app, &ada, &path, json!({"state": "RUNNING"})).await;
    assert_eq!(res.status(), StatusCode::OK);
    let running: Value = res.json().await.expect("json");
    assert!(running["started_at"].is_string() && running["finished_at"].is_null());
    let res = patch(&app, &ada, &path, json!({"state": "DONE", "exit_code": 0})).await;
    let done: Value = res.json().await.expect("json");
    assert_eq!(
        (done["state"].clone(), done["exit_code"].clone()),
        (json!("DONE"), json!(0))
    );
    assert!(done["finished_at"].is_string());
    for back in ["RUNNING", "PENDING", "FAILED"] {
        let res = patch(&app, &ada, &path, json!({"state": back})).await;
        assert_error(res, StatusCode::CONFLICT, "INVALID_TRANSITION").await;
    }
    // More jobs, for the filters.
    for (slurm, bench, state, at) in [
        ("101", "hpl", "RUNNING", "2026-11-02T10:00:00Z"),
        ("102", "stream", "PENDING", "2026-11-03T10:00:00Z"),
        ("103", "stream", "CANCELLED", "2026-11-04T10:00:00Z"),
    ] {
        let res = create(
            json!({"slurm_job_id": slurm, "benchmark": bench, "state": state, "submitted_at": at}),
        )
        .await;
        assert_eq!(res.status(), StatusCode::CREATED);
    }
    let count = |v: Value| v["items"].as_array().map(Vec::len).unwrap_or(0);
    assert_eq!(count(jobs(&app, &ada, "").await), 4);
    assert_eq!(count(jobs(&app, &ada, "?state=DONE").await), 1);
    assert_eq!(count(jobs(&app, &ada, "?benchmark=stream").await), 2);
    assert_eq!(count(jobs(&app, &ada, "?slurm_job_id=102").await), 1);
    assert_eq!(
        count(
            jobs(
                &app,
                &ada,
                "?submitted_after=2026-11-02T00:00:00Z&submitted_before=2026-11-04T00:00:00Z"
            )
            .await
        ),
        2
    );
    assert_eq!(
        count(jobs(&app, &ada, "?benchmark=stream&state=PENDING").await),
        1
    );
    // Pages of one, by cursor.
    let mut seen = Vec::new();
    let mut query = "?limit=1".to_owned();
    loop {
        let page = jobs(&app, &ada, &query).await;
        seen.extend(
            page["items"]
                .as_array()
                .expect("items")
                .iter()
                .map(|j| j["id"].clone()),
        );
        match page["next_cursor"].as_str() {
            Some(c) => query = format!("?limit=1&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(seen.len(), 4);
    let res = app.get_auth("/api/v1/jobs?cursor=nonsense", &ada).await;
    assert_error(res, StatusCode::BAD_REQUEST, "INVALID_CURSOR").await;

    // Another user sees none of it.
    let bob = app.user("job-bob").await.access;
    assert_eq!(count(jobs(&app, &bob, "").await), 0);
    let res = app.get_auth(&path, &bob).await;
    assert_error(res, StatusCode::NOT_FOUND, "NOT_FOUND").await;
    let res = app.get_auth(&format!("{path}/files"), &bob).await;
    assert_error(res, StatusCode::NOT_FOUND, "NOT_FOUND").await;
    let res = patch(&app, &bob, &path, json!({"exit_code": 1})).await;
    assert_error(res, StatusCode::NOT_FOUND, "NOT_FOUND").await;
    // Bob's own Slurm job 100 does not clash with Ada's.
    let res = app
        .post_auth(
            "/api/v1/jobs",
            &bob,
            &json!({"slurm_job_id": "100", "cluster": "levante"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
}
