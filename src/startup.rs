//! Building and running the API: `Application::build(settings)` binds first, so tests can
//! ask for port 0 and read the port back.

use std::net::TcpListener;
use std::sync::Arc;

use actix_cors::Cors;
use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpServer};
use sea_orm::DatabaseConnection;
use secrecy::ExposeSecret as _;
use utoipa_actix_web::AppExt as _;
use utoipa_swagger_ui::SwaggerUi;

use crate::admin::service::AdminService;
use crate::archives::service::ArchiveService;
use crate::audit::AuditLog;
use crate::auth::device::DeviceLogins;
use crate::auth::external::ExternalProvider;
use crate::auth::password::PasswordHasher;
use crate::auth::service::AuthPolicy;
use crate::auth::tokens::TokenKeys;
use crate::auth::AuthService;
use crate::config::Settings;
use crate::db::Db;
use crate::error;
use crate::files::service::FileService;
use crate::http::middleware::{request_context, security_headers, RequestConfig};
use crate::http::openapi;
use crate::http::ratelimit::RateLimits;
use crate::ops::OpsService;
use crate::quotas::service::QuotaService;
use crate::runtime::Runtime;
use crate::sharing::ShareService;
use crate::state::AppState;
use crate::storage::embedded::EmbeddedS3;
use crate::storage::ObjectStore;
use crate::tasks::worker::Worker;
use crate::telemetry::metrics::Metrics;
use crate::tiering::service::TierService;
use crate::uploads::UploadService;
use tokio::sync::watch;

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("bootstrap admin: {0}")]
    Bootstrap(String),
    #[error("database: {0}")]
    Db(#[from] sea_orm::DbErr),
    #[error("object store: {0}")]
    Storage(#[from] crate::storage::StorageError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("auth: {0}")]
    Auth(#[from] crate::auth::AuthError),
}

pub struct Application {
    port: u16,
    worker: Worker,
    /// Stops the in-process worker when the server stops.
    shutdown: watch::Sender<bool>,
    server: Server,
    state: AppState,
    base: Base,
    embedded: Option<EmbeddedS3>,
}

/// The database, the store and the settings every service is built on.
struct Base {
    db: Db,
    store: Arc<dyn ObjectStore>,
    /// The cloud tier's store, when one is configured.
    cloud: Option<Arc<dyn ObjectStore>>,
    settings: Arc<Settings>,
}

fn auth_policy(settings: &Settings) -> AuthPolicy {
    AuthPolicy {
        refresh_ttl: settings.refresh_token_ttl,
        refresh_absolute_ttl: settings.refresh_token_absolute_ttl,
        user_cache_ttl: settings.cache_ttl,
        cookie_refresh_before: settings.cookie_refresh_before,
    }
}

/// The audit writer and the rate limits, both counting into `metrics`.
fn audit_and_limits(base: &Base, metrics: &Arc<Metrics>) -> (AuditLog, Arc<RateLimits>) {
    let s = &base.settings;
    let audit = AuditLog::spawn(base.db.clone(), metrics.clone(), s.audit_backlog);
    let limits = Arc::new(RateLimits::new(
        s.rate_limit_auth,
        s.rate_limit_user,
        s.rate_limit_public,
        s.rate_limit_link_password,
        s.rate_limit_device_code,
        metrics.clone(),
    ));
    spawn_limit_shrinker(limits.clone());
    (audit, limits)
}

/// Builds every service of the API over `base`.
async fn services(base: &Base, keys: TokenKeys) -> Result<AppState, StartupError> {
    let Base {
        db,
        store,
        cloud,
        settings,
    } = base;
    let conn = db.conn();
    let policy = auth_policy(settings);
    let hasher = PasswordHasher::new(settings.max_concurrent_hashes)?;
    let runtime = Runtime::new(conn.clone(), settings);
    let external = ExternalProvider::from_settings(&settings.auth_external).map_err(|e| {
        StartupError::Auth(crate::auth::AuthError::Internal(format!(
            "identity provider client: {e}"
        )))
    })?;
    let auth = AuthService::new(db.clone(), hasher.clone(), keys, policy, runtime.clone())
        .with_external(external);
    let metrics = Arc::new(Metrics::new());
    let (audit, limits) = audit_and_limits(base, &metrics);
    let files = FileService::new(
        db.clone(),
        store.clone(),
        runtime.clone(),
        settings.cache_ttl,
    )
    .with_cloud(cloud.clone());
    let uploads = UploadService::new(
        db.clone(),
        crate::db::connect_relaxed(settings, conn).await?,
        store.clone(),
        settings.uploads.clone(),
        runtime.clone(),
        files.clone(),
    );
    let archives = ArchiveService::new(
        conn.clone(),
        store.clone(),
        runtime.clone(),
        settings.archives.clone(),
        settings.worker.max_attempts,
    );
    let shares = ShareService::new(db.clone(), hasher, files.clone(), archives.clone());
    let admin = AdminService::new(db.clone(), auth.clone(), runtime.clone());
    let ops = OpsService::new(
        conn.clone(),
        store.clone(),
        audit.clone(),
        metrics.clone(),
        settings.metrics_token.clone(),
    )
    .with_cloud(cloud.clone());
    let tiering = TierService::new(db.clone(), runtime.clone(), cloud.is_some());
    let jobs = crate::jobs::JobService::new(db.clone(), files.clone());
    let benchwrap = crate::benchwrap::service::Benchwrap::new(
        db.clone(),
        files.clone(),
        uploads.clone(),
        jobs.clone(),
        settings.benchwrap.clone(),
    );
    Ok(AppState {
        benchwrap: web::Data::new(benchwrap),
        jobs: web::Data::new(jobs),
        tiering: web::Data::new(tiering),
        trash: web::Data::new(crate::trash::service::TrashService::new(db.clone())),
        auth: web::Data::new(auth),
        devices: web::Data::new(DeviceLogins::new(db.clone(), runtime.clone())),
        uploads: web::Data::new(uploads),
        files: web::Data::new(files),
        archives: web::Data::new(archives),
        shares: web::Data::new(shares),
        quotas: web::Data::new(QuotaService::new(conn.clone())),
        admin: web::Data::new(admin),
        ops: web::Data::new(ops),
        audit: web::Data::new(audit),
        limits: web::Data::from(limits),
        request: web::Data::new(RequestConfig {
            trusted_proxies: settings.trusted_proxies.clone(),
            body_read_timeout: settings.body_read_timeout,
            metrics,
        }),
        pages: web::Data::new(crate::web::Pages::new(&store.presign_origin())),
    })
}

impl Application {
    pub async fn build(settings: Settings) -> Result<Application, StartupError> {
        crate::secrets::create_private_dir(&settings.data_dir)?;
        let db = crate::db::connect(&settings).await?;
        if settings.migrate_on_start {
            crate::db::migrate(&db).await?;
        }
        let secret = crate::secrets::jwt_secret(&settings)?;
        let (store, embedded) = crate::storage::connect::start(&settings).await?;
        let keys = TokenKeys::new(
            secret.expose_secret().as_bytes(),
            &settings.jwt_issuer,
            &settings.jwt_audience,
            settings.access_token_ttl,
        );
        // One gate for every write transaction of this process (a no-op on PostgreSQL).
        let db = Db::new(db);
        crate::db::spawn_checkpointer(&db);
        let cloud = crate::storage::connect::connect_tier(&settings)?;
        let base = Base {
            db,
            store: Arc::new(store),
            cloud,
            settings: Arc::new(settings),
        };
        let state = services(&base, keys).await?;
        bootstrap_admin(base.db.conn(), &state.auth, &base.settings).await?;
        let worker = crate::worker_app::compose(
            crate::worker_app::Parts {
                db: base.db.clone(),
                store: base.store.clone(),
                cloud: base.cloud.clone(),
                uploads: state.uploads.get_ref().clone(),
                audit: state.audit.get_ref().clone(),
                // The API's, so the worker sees a change of settings at once.
                runtime: state.tiering.runtime(),
            },
            &base.settings,
        );
        let (shutdown, shutdown_rx) = watch::channel(false);
        if base.settings.worker.in_process {
            tokio::spawn(worker.clone().run_until_stopped(shutdown_rx));
        }
        let listener = TcpListener::bind((base.settings.host.as_str(), base.settings.port))?;
        let port = listener.local_addr()?.port();
        let (app_state, app_settings) = (state.clone(), base.settings.clone());
        let server = HttpServer::new(move || app(&app_state, &app_settings))
            .workers(base.settings.workers)
            .listen(listener)?
            .run();
        tracing::info!(port, "cofferd listening");
        Ok(Application {
            port,
            worker,
            shutdown,
            server,
            state,
            base,
            embedded,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The services (tests call them directly).
    pub fn state(&self) -> AppState {
        self.state.clone()
    }

    /// The database connection (tests inspect rows).
    pub fn db(&self) -> DatabaseConnection {
        self.base.db.conn().clone()
    }

    /// The object store (tests put and inspect objects).
    pub fn store(&self) -> Arc<dyn ObjectStore> {
        self.base.store.clone()
    }

    pub fn settings(&self) -> Arc<Settings> {
        self.base.settings.clone()
    }

    /// The embedded S3 server's endpoint, when it runs.
    pub fn embedded_s3_endpoint(&self) -> Option<String> {
        self.embedded.as_ref().map(EmbeddedS3::endpoint)
    }

    /// A worker over the same database and store (tests drive it step by step).
    pub fn worker(&self) -> Worker {
        self.worker.clone()
    }

    /// Serves until the server stops (SIGINT/SIGTERM, or the handle is dropped).
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let _embedded = self.embedded;
        let result = self.server.await;
        let _ = self.shutdown.send(true);
        result
    }
}

/// Creates the first admin from `COFFER_BOOTSTRAP_ADMIN_*` when there is no admin yet.
async fn bootstrap_admin(
    db: &DatabaseConnection,
    auth: &AuthService,
    settings: &Settings,
) -> Result<(), StartupError> {
    let (Some(name), Some(password)) = (
        settings.bootstrap_admin_username.as_deref(),
        settings.bootstrap_admin_password.as_ref(),
    ) else {
        return Ok(());
    };
    if crate::admin::repo::admin_exists(db).await? {
        tracing::info!("an admin exists: COFFER_BOOTSTRAP_ADMIN_* ignored");
        return Ok(());
    }
    let user = auth
        .create_user(name, password, None, Some(crate::auth::Role::Admin))
        .await
        .map_err(|e| StartupError::Bootstrap(e.to_string()))?;
    tracing::warn!(user.id = %user.id, username = %user.username, "first admin created from COFFER_BOOTSTRAP_ADMIN_*");
    Ok(())
}

fn spawn_limit_shrinker(limits: Arc<RateLimits>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(60));
        loop {
            tick.tick().await;
            limits.shrink();
        }
    });
}

fn cors(settings: &Settings) -> Cors {
    let mut cors = Cors::default()
        .allowed_methods(["GET", "POST", "PUT", "PATCH", "DELETE"])
        .allowed_headers([
            actix_web::http::header::AUTHORIZATION,
            actix_web::http::header::CONTENT_TYPE,
            actix_web::http::header::HeaderName::from_static("x-request-id"),
        ])
        .expose_headers(["x-request-id", "retry-after"])
        .supports_credentials()
        .max_age(600);
    for origin in &settings.cors_origins {
        cors = cors.allowed_origin(origin);
    }
    cors
}

fn app(
    state: &AppState,
    settings: &Settings,
) -> App<
    impl actix_web::dev::ServiceFactory<
        actix_web::dev::ServiceRequest,
        Config = (),
        Response = actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    let (app, api) = App::new()
        .into_utoipa_app()
        .openapi(openapi::spec_base())
        .configure(crate::routes::routes)
        .split_for_parts();
    let api = openapi::finish(api);
    let redoc = crate::http::docs::RedocPage::new(&api, settings.redoc_script_url.as_deref());
    app.configure(|cfg| state.register(cfg))
        .app_data(error::json_config(settings.max_body_bytes))
        .app_data(web::PayloadConfig::new(settings.max_body_bytes))
        .app_data(error::query_config())
        .app_data(error::path_config())
        .service(SwaggerUi::new("/docs/{_:.*}").url("/openapi.json", api))
        .configure(|cfg| crate::http::docs::configure(cfg, redoc))
        .configure(crate::auth::device::page::configure)
        .configure(crate::web::configure)
        .default_service(web::to(error::not_found_route))
        .wrap(cors(settings))
        .wrap(from_fn(request_context))
        .wrap(security_headers())
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}
