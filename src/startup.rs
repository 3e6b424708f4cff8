//! Building and running the API: `Application::build(settings)` binds first, so tests can
//! ask for port 0 and read the port back.

use crate::audit::AuditLog;
use crate::runtime::Runtime;
use crate::sharing::ShareService;
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

use crate::archives::handler::ZipHandler;
use crate::archives::service::ArchiveService;
use crate::auth::password::PasswordHasher;
use crate::auth::service::AuthPolicy;
use crate::auth::tokens::TokenKeys;
use crate::auth::AuthService;
use crate::config::Settings;
use crate::error;
use crate::files::service::FileService;
use crate::http::metrics::Metrics;
use crate::http::middleware::{request_context, security_headers};
use crate::http::openapi;
use crate::http::ratelimit::RateLimits;
use crate::state::AppState;
use crate::storage::embedded::EmbeddedS3;
use crate::storage::s3::{S3Config, S3Store};
use crate::storage::ObjectStore;
use crate::tasks::worker::Worker;
use crate::tasks::{KIND_PURGE, KIND_ZIP};
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
    state: web::Data<AppState>,
    embedded: Option<EmbeddedS3>,
}

/// The store settings with `endpoint` and credentials filled in.
fn store_config(
    settings: &Settings,
    endpoint: String,
    access_key: String,
    secret_key: String,
    path_style: bool,
) -> S3Config {
    let s3 = &settings.s3;
    S3Config {
        public_endpoint: s3
            .public_endpoint
            .clone()
            .unwrap_or_else(|| endpoint.clone()),
        endpoint,
        region: s3.region.clone(),
        bucket: s3.bucket.clone(),
        access_key,
        secret_key,
        path_style,
    }
}

fn external_config(settings: &Settings) -> S3Config {
    let s3 = &settings.s3;
    let secret = |k: &Option<secrecy::SecretString>| {
        k.as_ref()
            .map(|k| k.expose_secret().to_owned())
            .unwrap_or_default()
    };
    store_config(
        settings,
        s3.endpoint.clone().unwrap_or_default(),
        secret(&s3.access_key),
        secret(&s3.secret_key),
        s3.path_style,
    )
}

/// The store as a separate process sees it: the external endpoint, or the embedded
/// server `cofferd` runs over the same data dir.
pub fn connect_store(settings: &Settings) -> Result<Arc<dyn ObjectStore>, StartupError> {
    let cfg = match &settings.s3.endpoint {
        Some(_) => external_config(settings),
        None => {
            let creds = crate::storage::embedded::client_credentials(&settings.data_dir)?;
            let endpoint = format!("http://127.0.0.1:{}", settings.s3.embedded_port);
            store_config(settings, endpoint, creds.access_key, creds.secret_key, true)
        }
    };
    Ok(Arc::new(S3Store::new(&cfg)?))
}

/// Connects to the configured store, or starts the embedded one.
async fn object_store(settings: &Settings) -> Result<(S3Store, Option<EmbeddedS3>), StartupError> {
    let s3 = &settings.s3;
    if s3.endpoint.is_some() {
        return Ok((S3Store::new(&external_config(settings))?, None));
    }
    let embedded = EmbeddedS3::start(&settings.data_dir, s3.embedded_port).await?;
    let creds = &embedded.credentials;
    let cfg = store_config(
        settings,
        embedded.endpoint(),
        creds.access_key.clone(),
        creds.secret_key.clone(),
        true,
    );
    let store = S3Store::new(&cfg)?;
    store.ensure_bucket(&cfg).await?;
    Ok((store, Some(embedded)))
}

impl Application {
    pub async fn build(settings: Settings) -> Result<Application, StartupError> {
        crate::secrets::create_private_dir(&settings.data_dir)?;
        let db = crate::db::connect(&settings).await?;
        if settings.migrate_on_start {
            crate::db::migrate(&db).await?;
        }
        let secret = crate::secrets::jwt_secret(&settings)?;
        let (store, embedded) = object_store(&settings).await?;
        let keys = TokenKeys::new(
            secret.expose_secret().as_bytes(),
            &settings.jwt_issuer,
            &settings.jwt_audience,
            settings.access_token_ttl,
        );
        let policy = AuthPolicy {
            refresh_ttl: chrono::Duration::from_std(settings.refresh_token_ttl)
                .unwrap_or(chrono::Duration::days(14)),
            refresh_absolute_ttl: chrono::Duration::from_std(settings.refresh_token_absolute_ttl)
                .unwrap_or(chrono::Duration::days(30)),
            user_cache_ttl: settings.cache_ttl,
        };
        // One gate for every write transaction of this process (a no-op on PostgreSQL).
        let gate = crate::db::WriteGate::for_connection(&db);
        crate::db::spawn_checkpointer(db.clone(), gate.clone());
        let hasher = PasswordHasher::new(settings.max_concurrent_hashes)?;
        let runtime = Runtime::new(db.clone(), &settings);
        let auth = AuthService::new(
            db.clone(),
            gate.clone(),
            hasher.clone(),
            keys,
            policy,
            runtime.clone(),
        );
        let metrics = Arc::new(Metrics::new());
        let audit = AuditLog::spawn(
            db.clone(),
            gate.clone(),
            metrics.clone(),
            settings.audit_backlog,
        );
        let limits = Arc::new(RateLimits::new(
            settings.rate_limit_auth,
            settings.rate_limit_user,
            settings.rate_limit_public,
            settings.rate_limit_link_password,
            metrics.clone(),
        ));
        spawn_limit_shrinker(limits.clone());

        let listener = TcpListener::bind((settings.host.as_str(), settings.port))?;
        let port = listener.local_addr()?.port();
        let workers = settings.workers;
        let store: Arc<dyn ObjectStore> = Arc::new(store);
        let uploads = UploadService::new(
            db.clone(),
            crate::db::connect_relaxed(&settings, &db).await?,
            gate.clone(),
            store.clone(),
            settings.uploads.clone(),
            runtime.clone(),
        );
        let files = FileService::new(
            db.clone(),
            gate.clone(),
            store.clone(),
            uploads.clone(),
            settings.cache_ttl,
        );
        let archives = ArchiveService::new(
            db.clone(),
            settings.archives.clone(),
            settings.worker.max_attempts,
        );
        let shares = ShareService::new(
            db.clone(),
            gate.clone(),
            hasher,
            files.clone(),
            archives.clone(),
        );
        bootstrap_admin(&db, &auth, &settings).await?;
        let worker = build_worker(db.clone(), store.clone(), uploads.clone(), &settings);
        let (shutdown, shutdown_rx) = watch::channel(false);
        if settings.worker.in_process {
            tokio::spawn(worker.clone().run_until_stopped(shutdown_rx));
        }
        let state = web::Data::new(AppState {
            db,
            auth,
            uploads,
            files,
            archives,
            shares,
            audit,
            runtime,
            store,
            settings: Arc::new(settings),
            limits,
            metrics,
            gate,
        });
        let app_state = state.clone();
        let server = HttpServer::new(move || app(app_state.clone()))
            .workers(workers)
            .listen(listener)?
            .run();
        tracing::info!(port, "cofferd listening");
        Ok(Application {
            port,
            worker,
            shutdown,
            server,
            state,
            embedded,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn state(&self) -> web::Data<AppState> {
        self.state.clone()
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
        .create_user(name, password, None, Some(crate::admin::ROLE_ADMIN))
        .await
        .map_err(|e| StartupError::Bootstrap(e.to_string()))?;
    tracing::warn!(user.id = %user.id, username = %user.username, "first admin created from COFFER_BOOTSTRAP_ADMIN_*");
    Ok(())
}

/// A worker with every task handler of this crate.
pub fn build_worker(
    db: DatabaseConnection,
    store: Arc<dyn ObjectStore>,
    uploads: UploadService,
    settings: &Settings,
) -> Worker {
    Worker::new(db, store, uploads, settings.worker.clone())
        .handle(
            KIND_ZIP,
            Arc::new(ZipHandler {
                cfg: settings.archives.clone(),
            }),
        )
        .handle(KIND_PURGE, Arc::new(crate::tasks::purge::PurgeHandler))
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
    state: web::Data<AppState>,
) -> App<
    impl actix_web::dev::ServiceFactory<
        actix_web::dev::ServiceRequest,
        Config = (),
        Response = actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    let settings = state.settings.clone();
    let (app, api) = App::new()
        .into_utoipa_app()
        .openapi(openapi::spec_base())
        .configure(openapi::routes)
        .split_for_parts();
    let api = openapi::finish(api);
    let redoc = crate::http::docs::RedocPage::new(&api, settings.redoc_script_url.as_deref());
    app.app_data(state)
        .app_data(error::json_config(settings.max_body_bytes))
        .app_data(web::PayloadConfig::new(settings.max_body_bytes))
        .app_data(error::query_config())
        .app_data(error::path_config())
        .service(SwaggerUi::new("/docs/{_:.*}").url("/openapi.json", api))
        .configure(|cfg| crate::http::docs::configure(cfg, redoc))
        .default_service(web::to(error::not_found_route))
        .wrap(cors(&settings))
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
