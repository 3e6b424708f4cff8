//! Sharing: per-user shares of files and folders (read or write, inherited by ancestry)
//! and share links that anyone holding the token may redeem, within the link's rules.

pub mod dto;
pub mod public;
pub mod repo;
pub mod routes;
pub mod service;

pub use service::ShareService;
