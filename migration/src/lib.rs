//! The Coffer schema. Every table is defined here, portable across SQLite and PostgreSQL.

pub use sea_orm_migration::prelude::*;

mod m20261122_000001_users_and_tokens;
mod m20261122_000002_files_and_uploads;
mod m20261122_000003_tasks;
mod m20261122_000004_sharing_and_audit;
mod m20261122_000005_settings;
mod m20261201_000006_api_tokens;
mod m20261201_000007_token_confinement;
mod m20261201_000008_device_codes;
mod m20261201_000009_external_identities;
mod m20261201_000010_jobs;
mod m20261201_000011_upload_jobs;
mod m20261201_000012_audit_time_by_id;
mod m20261201_000013_file_checksums;
mod m20261202_000014_file_copies;
mod m20261202_000015_trash;
mod raw;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261122_000001_users_and_tokens::Migration),
            Box::new(m20261122_000002_files_and_uploads::Migration),
            Box::new(m20261122_000003_tasks::Migration),
            Box::new(m20261122_000004_sharing_and_audit::Migration),
            Box::new(m20261122_000005_settings::Migration),
            Box::new(m20261201_000006_api_tokens::Migration),
            Box::new(m20261201_000007_token_confinement::Migration),
            Box::new(m20261201_000008_device_codes::Migration),
            Box::new(m20261201_000009_external_identities::Migration),
            Box::new(m20261201_000010_jobs::Migration),
            Box::new(m20261201_000011_upload_jobs::Migration),
            Box::new(m20261201_000012_audit_time_by_id::Migration),
            Box::new(m20261201_000013_file_checksums::Migration),
            Box::new(m20261202_000014_file_copies::Migration),
            Box::new(m20261202_000015_trash::Migration),
        ]
    }
}
