use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The cloud tier: where each file's bytes live (`file_copies`, one row per file and
/// location; the primary copy gets a row when the sync reads it and is marked
/// `released` when it is deleted in favour of the verified cloud copy), and the runs of
/// the sync and of the lifecycle rules (`tier_runs`; a scheduled run is unique by the time it was scheduled for, so
/// several workers plan it once, and at most one run is open at a time).
const POSTGRES_UP: &str = r#"
CREATE TABLE tier_runs (
    id uuid NOT NULL PRIMARY KEY,
    trigger varchar(12) NOT NULL,
    scheduled_for timestamptz NULL,
    state varchar(12) NOT NULL,
    files_planned bigint NOT NULL,
    bytes_planned bigint NOT NULL,
    files_copied bigint NOT NULL DEFAULT 0,
    bytes_copied bigint NOT NULL DEFAULT 0,
    files_failed bigint NOT NULL DEFAULT 0,
    files_released bigint NOT NULL DEFAULT 0,
    bytes_released bigint NOT NULL DEFAULT 0,
    files_expired bigint NOT NULL DEFAULT 0,
    bytes_expired bigint NOT NULL DEFAULT 0,
    release_confirmed boolean NOT NULL DEFAULT false,
    error text NULL,
    started_at timestamptz NOT NULL,
    finished_at timestamptz NULL
);
CREATE UNIQUE INDEX ux_tier_runs_scheduled ON tier_runs (scheduled_for);
CREATE UNIQUE INDEX ux_tier_runs_open ON tier_runs ((state <> 'done')) WHERE state <> 'done';
CREATE INDEX ix_tier_runs_started ON tier_runs (started_at);
CREATE TABLE file_copies (
    file_id uuid NOT NULL REFERENCES files (id) ON DELETE CASCADE,
    location varchar(8) NOT NULL,
    state varchar(10) NOT NULL,
    size bigint NOT NULL,
    checksum_sha256 varchar(64) NULL,
    etag varchar(200) NULL,
    run_id uuid NULL REFERENCES tier_runs (id) ON DELETE SET NULL,
    attempts integer NOT NULL DEFAULT 0,
    next_try_ms bigint NOT NULL DEFAULT 0,
    error text NULL,
    verified_at timestamptz NULL,
    updated_at timestamptz NOT NULL,
    PRIMARY KEY (file_id, location)
);
CREATE INDEX ix_file_copies_run ON file_copies (run_id, state);
CREATE INDEX ix_file_copies_state ON file_copies (location, state);
"#;

const POSTGRES_DOWN: &str = "DROP TABLE file_copies; DROP TABLE tier_runs;";

const SQLITE_UP: &[&str] = &[
    r#"CREATE TABLE "tier_runs" (
    "id" uuid_text NOT NULL PRIMARY KEY,
    "trigger" varchar(12) NOT NULL,
    "scheduled_for" timestamp_with_timezone_text NULL,
    "state" varchar(12) NOT NULL,
    "files_planned" bigint NOT NULL,
    "bytes_planned" bigint NOT NULL,
    "files_copied" bigint NOT NULL DEFAULT 0,
    "bytes_copied" bigint NOT NULL DEFAULT 0,
    "files_failed" bigint NOT NULL DEFAULT 0,
    "files_released" bigint NOT NULL DEFAULT 0,
    "bytes_released" bigint NOT NULL DEFAULT 0,
    "files_expired" bigint NOT NULL DEFAULT 0,
    "bytes_expired" bigint NOT NULL DEFAULT 0,
    "release_confirmed" boolean NOT NULL DEFAULT false,
    "error" text NULL,
    "started_at" timestamp_with_timezone_text NOT NULL,
    "finished_at" timestamp_with_timezone_text NULL
)"#,
    r#"CREATE UNIQUE INDEX "ux_tier_runs_scheduled" ON "tier_runs" ("scheduled_for")"#,
    r#"CREATE UNIQUE INDEX "ux_tier_runs_open" ON "tier_runs" (("state" <> 'done')) WHERE "state" <> 'done'"#,
    r#"CREATE INDEX "ix_tier_runs_started" ON "tier_runs" ("started_at")"#,
    r#"CREATE TABLE "file_copies" (
    "file_id" uuid_text NOT NULL REFERENCES "files" ("id") ON DELETE CASCADE,
    "location" varchar(8) NOT NULL,
    "state" varchar(10) NOT NULL,
    "size" bigint NOT NULL,
    "checksum_sha256" varchar(64) NULL,
    "etag" varchar(200) NULL,
    "run_id" uuid_text NULL REFERENCES "tier_runs" ("id") ON DELETE SET NULL,
    "attempts" integer NOT NULL DEFAULT 0,
    "next_try_ms" bigint NOT NULL DEFAULT 0,
    "error" text NULL,
    "verified_at" timestamp_with_timezone_text NULL,
    "updated_at" timestamp_with_timezone_text NOT NULL,
    PRIMARY KEY ("file_id", "location")
)"#,
    r#"CREATE INDEX "ix_file_copies_run" ON "file_copies" ("run_id", "state")"#,
    r#"CREATE INDEX "ix_file_copies_state" ON "file_copies" ("location", "state")"#,
];

const SQLITE_DOWN: &[&str] = &[r#"DROP TABLE "file_copies""#, r#"DROP TABLE "tier_runs""#];

crate::raw_migration!();
