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
}

#[derive(DeriveIden)]
enum Uploads {
    Table,
    /// Who started the upload when it is not the owner billed for it (a write grantee).
    CreatedBy,
}

#[derive(DeriveIden)]
enum Shares {
    Table,
    Id,
    FileId,
    OwnerId,
    GranteeId,
    Permission,
    CreatedAt,
}

#[derive(DeriveIden)]
enum ShareLinks {
    Table,
    Id,
    FileId,
    OwnerId,
    TokenHash,
    ExpiresAt,
    PasswordHash,
    MaxDownloads,
    DownloadCount,
    RevokedAt,
    CreatedAt,
}

#[derive(DeriveIden)]
enum AuditEvents {
    Table,
    /// UUIDv7: ordered by time, the cursor of the audit query.
    Id,
    At,
    ActorId,
    /// The actor's username when the event was written (kept after the user is gone).
    ActorName,
    Ip,
    RequestId,
    Action,
    Target,
    Outcome,
    Detail,
}

fn fk(
    name: &str,
    from: (impl IntoIden, impl IntoIden),
    to: (impl IntoIden, impl IntoIden),
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(name)
        .from(from.0, from.1)
        .to(to.0, to.1)
        .on_delete(ForeignKeyAction::Cascade)
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Uploads::Table)
                    .add_column(ColumnDef::new(Uploads::CreatedBy).uuid().null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Shares::Table)
                    .col(ColumnDef::new(Shares::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(Shares::FileId).uuid().not_null())
                    .col(ColumnDef::new(Shares::OwnerId).uuid().not_null())
                    .col(ColumnDef::new(Shares::GranteeId).uuid().not_null())
                    .col(ColumnDef::new(Shares::Permission).string_len(8).not_null())
                    .col(
                        ColumnDef::new(Shares::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .foreign_key(&mut fk(
                        "fk_shares_file",
                        (Shares::Table, Shares::FileId),
                        (Files::Table, Files::Id),
                    ))
                    .foreign_key(&mut fk(
                        "fk_shares_owner",
                        (Shares::Table, Shares::OwnerId),
                        (Users::Table, Users::Id),
                    ))
                    .foreign_key(&mut fk(
                        "fk_shares_grantee",
                        (Shares::Table, Shares::GranteeId),
                        (Users::Table, Users::Id),
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_shares_file_grantee")
                    .table(Shares::Table)
                    .col(Shares::FileId)
                    .col(Shares::GranteeId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_shares_grantee")
                    .table(Shares::Table)
                    .col(Shares::GranteeId)
                    .col(Shares::CreatedAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ShareLinks::Table)
                    .col(
                        ColumnDef::new(ShareLinks::Id)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(ShareLinks::FileId).uuid().not_null())
                    .col(ColumnDef::new(ShareLinks::OwnerId).uuid().not_null())
                    .col(
                        ColumnDef::new(ShareLinks::TokenHash)
                            .string_len(64)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(ShareLinks::ExpiresAt)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .col(ColumnDef::new(ShareLinks::PasswordHash).text().null())
                    .col(
                        ColumnDef::new(ShareLinks::MaxDownloads)
                            .big_integer()
                            .null(),
                    )
                    .col(
                        ColumnDef::new(ShareLinks::DownloadCount)
                            .big_integer()
                            .not_null()
                            .default(0),
                    )
                    .col(
                        ColumnDef::new(ShareLinks::RevokedAt)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .col(
                        ColumnDef::new(ShareLinks::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .foreign_key(&mut fk(
                        "fk_share_links_file",
                        (ShareLinks::Table, ShareLinks::FileId),
                        (Files::Table, Files::Id),
                    ))
                    .foreign_key(&mut fk(
                        "fk_share_links_owner",
                        (ShareLinks::Table, ShareLinks::OwnerId),
                        (Users::Table, Users::Id),
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_share_links_token")
                    .table(ShareLinks::Table)
                    .col(ShareLinks::TokenHash)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_share_links_file")
                    .table(ShareLinks::Table)
                    .col(ShareLinks::FileId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(AuditEvents::Table)
                    .col(
                        ColumnDef::new(AuditEvents::Id)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(AuditEvents::At)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(ColumnDef::new(AuditEvents::ActorId).uuid().null())
                    .col(ColumnDef::new(AuditEvents::ActorName).string_len(64).null())
                    .col(ColumnDef::new(AuditEvents::Ip).string_len(64).null())
                    .col(
                        ColumnDef::new(AuditEvents::RequestId)
                            .string_len(128)
                            .null(),
                    )
                    .col(
                        ColumnDef::new(AuditEvents::Action)
                            .string_len(64)
                            .not_null(),
                    )
                    .col(ColumnDef::new(AuditEvents::Target).string_len(255).null())
                    .col(
                        ColumnDef::new(AuditEvents::Outcome)
                            .string_len(16)
                            .not_null(),
                    )
                    .col(ColumnDef::new(AuditEvents::Detail).text().null())
                    .to_owned(),
            )
            .await?;
        for (name, col) in [
            ("ix_audit_actor", AuditEvents::ActorId),
            ("ix_audit_action", AuditEvents::Action),
            ("ix_audit_target", AuditEvents::Target),
            ("ix_audit_at", AuditEvents::At),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(AuditEvents::Table)
                        .col(col)
                        .col(AuditEvents::Id)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            AuditEvents::Table.into_iden(),
            ShareLinks::Table.into_iden(),
            Shares::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(Uploads::Table)
                    .drop_column(Uploads::CreatedBy)
                    .to_owned(),
            )
            .await
    }
}
