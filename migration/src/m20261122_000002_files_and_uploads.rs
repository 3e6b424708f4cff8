use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Files {
    Table,
    Id,
    OwnerId,
    ParentId,
    /// The parent folder's id, or the owner's id for the root: never NULL, so the
    /// unique (owner, parent, name) index holds at the root too.
    ParentKey,
    Name,
    Kind,
    Size,
    ContentType,
    ObjectKey,
    Etag,
    State,
    Tier,
    CreatedAt,
    UpdatedAt,
    SyncedAt,
}

#[derive(DeriveIden)]
enum Uploads {
    Table,
    Id,
    UserId,
    FileId,
    ObjectKey,
    DeclaredSize,
    ContentType,
    MultipartUploadId,
    PartSize,
    PartCount,
    ExpiresAt,
    State,
    CreatedAt,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Files::Table)
                    .col(ColumnDef::new(Files::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(Files::OwnerId).uuid().not_null())
                    .col(ColumnDef::new(Files::ParentId).uuid().null())
                    .col(ColumnDef::new(Files::ParentKey).uuid().not_null())
                    .col(ColumnDef::new(Files::Name).string_len(255).not_null())
                    .col(ColumnDef::new(Files::Kind).string_len(8).not_null())
                    .col(
                        ColumnDef::new(Files::Size)
                            .big_integer()
                            .not_null()
                            .default(0),
                    )
                    .col(ColumnDef::new(Files::ContentType).string_len(255).null())
                    .col(ColumnDef::new(Files::ObjectKey).string_len(512).null())
                    .col(ColumnDef::new(Files::Etag).string_len(128).null())
                    .col(ColumnDef::new(Files::State).string_len(8).not_null())
                    .col(
                        ColumnDef::new(Files::Tier)
                            .string_len(8)
                            .not_null()
                            .default("primary"),
                    )
                    .col(
                        ColumnDef::new(Files::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Files::UpdatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Files::SyncedAt)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_files_owner")
                            .from(Files::Table, Files::OwnerId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_files_parent")
                            .from(Files::Table, Files::ParentId)
                            .to(Files::Table, Files::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_files_owner_parent_name")
                    .table(Files::Table)
                    .col(Files::OwnerId)
                    .col(Files::ParentKey)
                    .col(Files::Name)
                    .unique()
                    .to_owned(),
            )
            .await?;
        // Keyset listing: folders first, then by name.
        manager
            .create_index(
                Index::create()
                    .name("ix_files_listing")
                    .table(Files::Table)
                    .col(Files::OwnerId)
                    .col(Files::ParentKey)
                    .col(Files::Kind)
                    .col(Files::Name)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_files_parent")
                    .table(Files::Table)
                    .col(Files::ParentId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Uploads::Table)
                    .col(ColumnDef::new(Uploads::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(Uploads::UserId).uuid().not_null())
                    .col(ColumnDef::new(Uploads::FileId).uuid().null())
                    .col(
                        ColumnDef::new(Uploads::ObjectKey)
                            .string_len(512)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Uploads::DeclaredSize)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Uploads::ContentType)
                            .string_len(255)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Uploads::MultipartUploadId)
                            .string_len(1024)
                            .null(),
                    )
                    .col(ColumnDef::new(Uploads::PartSize).big_integer().null())
                    .col(
                        ColumnDef::new(Uploads::PartCount)
                            .integer()
                            .not_null()
                            .default(1),
                    )
                    .col(
                        ColumnDef::new(Uploads::ExpiresAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(ColumnDef::new(Uploads::State).string_len(12).not_null())
                    .col(
                        ColumnDef::new(Uploads::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Uploads::UpdatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_uploads_user")
                            .from(Uploads::Table, Uploads::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_uploads_file")
                            .from(Uploads::Table, Uploads::FileId)
                            .to(Files::Table, Files::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_uploads_state_expiry")
                    .table(Uploads::Table)
                    .col(Uploads::State)
                    .col(Uploads::ExpiresAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_uploads_file")
                    .table(Uploads::Table)
                    .col(Uploads::FileId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Uploads::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Files::Table).to_owned())
            .await
    }
}
