//! `spawn_app()`: a real `cofferd` on a random port with a fresh SQLite file (or a fresh
//! PostgreSQL database when `COFFER_TEST_DATABASE_URL` is set) and a real S3 server.

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use coffer::auth::dto::TokenResponse;
use coffer::config::{LogFormat, RateLimit, Settings};
use coffer::files::dto::{DownloadResponse, FileResponse};
use coffer::quotas::routes::UsageResponse;
use coffer::startup::Application;
use coffer::uploads::dto::{PartUrl, PresignedRequest, UploadResponse};
use reqwest::{Response, StatusCode};
use sea_orm::{ConnectionTrait, Database};
use secrecy::SecretString;
use serde::Deserialize as _;
use serde_json::{json, Value};

pub const JWT_SECRET: &str = "test-secret-test-secret-test-secret-0123";
pub const PASSWORD: &str = "correct horse battery staple";

/// Every log line of the test process, to check what never appears in logs.
#[derive(Clone, Default)]
pub struct LogSink(Arc<Mutex<Vec<u8>>>);

impl Write for LogSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log sink").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogSink {
    type Writer = LogSink;
    fn make_writer(&'a self) -> LogSink {
        self.clone()
    }
}

pub fn logs() -> &'static LogSink {
    static SINK: OnceLock<LogSink> = OnceLock::new();
    SINK.get_or_init(|| {
        let sink = LogSink::default();
        let subscriber = coffer::telemetry::subscriber(LogFormat::Json, "debug", sink.clone());
        tracing::subscriber::set_global_default(subscriber).expect("one global subscriber");
        sink
    })
}

/// The causes the server logged for its 5xx answers, to explain a failed assertion.
pub fn server_errors() -> String {
    captured_logs()
        .lines()
        .filter(|l| l.contains("error.chain"))
        .collect::<Vec<_>>()
        .join("\n")
}

pub fn captured_logs() -> String {
    String::from_utf8_lossy(&logs().0.lock().expect("log sink")).into_owned()
}

/// The application's database, store, settings, audit log, upload and auth services, for tests that inspect or
/// prepare what the API cannot show.
pub struct Handles {
    pub db: sea_orm::DatabaseConnection,
    pub store: std::sync::Arc<dyn coffer::storage::ObjectStore>,
    pub settings: std::sync::Arc<coffer::config::Settings>,
    pub audit: actix_web::web::Data<coffer::audit::AuditLog>,
    pub uploads: coffer::uploads::UploadService,
    pub auth: coffer::auth::AuthService,
}

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    /// What tests reach into directly.
    pub app_state: Handles,
    /// A worker over the app's database and store; tests run it step by step.
    pub worker: coffer::tasks::worker::Worker,
    _db: TestDatabase,
    _dir: TempDir,
}

/// A PostgreSQL database made for one test, dropped with it.
struct TestDatabase(Option<(String, String)>);

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Some((base, name)) = self.0.take() else {
            return;
        };
        // Drop runs inside the test's runtime: use a thread with its own.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async {
                if let Ok(admin) = Database::connect(&base).await {
                    let _ = admin
                        .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .await;
                    let _ = admin.close().await;
                }
            });
        })
        .join();
    }
}

/// A directory removed when the test ends.
pub struct TempDir(pub std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A fresh database URL: a SQLite file in `dir`, or a new PostgreSQL database.
async fn fresh_database(dir: &std::path::Path) -> (String, TestDatabase) {
    match std::env::var("COFFER_TEST_DATABASE_URL") {
        Ok(base) if !base.is_empty() => {
            let name = format!("coffer_test_{}", uuid::Uuid::new_v4().simple());
            let admin = Database::connect(&base)
                .await
                .expect("connect to the test PostgreSQL server");
            admin
                .execute_unprepared(&format!("CREATE DATABASE {name}"))
                .await
                .expect("create test database");
            admin.close().await.expect("close admin connection");
            let mut url = url::Url::parse(&base).expect("COFFER_TEST_DATABASE_URL is a URL");
            url.set_path(&name);
            (url.to_string(), TestDatabase(Some((base, name))))
        }
        _ => (
            format!("sqlite://{}/coffer.db?mode=rwc", dir.display()),
            TestDatabase(None),
        ),
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

pub async fn spawn_app_with(configure: impl FnOnce(&mut Settings)) -> TestApp {
    logs();
    let dir = TempDir(std::env::temp_dir().join(format!("coffer-test-{}", uuid::Uuid::new_v4())));
    std::fs::create_dir_all(&dir.0).expect("temp dir");
    let (database_url, db) = fresh_database(&dir.0).await;
    let mut settings = Settings {
        port: 0,
        data_dir: dir.0.clone(),
        database_url: database_url.into(),
        workers: 1,
        db_max_connections: 5,
        jwt_secret: Some(SecretString::from(JWT_SECRET.to_owned())),
        rate_limit_auth: RateLimit {
            per_minute: 10_000,
            burst: 1_000,
        },
        rate_limit_user: RateLimit {
            per_minute: 10_000,
            burst: 1_000,
        },
        ..Settings::default()
    };
    settings.s3.embedded_port = 0;
    // Tests drive the worker themselves (`run_tasks`), one step at a time.
    settings.worker.in_process = false;
    // Deletes are final unless a test turns the trash on (tests/api/trash.rs).
    settings.trash_retention_days = 0;
    if std::env::var("COFFER_TEST_S3").is_ok_and(|v| v == "garage") {
        let var = |name: &str| {
            std::env::var(name).unwrap_or_else(|_| panic!("COFFER_TEST_S3=garage needs {name}"))
        };
        settings.s3.endpoint = Some(var("COFFER_TEST_S3_ENDPOINT"));
        settings.s3.region = var("COFFER_TEST_S3_REGION");
        settings.s3.bucket = var("COFFER_TEST_S3_BUCKET");
        settings.s3.access_key = Some(SecretString::from(var("COFFER_TEST_S3_ACCESS_KEY")));
        settings.s3.secret_key = Some(SecretString::from(var("COFFER_TEST_S3_SECRET_KEY")));
    }
    configure(&mut settings);
    settings.validate().expect("test settings are valid");
    let app = Application::build(settings)
        .await
        .expect("build the application");
    let address = format!("http://127.0.0.1:{}", app.port());
    let app_state = Handles {
        db: app.db(),
        store: app.store(),
        settings: app.settings(),
        audit: app.state().audit,
        uploads: app.state().uploads.get_ref().clone(),
        auth: app.state().auth.get_ref().clone(),
    };
    let worker = app.worker();
    tokio::spawn(app.run_until_stopped());
    TestApp {
        address,
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client"),
        app_state,
        worker,
        _db: db,
        _dir: dir,
    }
}

/// A pair of tokens as a client holds them.
#[derive(Debug, Clone)]
pub struct Tokens {
    pub access: String,
    pub refresh: String,
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> Response {
        self.client
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .expect("request")
    }

    pub async fn register(&self, username: &str, password: &str) -> Response {
        self.post_json(
            "/api/v1/auth/register",
            &json!({"username": username, "password": password}),
        )
        .await
    }

    pub async fn login(&self, username: &str, password: &str) -> Response {
        self.post_json(
            "/api/v1/auth/login",
            &json!({"username": username, "password": password}),
        )
        .await
    }

    /// Registers `username` with [`PASSWORD`] and logs in.
    pub async fn user(&self, username: &str) -> Tokens {
        let res = self.register(username, PASSWORD).await;
        assert_eq!(res.status(), StatusCode::CREATED, "register {username}");
        let res = self.login(username, PASSWORD).await;
        assert_eq!(res.status(), StatusCode::OK, "login {username}");
        tokens_of(res).await
    }

    pub async fn refresh(&self, refresh_token: &str) -> Response {
        self.post_json(
            "/api/v1/auth/refresh",
            &json!({"refresh_token": refresh_token}),
        )
        .await
    }

    pub async fn get_auth(&self, path: &str, access: &str) -> Response {
        self.client
            .get(self.url(path))
            .bearer_auth(access)
            .send()
            .await
            .expect("request")
    }

    pub async fn post_auth(&self, path: &str, access: &str, body: &Value) -> Response {
        self.client
            .post(self.url(path))
            .bearer_auth(access)
            .json(body)
            .send()
            .await
            .expect("request")
    }

    /// Runs due tasks until none is left; returns how many ran.
    pub async fn run_tasks(&self) -> usize {
        let mut n = 0;
        while let Some(outcome) = self.worker.try_execute_task().await.expect("worker step") {
            assert!(
                matches!(outcome, coffer::tasks::worker::Outcome::Done(_)),
                "task did not succeed: {outcome:?}"
            );
            n += 1;
        }
        n
    }

    pub async fn me(&self, access: &str) -> Response {
        self.get_auth("/api/v1/auth/me", access).await
    }

    /// A second `cofferd` over the same database and store, as another replica; its
    /// base URL.
    pub async fn replica(&self) -> String {
        let mut settings = (*self.app_state.settings).clone();
        settings.port = 0;
        settings.s3.embedded_port = 0;
        let app = Application::build(settings).await.expect("build a replica");
        let address = format!("http://127.0.0.1:{}", app.port());
        tokio::spawn(app.run_until_stopped());
        address
    }
}

pub async fn tokens_of(res: Response) -> Tokens {
    let body: TokenResponse = res.json().await.expect("a token response");
    Tokens {
        access: body.access_token.expect("access_token"),
        refresh: body.refresh_token.expect("refresh_token"),
    }
}

/// Asserts the documented error shape and code; returns the body.
pub async fn assert_error(res: Response, status: StatusCode, code: &str) -> Value {
    assert_eq!(res.status(), status, "status");
    assert_eq!(
        res.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/json"),
        "error content type"
    );
    let body: Value = res.json().await.expect("error body is JSON");
    assert_eq!(body["error_code"], code, "error_code in {body}");
    assert!(
        body["detail"].as_str().is_some_and(|d| !d.is_empty()),
        "detail in {body}"
    );
    assert_eq!(
        body.as_object().map(|o| o.len()),
        Some(2),
        "only detail and error_code: {body}"
    );
    body
}

/// A started upload as the API described it.
pub struct StartedUpload {
    pub upload_id: String,
    pub file_id: String,
    pub body: Value,
}

impl StartedUpload {
    /// The ids read through the API's own response type; the body kept as sent.
    fn of(body: Value) -> StartedUpload {
        let typed = UploadResponse::deserialize(&body).expect("an upload response");
        StartedUpload {
            upload_id: typed.upload_id.to_string(),
            file_id: typed.file.id.to_string(),
            body,
        }
    }
}

impl TestApp {
    pub async fn start_upload(&self, access: &str, body: &Value) -> Response {
        self.post_auth("/api/v1/uploads", access, body).await
    }

    /// Starts a single-part upload and asserts it was accepted.
    pub async fn started(
        &self,
        access: &str,
        name: &str,
        size: usize,
        content_type: &str,
    ) -> StartedUpload {
        let res = self
            .start_upload(
                access,
                &json!({"name": name, "size": size, "content_type": content_type}),
            )
            .await;
        assert_eq!(res.status(), StatusCode::CREATED, "start {name}");
        let body: Value = res.json().await.expect("json");
        StartedUpload::of(body)
    }

    /// Starts an upload of `bytes` and PUTs them through its URL without completing, so
    /// the upload stays open; checks the store holds exactly that many bytes.
    pub async fn pending_upload(&self, access: &str, body: Value, bytes: &[u8]) -> StartedUpload {
        let res = self.start_upload(access, &body).await;
        assert_eq!(res.status(), StatusCode::CREATED, "start {body}");
        let started = StartedUpload::of(res.json().await.expect("json"));
        let res = put_presigned(&started.body["put"], bytes.to_vec()).await;
        assert!(res.status().is_success(), "presigned PUT: {}", res.status());
        let key = self.object_key(&started.upload_id).await;
        let meta = self
            .app_state
            .store
            .head(&key)
            .await
            .expect("head")
            .expect("object stored");
        assert_eq!(meta.size, bytes.len() as u64);
        started
    }

    /// Whether the store no longer holds `key`.
    pub async fn object_gone(&self, key: &str) -> bool {
        self.app_state
            .store
            .head(key)
            .await
            .expect("head")
            .is_none()
    }

    /// Both tokens of a session are refused, as after logout-all or a password change.
    pub async fn assert_session_ended(&self, tokens: &Tokens) {
        assert_error(
            self.me(&tokens.access).await,
            StatusCode::UNAUTHORIZED,
            "INVALID_TOKEN",
        )
        .await;
        assert_error(
            self.refresh(&tokens.refresh).await,
            StatusCode::UNAUTHORIZED,
            "INVALID_REFRESH_TOKEN",
        )
        .await;
    }

    /// The object key behind an upload (read from the database, as an operator could).
    pub async fn object_key(&self, upload_id: &str) -> String {
        use sea_orm::EntityTrait;
        coffer::entity::uploads::Entity::find_by_id(uuid::Uuid::parse_str(upload_id).expect("uuid"))
            .one(&self.app_state.db)
            .await
            .expect("query")
            .expect("upload row")
            .object_key
    }

    /// Uploads `bytes` as `name` at the root through the presigned PUT; returns the file id.
    pub async fn upload(
        &self,
        access: &str,
        name: &str,
        bytes: &[u8],
        content_type: &str,
    ) -> String {
        let started = self.started(access, name, bytes.len(), content_type).await;
        let res = put_presigned(&started.body["put"], bytes.to_vec()).await;
        assert!(res.status().is_success(), "presigned PUT: {}", res.status());
        let res = self
            .post_auth(
                &format!("/api/v1/uploads/{}/complete", started.upload_id),
                access,
                &json!({}),
            )
            .await;
        assert_eq!(
            res.status(),
            StatusCode::OK,
            "complete {name}: {}",
            server_errors()
        );
        started.file_id
    }

    /// Downloads a file through its presigned GET.
    pub async fn download(&self, access: &str, file_id: &str) -> reqwest::Response {
        let res = self
            .get_auth(&format!("/api/v1/files/{file_id}/download"), access)
            .await;
        assert_eq!(res.status(), StatusCode::OK, "download URL");
        let body: DownloadResponse = res.json().await.expect("a download response");
        raw_client()
            .get(&body.url)
            .send()
            .await
            .expect("presigned GET")
    }

    pub async fn usage(&self, access: &str) -> UsageResponse {
        self.get_auth("/api/v1/me/usage", access)
            .await
            .json()
            .await
            .expect("usage json")
    }
}

/// A client with no credentials of ours: what a presigned URL is given to.
pub fn raw_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// Sends a presigned request described as `{method, url, headers}` with `body`.
pub async fn put_presigned(presigned: &Value, body: Vec<u8>) -> Response {
    try_put_presigned(presigned, body)
        .await
        .expect("presigned request")
}

/// [`put_presigned`], keeping a transport error: a store may answer a refused body
/// early and close the connection while the client is still writing it.
pub async fn try_put_presigned(presigned: &Value, body: Vec<u8>) -> reqwest::Result<Response> {
    // An upload's `put` or one of its part URLs, read through the API's own types.
    let (url, headers) = match PresignedRequest::deserialize(presigned) {
        Ok(p) => (p.url, p.headers),
        Err(_) => {
            let p = PartUrl::deserialize(presigned).expect("a presigned request or part URL");
            (p.url, p.headers)
        }
    };
    // The body's real length goes out as Content-Length (explicitly: hyper sends none for
    // an empty body), so a body of the wrong length meets the signed header and fails.
    let mut req = raw_client()
        .put(url)
        .header("content-length", body.len().to_string())
        .body(body);
    for (k, v) in headers {
        if !k.eq_ignore_ascii_case("content-length") {
            req = req.header(k, v);
        }
    }
    req.send().await
}

/// Bytes that differ at every offset, so a misplaced part shows.
pub fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u32).wrapping_mul(2654435761).to_le_bytes()[i % 4] ^ seed)
        .collect()
}

/// Creates a folder (under `parent`, or at the root); returns its id.
pub async fn folder(app: &TestApp, access: &str, name: &str, parent: Option<&str>) -> String {
    let res = app
        .post_auth(
            "/api/v1/folders",
            access,
            &json!({"name": name, "parent_id": parent}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let created: FileResponse = res.json().await.expect("a file response");
    created.id.to_string()
}

/// Uploads `bytes` as `name` into folder `parent` and completes it; returns the file id.
pub async fn upload_into(
    app: &TestApp,
    access: &str,
    name: &str,
    parent: &str,
    bytes: &[u8],
) -> String {
    let started: UploadResponse = app
        .start_upload(
            access,
            &json!({"name": name, "size": bytes.len(), "parent_id": parent}),
        )
        .await
        .json()
        .await
        .expect("an upload response");
    let put = serde_json::to_value(started.put).expect("put");
    assert!(put_presigned(&put, bytes.to_vec())
        .await
        .status()
        .is_success());
    let id = started.upload_id;
    let res = app
        .post_auth(
            &format!("/api/v1/uploads/{id}/complete"),
            access,
            &json!({}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    started.file.id.to_string()
}

/// The entries of a zip archive: (name, bytes), in archive order.
pub fn read_zip(bytes: Vec<u8>) -> Vec<(String, Vec<u8>)> {
    use std::io::Read as _;
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).expect("a valid zip");
    let mut entries = Vec::new();
    for i in 0..zip.len() {
        let mut entry = zip.by_index(i).expect("entry");
        let mut data = Vec::new();
        entry.read_to_end(&mut data).expect("read");
        entries.push((entry.name().expect("utf-8 name").to_string(), data));
    }
    entries
}
