use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The trash: a deleted file or folder is one `trash_items` row (its bytes and objects
/// still count against the owner's quota until it is purged), and the rows it took
/// along (files, shares, links, job attachments, copies) are kept in `trash_rows` as
/// JSON, to be put back on restore.
const POSTGRES_UP: &str = r#"
CREATE TABLE trash_items (
    id uuid NOT NULL PRIMARY KEY,
    owner_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    file_id uuid NOT NULL,
    name varchar(255) NOT NULL,
    kind varchar(8) NOT NULL,
    parent_id uuid NULL,
    bytes bigint NOT NULL,
    objects bigint NOT NULL,
    deleted_by uuid NULL,
    trashed_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL
);
CREATE INDEX ix_trash_items_owner ON trash_items (owner_id, trashed_at);
CREATE INDEX ix_trash_items_expiry ON trash_items (expires_at);
CREATE TABLE trash_rows (
    item_id uuid NOT NULL REFERENCES trash_items (id) ON DELETE CASCADE,
    seq integer NOT NULL,
    kind varchar(12) NOT NULL,
    data text NOT NULL,
    object_key varchar(512) NULL,
    PRIMARY KEY (item_id, seq)
);
CREATE INDEX ix_trash_rows_key ON trash_rows (object_key);
"#;

const POSTGRES_DOWN: &str = "DROP TABLE trash_rows; DROP TABLE trash_items;";

const SQLITE_UP: &[&str] = &[
    r#"CREATE TABLE "trash_items" (
    "id" uuid_text NOT NULL PRIMARY KEY,
    "owner_id" uuid_text NOT NULL REFERENCES "users" ("id") ON DELETE CASCADE,
    "file_id" uuid_text NOT NULL,
    "name" varchar(255) NOT NULL,
    "kind" varchar(8) NOT NULL,
    "parent_id" uuid_text NULL,
    "bytes" bigint NOT NULL,
    "objects" bigint NOT NULL,
    "deleted_by" uuid_text NULL,
    "trashed_at" timestamp_with_timezone_text NOT NULL,
    "expires_at" timestamp_with_timezone_text NOT NULL
)"#,
    r#"CREATE INDEX "ix_trash_items_owner" ON "trash_items" ("owner_id", "trashed_at")"#,
    r#"CREATE INDEX "ix_trash_items_expiry" ON "trash_items" ("expires_at")"#,
    r#"CREATE TABLE "trash_rows" (
    "item_id" uuid_text NOT NULL REFERENCES "trash_items" ("id") ON DELETE CASCADE,
    "seq" integer NOT NULL,
    "kind" varchar(12) NOT NULL,
    "data" text NOT NULL,
    "object_key" varchar(512) NULL,
    PRIMARY KEY ("item_id", "seq")
)"#,
    r#"CREATE INDEX "ix_trash_rows_key" ON "trash_rows" ("object_key")"#,
];

const SQLITE_DOWN: &[&str] = &[r#"DROP TABLE "trash_rows""#, r#"DROP TABLE "trash_items""#];

crate::raw_migration!();
