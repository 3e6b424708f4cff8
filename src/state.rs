//! `AppState`: what every handler gets, the services (and, until they are wrapped in
//! services too, the database handle and the SQLite write gate). Route modules import
//! it from here, so they do not depend on `startup`, which composes the application
//! from them.

use std::sync::Arc;

use sea_orm::DatabaseConnection;

use crate::archives::service::ArchiveService;
use crate::audit::AuditLog;
use crate::auth::AuthService;
use crate::config::Settings;
use crate::files::service::FileService;
use crate::http::metrics::Metrics;
use crate::http::ratelimit::RateLimits;
use crate::runtime::Runtime;
use crate::sharing::ShareService;
use crate::storage::ObjectStore;
use crate::uploads::UploadService;

/// What every handler gets.
pub struct AppState {
    pub db: DatabaseConnection,
    pub auth: AuthService,
    pub uploads: UploadService,
    pub files: FileService,
    pub archives: ArchiveService,
    pub shares: ShareService,
    pub audit: AuditLog,
    /// Settings admins change at run time.
    pub runtime: Runtime,
    pub store: Arc<dyn ObjectStore>,
    pub settings: Arc<Settings>,
    pub limits: Arc<RateLimits>,
    pub metrics: Arc<Metrics>,
    /// Serialises write transactions on SQLite (a no-op on PostgreSQL).
    pub gate: crate::db::WriteGate,
}
