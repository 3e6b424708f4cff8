//! The trash: a deleted file or folder stays restorable by its owner for
//! `trash_retention_days` (a runtime setting; 0 deletes at once). Its bytes still count
//! against the owner's quota until it is purged -- when the retention ends (the worker),
//! when the owner deletes it for good or empties the trash -- and then exactly the
//! trashed item's bytes and files are freed, under the owner's lock. While trashed, its
//! rows are out of `files` (so nothing else sees it: listings, downloads, shares and
//! links all answer 404), kept as JSON in `trash_rows`, and restored as they were.

pub mod dto;
pub mod repo;
pub mod routes;
pub mod service;
