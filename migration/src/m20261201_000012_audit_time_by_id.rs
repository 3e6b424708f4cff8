use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// An audit event's id is a UUIDv7, which carries the time it was made: a query by time
/// bounds the id and reads the primary key, so the separate index on `at` only cost
/// every audited request one more index write.
const POSTGRES_UP: &str = "DROP INDEX ix_audit_at;";

const POSTGRES_DOWN: &str = "CREATE INDEX ix_audit_at ON audit_events (at, id);";

const SQLITE_UP: &[&str] = &[r#"DROP INDEX "ix_audit_at""#];

const SQLITE_DOWN: &[&str] = &[r#"CREATE INDEX "ix_audit_at" ON "audit_events" ("at", "id")"#];

crate::raw_migration!();
