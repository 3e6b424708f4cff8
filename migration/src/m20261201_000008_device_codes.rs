use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Device login (RFC 8628): a command-line client's pending sign-in, approved or denied
/// by a signed-in user. Both codes are stored only as SHA-256 hashes.
#[derive(DeriveIden)]
enum DeviceCodes {
    Table,
    Id,
    DeviceCodeHash,
    UserCodeHash,
    ClientName,
    ClientHost,
    ClientIp,
    State,
    UserId,
    IntervalSecs,
    LastPollAt,
    CreatedAt,
    ExpiresAt,
    DecidedAt,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(DeviceCodes::Table)
                    .col(
                        ColumnDef::new(DeviceCodes::Id)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(DeviceCodes::DeviceCodeHash)
                            .string_len(64)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(DeviceCodes::UserCodeHash)
                            .string_len(64)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(DeviceCodes::ClientName)
                            .string_len(100)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(DeviceCodes::ClientHost)
                            .string_len(255)
                            .not_null(),
                    )
                    .col(ColumnDef::new(DeviceCodes::ClientIp).string_len(64).null())
                    .col(ColumnDef::new(DeviceCodes::State).string_len(12).not_null())
                    .col(ColumnDef::new(DeviceCodes::UserId).uuid().null())
                    .col(
                        ColumnDef::new(DeviceCodes::IntervalSecs)
                            .integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(DeviceCodes::LastPollAt)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .col(
                        ColumnDef::new(DeviceCodes::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(DeviceCodes::ExpiresAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(DeviceCodes::DecidedAt)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_device_codes_user")
                            .from(DeviceCodes::Table, DeviceCodes::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_device_codes_device")
                    .table(DeviceCodes::Table)
                    .col(DeviceCodes::DeviceCodeHash)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_device_codes_user_code")
                    .table(DeviceCodes::Table)
                    .col(DeviceCodes::UserCodeHash)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_device_codes_expiry")
                    .table(DeviceCodes::Table)
                    .col(DeviceCodes::ExpiresAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(DeviceCodes::Table).to_owned())
            .await
    }
}
