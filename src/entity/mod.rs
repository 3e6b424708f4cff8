//! sea-orm entities. Only `repo.rs` files use them; they never leave as API types.

use sea_orm::ActiveEnum;

/// The variant of a string-valued enum column that `s` names, if any (input checks).
pub fn parse<E: ActiveEnum<Value = String>>(s: &str) -> Option<E> {
    E::try_from_value(&s.to_owned()).ok()
}

/// A string-valued enum column, written once: the sea-orm active enum stored as the given
/// strings, the same strings in JSON and in the OpenAPI schema, `as_str` and `Display`.
macro_rules! stored_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident: $db_type:tt {
            $($(#[$vmeta:meta])* $variant:ident = $stored:tt,)+
        }
    ) => {
        $(#[$meta])*
        #[derive(
            Debug,
            Clone,
            Copy,
            PartialEq,
            Eq,
            Hash,
            sea_orm::EnumIter,
            sea_orm::DeriveActiveEnum,
            serde::Serialize,
            serde::Deserialize,
            utoipa::ToSchema,
        )]
        #[sea_orm(rs_type = "String", db_type = $db_type)]
        pub enum $name {
            $(
                $(#[$vmeta])*
                #[sea_orm(string_value = $stored)]
                #[serde(rename = $stored)]
                $variant,
            )+
        }

        impl $name {
            /// The stored string.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $stored,)+
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

pub mod api_tokens;
pub mod audit_events;
pub mod device_codes;
pub mod file_copies;
pub mod files;
pub mod job_files;
pub mod jobs;
pub mod refresh_tokens;
pub mod settings;
pub mod share_links;
pub mod shares;
pub mod tasks;
pub mod tier_runs;
pub mod trash_items;
pub mod trash_rows;
pub mod uploads;
pub mod users;

#[cfg(test)]
mod tests {
    use sea_orm::{ActiveEnum, Iterable};

    use crate::entity::files::{FileKind, FileState};
    use crate::entity::shares::Permission;
    use crate::entity::tasks::TaskState;
    use crate::entity::uploads::UploadState;
    use crate::entity::users::Role;

    /// Each variant: stored, shown and serialized as the same string, and read back.
    fn same_everywhere<E>()
    where
        E: ActiveEnum<Value = String>
            + Iterable
            + serde::Serialize
            + std::fmt::Display
            + PartialEq
            + std::fmt::Debug,
    {
        for v in E::iter() {
            let stored = v.to_value();
            assert_eq!(v.to_string(), stored);
            assert_eq!(
                serde_json::to_value(&v).ok(),
                Some(serde_json::Value::String(stored.clone()))
            );
            assert_eq!(crate::entity::parse::<E>(&stored), Some(v));
        }
    }

    #[test]
    fn enums_store_show_and_serialize_the_same_strings() {
        same_everywhere::<FileKind>();
        same_everywhere::<FileState>();
        same_everywhere::<UploadState>();
        same_everywhere::<Role>();
        same_everywhere::<Permission>();
        same_everywhere::<TaskState>();
        assert_eq!(TaskState::Queued.as_str(), "queued");
        assert_eq!(crate::entity::parse::<Role>("root"), None);
    }
}
