#![deny(clippy::unwrap_used, clippy::expect_used)]
//! Coffer: a metadata-only control plane for file storage and sharing.

pub mod admin;
pub mod archives;
pub mod audit;
pub mod auth;
pub mod benchwrap;
pub mod cache;
pub mod cli;
pub mod client;
pub mod config;
pub mod db;
pub mod entity;
pub mod error;
pub mod files;
pub mod http;
pub mod jobs;
pub mod ops;
pub mod page;
pub mod quotas;
pub mod rfc3339;
pub mod routes;
pub mod runtime;
pub mod schedule;
pub mod secrets;
pub mod sharing;
pub mod startup;
pub mod state;
pub mod storage;
pub mod tasks;
pub mod telemetry;
pub mod tiering;
pub mod trash;
pub mod uploads;
pub mod web;
pub mod worker_app;
