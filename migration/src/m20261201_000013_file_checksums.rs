use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// A file's SHA-256 as its uploader declared it (base64, as S3's
/// `x-amz-checksum-sha256`): signed into the presigned PUT, so the store refuses other
/// bytes; null when none was declared.
const POSTGRES_UP: &str = "ALTER TABLE files ADD COLUMN checksum_sha256 varchar(44) NULL;";

const POSTGRES_DOWN: &str = "ALTER TABLE files DROP COLUMN checksum_sha256;";

const SQLITE_UP: &[&str] =
    &[r#"ALTER TABLE "files" ADD COLUMN "checksum_sha256" varchar(44) NULL"#];

const SQLITE_DOWN: &[&str] = &[r#"ALTER TABLE "files" DROP COLUMN "checksum_sha256""#];

crate::raw_migration!();
