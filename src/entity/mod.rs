//! sea-orm entities. Only `repo.rs` files use them; they never leave as API types.

pub mod audit_events;
pub mod files;
pub mod refresh_tokens;
pub mod settings;
pub mod share_links;
pub mod shares;
pub mod tasks;
pub mod uploads;
pub mod users;
