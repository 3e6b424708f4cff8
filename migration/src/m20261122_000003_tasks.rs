use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Tasks {
    Table,
    Id,
    Kind,
    Payload,
    OwnerId,
    State,
    Attempts,
    MaxAttempts,
    /// Milliseconds since the epoch (integers compare the same on every backend).
    RunAfterMs,
    LeaseOwner,
    LeaseExpiresMs,
    Progress,
    Result,
    Error,
    CreatedAt,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Tasks::Table)
                    .col(ColumnDef::new(Tasks::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(Tasks::Kind).string_len(32).not_null())
                    .col(ColumnDef::new(Tasks::Payload).text().not_null())
                    .col(ColumnDef::new(Tasks::OwnerId).uuid().null())
                    .col(ColumnDef::new(Tasks::State).string_len(12).not_null())
                    .col(
                        ColumnDef::new(Tasks::Attempts)
                            .integer()
                            .not_null()
                            .default(0),
                    )
                    .col(ColumnDef::new(Tasks::MaxAttempts).integer().not_null())
                    .col(ColumnDef::new(Tasks::RunAfterMs).big_integer().not_null())
                    .col(ColumnDef::new(Tasks::LeaseOwner).string_len(64).null())
                    .col(ColumnDef::new(Tasks::LeaseExpiresMs).big_integer().null())
                    .col(ColumnDef::new(Tasks::Progress).text().null())
                    .col(ColumnDef::new(Tasks::Result).text().null())
                    .col(ColumnDef::new(Tasks::Error).text().null())
                    .col(
                        ColumnDef::new(Tasks::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Tasks::UpdatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_tasks_claim")
                    .table(Tasks::Table)
                    .col(Tasks::State)
                    .col(Tasks::RunAfterMs)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_tasks_owner")
                    .table(Tasks::Table)
                    .col(Tasks::OwnerId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Tasks::Table).to_owned())
            .await
    }
}
