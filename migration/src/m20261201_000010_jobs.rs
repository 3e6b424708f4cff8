use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DatabaseBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// HPC job records: one per (owner, cluster, Slurm job id) when the id is known, with
/// an outputs folder, and the files attached to each (they leave with the file or the
/// job). An open upload names the job its file joins once it completes (no foreign
/// key: a job leaves only with its user, whose uploads leave too; the attachment
/// checks the job is there). The open unsized uploads of a user, newest first, are
/// what noticing reads once a second: a partial index keeps that read as small as
/// the answer.
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
ALTER TABLE uploads ADD COLUMN job_id uuid NULL;
CREATE INDEX ix_uploads_unsized_open ON uploads (user_id, id) WHERE part_count = 0 AND state = 'open';
"#;

const POSTGRES_DOWN: &str =
    "DROP INDEX ix_uploads_unsized_open; ALTER TABLE uploads DROP COLUMN job_id; \
     DROP TABLE job_files; DROP TABLE jobs;";

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
    r#"ALTER TABLE "uploads" ADD COLUMN "job_id" uuid_text NULL"#,
    r#"CREATE INDEX "ix_uploads_unsized_open" ON "uploads" ("user_id", "id") WHERE "part_count" = 0 AND "state" = 'open'"#,
];

const SQLITE_DOWN: &[&str] = &[
    r#"DROP INDEX "ix_uploads_unsized_open""#,
    r#"ALTER TABLE "uploads" DROP COLUMN "job_id""#,
    r#"DROP TABLE "job_files""#,
    r#"DROP TABLE "jobs""#,
];

async fn run(manager: &SchemaManager<'_>, postgres: &str, sqlite: &[&str]) -> Result<(), DbErr> {
    let db = manager.get_connection();
    match manager.get_database_backend() {
        DatabaseBackend::Postgres => {
            db.execute_unprepared(postgres).await?;
        }
        _ => {
            for statement in sqlite {
                db.execute_unprepared(statement).await?;
            }
        }
    }
    Ok(())
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run(manager, POSTGRES_UP, SQLITE_UP).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run(manager, POSTGRES_DOWN, SQLITE_DOWN).await
    }
}
