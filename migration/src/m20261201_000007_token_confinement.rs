use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// API tokens confined to a folder (they die with it) and with a byte budget; uploads
/// remember the token that started them, so an aborted one gives its bytes back. On
/// PostgreSQL every removed token is announced on the `coffer_api_tokens` channel, so
/// replicas drop it from their caches (cascades from users and folders included), and
/// so is every change of what a token grants (its expiry, scopes, folder or owner).
const POSTGRES_UP: &str = r#"
ALTER TABLE api_tokens
    ADD COLUMN folder_id uuid NULL REFERENCES files (id) ON DELETE CASCADE,
    ADD COLUMN budget_bytes bigint NULL,
    ADD COLUMN budget_used bigint NOT NULL DEFAULT 0;
CREATE INDEX ix_api_tokens_folder ON api_tokens (folder_id);
ALTER TABLE uploads
    ADD COLUMN token_id uuid NULL REFERENCES api_tokens (id) ON DELETE SET NULL;
CREATE FUNCTION coffer_api_token_removed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('coffer_api_tokens', OLD.id::text);
    RETURN OLD;
END $$;
CREATE TRIGGER tr_api_tokens_removed
    AFTER DELETE OR UPDATE OF expires_at, scopes, folder_id, user_id, token_hash ON api_tokens
    FOR EACH ROW EXECUTE FUNCTION coffer_api_token_removed();
"#;

const POSTGRES_DOWN: &str = r#"
DROP TRIGGER tr_api_tokens_removed ON api_tokens;
DROP FUNCTION coffer_api_token_removed();
ALTER TABLE uploads DROP COLUMN token_id;
DROP INDEX ix_api_tokens_folder;
ALTER TABLE api_tokens DROP COLUMN folder_id, DROP COLUMN budget_bytes, DROP COLUMN budget_used;
"#;

// SQLite adds one column per statement; a column with a foreign key must default to NULL.
const SQLITE_UP: &[&str] = &[
    r#"ALTER TABLE "api_tokens" ADD COLUMN "folder_id" uuid_text NULL REFERENCES "files" ("id") ON DELETE CASCADE"#,
    r#"ALTER TABLE "api_tokens" ADD COLUMN "budget_bytes" integer NULL"#,
    r#"ALTER TABLE "api_tokens" ADD COLUMN "budget_used" integer NOT NULL DEFAULT 0"#,
    r#"CREATE INDEX "ix_api_tokens_folder" ON "api_tokens" ("folder_id")"#,
    r#"ALTER TABLE "uploads" ADD COLUMN "token_id" uuid_text NULL REFERENCES "api_tokens" ("id") ON DELETE SET NULL"#,
];

const SQLITE_DOWN: &[&str] = &[
    r#"ALTER TABLE "uploads" DROP COLUMN "token_id""#,
    r#"DROP INDEX "ix_api_tokens_folder""#,
    r#"ALTER TABLE "api_tokens" DROP COLUMN "budget_used""#,
    r#"ALTER TABLE "api_tokens" DROP COLUMN "budget_bytes""#,
    r#"ALTER TABLE "api_tokens" DROP COLUMN "folder_id""#,
];

crate::raw_migration!();
