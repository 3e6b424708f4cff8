//! sea-orm entities. Only `repo.rs` files use them; they never leave as API types.

use sea_orm::ActiveEnum;

/// The variant of a string-valued enum column that `s` names, if any (input checks).
pub fn parse<E: ActiveEnum<Value = String>>(s: &str) -> Option<E> {
    E::try_from_value(&s.to_owned()).ok()
}

pub mod audit_events;
pub mod files;
pub mod refresh_tokens;
pub mod settings;
pub mod share_links;
pub mod shares;
pub mod tasks;
pub mod uploads;
pub mod users;
