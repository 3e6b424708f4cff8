//! sea-orm entities. Only `repo.rs` files use them; they never leave as API types.

pub mod refresh_tokens;
pub mod users;
