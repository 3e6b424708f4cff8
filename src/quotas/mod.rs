//! Hard quotas per user: bytes and objects, reserved when an upload starts, committed
//! when it completes, released when it is aborted. Every change is one conditional
//! UPDATE, so concurrent requests can never push a user past the quota.

pub mod repo;
pub mod routes;
pub mod service;
