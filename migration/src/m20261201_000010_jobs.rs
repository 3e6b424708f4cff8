use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// HPC job records: one per (owner, cluster, Slurm job id) when the id is known, with
/// an outputs folder, and the files attached to each (they leave with the file or the
/// job).
const POSTGRES_UP: &str = r#"
CREATE TABLE jobs (
    id uuid NOT NULL PRIMARY KEY,
    owner_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    slurm_job_id varchar(32) NULL,
    cluster varchar(64) NOT NULL DEFAULT '',
    benchmark varchar(255) NULL,
    state varchar(12) NOT NULL,
    submitted_at timestamptz NOT NULL,
    started_at timestamptz NULL,
    finished_at timestamptz NULL,
    exit_code integer NULL,
    metadata text NULL,
    folder_id uuid NULL REFERENCES files (id) ON DELETE SET NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);
CREATE UNIQUE INDEX ux_jobs_slurm ON jobs (owner_id, cluster, slurm_job_id);
CREATE INDEX ix_jobs_owner ON jobs (owner_id, id);
CREATE TABLE job_files (
    job_id uuid NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    file_id uuid NOT NULL REFERENCES files (id) ON DELETE CASCADE,
    PRIMARY KEY (job_id, file_id)
);
CREATE INDEX ix_job_files_file ON job_files (file_id);
"#;

const POSTGRES_DOWN: &str = "DROP TABLE job_files; DROP TABLE jobs;";

const SQLITE_UP: &[&str] = &[
    r#"CREATE TABLE "jobs" (
    "id" uuid_text NOT NULL PRIMARY KEY,
    "owner_id" uuid_text NOT NULL REFERENCES "users" ("id") ON DELETE CASCADE,
    "slurm_job_id" varchar(32) NULL,
    "cluster" varchar(64) NOT NULL DEFAULT '',
    "benchmark" varchar(255) NULL,
    "state" varchar(12) NOT NULL,
    "submitted_at" timestamp_with_timezone_text NOT NULL,
    "started_at" timestamp_with_timezone_text NULL,
    "finished_at" timestamp_with_timezone_text NULL,
    "exit_code" integer NULL,
    "metadata" text NULL,
    "folder_id" uuid_text NULL REFERENCES "files" ("id") ON DELETE SET NULL,
    "created_at" timestamp_with_timezone_text NOT NULL,
    "updated_at" timestamp_with_timezone_text NOT NULL
)"#,
    r#"CREATE UNIQUE INDEX "ux_jobs_slurm" ON "jobs" ("owner_id", "cluster", "slurm_job_id")"#,
    r#"CREATE INDEX "ix_jobs_owner" ON "jobs" ("owner_id", "id")"#,
    r#"CREATE TABLE "job_files" (
    "job_id" uuid_text NOT NULL REFERENCES "jobs" ("id") ON DELETE CASCADE,
    "file_id" uuid_text NOT NULL REFERENCES "files" ("id") ON DELETE CASCADE,
    PRIMARY KEY ("job_id", "file_id")
)"#,
    r#"CREATE INDEX "ix_job_files_file" ON "job_files" ("file_id")"#,
];

const SQLITE_DOWN: &[&str] = &[r#"DROP TABLE "job_files""#, r#"DROP TABLE "jobs""#];

crate::raw_migration!();
