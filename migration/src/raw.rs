//! Migrations written as raw SQL, one text per database engine (for what sea-query
//! cannot say: partial indexes, `ADD COLUMN` with a foreign key on SQLite, ...).

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DatabaseBackend};

/// Runs `postgres` (several statements in one text) on PostgreSQL, else each of
/// `sqlite` in turn.
pub async fn run(
    manager: &SchemaManager<'_>,
    postgres: &str,
    sqlite: &[&str],
) -> Result<(), DbErr> {
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

/// The `MigrationTrait` of a module whose migration is raw SQL: its constants
/// `POSTGRES_UP`, `POSTGRES_DOWN`, `SQLITE_UP` and `SQLITE_DOWN`, run by [`run`].
#[macro_export]
macro_rules! raw_migration {
    () => {
        #[async_trait::async_trait]
        impl MigrationTrait for Migration {
            async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
                $crate::raw::run(manager, POSTGRES_UP, SQLITE_UP).await
            }

            async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
                $crate::raw::run(manager, POSTGRES_DOWN, SQLITE_DOWN).await
            }
        }
    };
}
