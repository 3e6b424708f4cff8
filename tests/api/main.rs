//! The integration suite: one binary, so the crate links once.

mod admin;
mod api_tokens;
mod architecture;
mod auth;
mod batch;
mod benchwrap;
mod checksums;
mod cli;
mod device_login;
mod docs;
mod errors;
mod external_idp;
mod files;
mod hardening;
mod helpers;
mod jobs;
mod ledger;
mod logs;
mod operations;
mod ratelimit;
mod sharing;
mod token_confinement;
mod tokens;
mod uploads;
mod web;
mod worker;
