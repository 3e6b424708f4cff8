//! `AppState`: the services, each registered as its own `web::Data`, so a handler asks
//! for exactly the services it uses and no route module imports this one. Start-up
//! builds it; tests read it.

use actix_web::web::{self, ServiceConfig};

use crate::admin::service::AdminService;
use crate::archives::service::ArchiveService;
use crate::audit::AuditLog;
use crate::auth::device::DeviceLogins;
use crate::auth::AuthService;
use crate::benchwrap::service::Benchwrap;
use crate::files::service::FileService;
use crate::http::middleware::RequestConfig;
use crate::http::ratelimit::RateLimits;
use crate::jobs::JobService;
use crate::ops::OpsService;
use crate::quotas::service::QuotaService;
use crate::sharing::ShareService;
use crate::tiering::service::TierService;
use crate::trash::service::TrashService;
use crate::uploads::UploadService;

/// Every service a handler, an extractor or the middleware may ask for.
#[derive(Clone)]
pub struct AppState {
    pub auth: web::Data<AuthService>,
    pub devices: web::Data<DeviceLogins>,
    pub uploads: web::Data<UploadService>,
    pub files: web::Data<FileService>,
    pub archives: web::Data<ArchiveService>,
    pub shares: web::Data<ShareService>,
    pub quotas: web::Data<QuotaService>,
    pub admin: web::Data<AdminService>,
    pub ops: web::Data<OpsService>,
    pub benchwrap: web::Data<Benchwrap>,
    pub jobs: web::Data<JobService>,
    pub tiering: web::Data<TierService>,
    pub trash: web::Data<TrashService>,
    pub audit: web::Data<AuditLog>,
    pub limits: web::Data<RateLimits>,
    /// What the request middleware reads (trusted proxies, body timeout, metrics).
    pub request: web::Data<RequestConfig>,
    /// The web interface's pages (their CSP names the store's origin).
    pub pages: web::Data<crate::web::Pages>,
}

impl AppState {
    /// Registers every service as app data.
    pub fn register(&self, cfg: &mut ServiceConfig) {
        cfg.app_data(self.auth.clone())
            .app_data(self.devices.clone())
            .app_data(self.uploads.clone())
            .app_data(self.files.clone())
            .app_data(self.archives.clone())
            .app_data(self.shares.clone())
            .app_data(self.quotas.clone())
            .app_data(self.admin.clone())
            .app_data(self.ops.clone())
            .app_data(self.benchwrap.clone())
            .app_data(self.jobs.clone())
            .app_data(self.tiering.clone())
            .app_data(self.trash.clone())
            .app_data(self.audit.clone())
            .app_data(self.limits.clone())
            .app_data(self.request.clone())
            .app_data(self.pages.clone());
    }
}
