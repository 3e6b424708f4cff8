//! The one error type the HTTP layer knows. Module errors map into it; it maps to a
//! status, a stable `error_code` and the body `{"detail": "...", "error_code": "..."}`.

use actix_web::http::{header, StatusCode};
use actix_web::{HttpRequest, HttpResponse, ResponseError};
use serde::Serialize;
use utoipa::ToSchema;

/// The body of every error response.
#[derive(Debug, Serialize, serde::Deserialize, ToSchema)]
pub struct ErrorBody {
    /// A human-readable sentence.
    #[schema(example = "Username or password is wrong.")]
    pub detail: String,
    /// A stable machine-readable code.
    #[schema(example = "INVALID_CREDENTIALS")]
    pub error_code: String,
}

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// Anything the client can fix: the status, code and sentence are safe to show.
    #[error("{detail}")]
    Client {
        status: StatusCode,
        code: &'static str,
        detail: String,
        retry_after: Option<u64>,
    },
    /// A dependency (database, object store) is unreachable.
    #[error("service unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// A bug or an unexpected failure: logged with its cause, answered generically.
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl AppError {
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> AppError {
        AppError::Client {
            status,
            code,
            detail: detail.into(),
            retry_after: None,
        }
    }

    pub fn bad_request(code: &'static str, detail: impl Into<String>) -> AppError {
        AppError::new(StatusCode::BAD_REQUEST, code, detail)
    }

    pub fn unprocessable(code: &'static str, detail: impl Into<String>) -> AppError {
        AppError::new(StatusCode::UNPROCESSABLE_ENTITY, code, detail)
    }

    pub fn unauthorized(code: &'static str, detail: impl Into<String>) -> AppError {
        AppError::new(StatusCode::UNAUTHORIZED, code, detail)
    }

    pub fn forbidden(code: &'static str, detail: impl Into<String>) -> AppError {
        AppError::new(StatusCode::FORBIDDEN, code, detail)
    }

    pub fn not_found() -> AppError {
        AppError::new(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            "The resource does not exist.",
        )
    }

    pub fn conflict(code: &'static str, detail: impl Into<String>) -> AppError {
        AppError::new(StatusCode::CONFLICT, code, detail)
    }

    /// 429 or 503 with a `Retry-After` header.
    pub fn retry_later(
        status: StatusCode,
        code: &'static str,
        detail: impl Into<String>,
        secs: u64,
    ) -> AppError {
        AppError::Client {
            status,
            code,
            detail: detail.into(),
            retry_after: Some(secs.max(1)),
        }
    }

    pub fn internal(e: impl std::error::Error + Send + Sync + 'static) -> AppError {
        AppError::Internal(Box::new(e))
    }

    pub fn code(&self) -> &'static str {
        match self {
            AppError::Client { code, .. } => code,
            AppError::Unavailable(_) => "SERVICE_UNAVAILABLE",
            AppError::Internal(_) => "INTERNAL_ERROR",
        }
    }
}

impl From<crate::page::BadLimit> for AppError {
    fn from(e: crate::page::BadLimit) -> AppError {
        AppError::unprocessable("INVALID_REQUEST", e.to_string())
    }
}

impl From<sea_orm::DbErr> for AppError {
    fn from(e: sea_orm::DbErr) -> AppError {
        use sea_orm::DbErr;
        match e {
            DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => AppError::Unavailable(Box::new(e)),
            other => AppError::Internal(Box::new(other)),
        }
    }
}

impl From<sea_orm::TransactionError<AppError>> for AppError {
    fn from(e: sea_orm::TransactionError<AppError>) -> AppError {
        match e {
            sea_orm::TransactionError::Connection(db) => db.into(),
            sea_orm::TransactionError::Transaction(app) => app,
        }
    }
}

/// Writes the full cause chain of an error to the log, once.
fn log_chain(kind: &str, e: &(dyn std::error::Error + 'static)) {
    let mut chain = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        chain.push_str(": ");
        chain.push_str(&s.to_string());
        source = s.source();
    }
    tracing::error!(error.kind = kind, error.chain = %chain, "request failed");
}

impl ResponseError for AppError {
    fn status_code(&self) -> StatusCode {
        match self {
            AppError::Client { status, .. } => *status,
            AppError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let body = self.body();
        let mut res = HttpResponse::build(self.status_code());
        match self {
            AppError::Client {
                retry_after: Some(secs),
                ..
            } => {
                res.insert_header((header::RETRY_AFTER, secs.to_string()));
            }
            AppError::Unavailable(_) => {
                res.insert_header((header::RETRY_AFTER, "5"));
            }
            _ => {}
        }
        res.json(body)
    }
}

impl AppError {
    /// The body this error answers with (a server-side cause is logged, never shown):
    /// also one item's result in a batch.
    pub fn body(&self) -> ErrorBody {
        let detail = match self {
            AppError::Client { detail, .. } => detail.clone(),
            AppError::Unavailable(e) => {
                log_chain("unavailable", e.as_ref());
                "A backing service is unavailable; try again shortly.".to_owned()
            }
            AppError::Internal(e) => {
                log_chain("internal", e.as_ref());
                "Internal server error.".to_owned()
            }
        };
        ErrorBody {
            detail,
            error_code: self.code().to_owned(),
        }
    }
}

/// Error handlers for malformed JSON, query and path input: same body as every error.
pub fn json_config(limit: usize) -> actix_web::web::JsonConfig {
    use actix_web::error::JsonPayloadError as E;
    actix_web::web::JsonConfig::default()
        .limit(limit)
        .error_handler(|err, _req: &HttpRequest| {
            let app = match &err {
                E::OverflowKnownLength { .. } | E::Overflow { .. } => AppError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "PAYLOAD_TOO_LARGE",
                    "The request body is too large.",
                ),
                E::ContentType => AppError::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "UNSUPPORTED_MEDIA_TYPE",
                    "The request body must be JSON (Content-Type: application/json).",
                ),
                E::Deserialize(e) => json_error(e),
                _ => AppError::bad_request("MALFORMED_BODY", "The request body could not be read."),
            };
            app.into()
        })
}

/// Valid JSON of the wrong shape is 422; anything else that is not JSON is 400.
pub fn json_error(e: &serde_json::Error) -> AppError {
    if e.is_data() {
        AppError::unprocessable(
            "INVALID_BODY",
            format!("The request body is not valid: {e}."),
        )
    } else {
        AppError::bad_request(
            "MALFORMED_JSON",
            format!("The request body is not valid JSON: {e}."),
        )
    }
}

/// A JSON body that may be absent: empty means `T::default()`; anything else must parse.
pub fn optional_json<T: Default + serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, AppError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body).map_err(|e| json_error(&e))
}

pub fn query_config() -> actix_web::web::QueryConfig {
    actix_web::web::QueryConfig::default().error_handler(|err, _req| {
        AppError::bad_request(
            "INVALID_QUERY",
            format!("The query string is not valid: {err}."),
        )
        .into()
    })
}

pub fn path_config() -> actix_web::web::PathConfig {
    actix_web::web::PathConfig::default().error_handler(|err, _req| {
        AppError::bad_request("INVALID_PATH", format!("The path is not valid: {err}.")).into()
    })
}

/// The answer for routes that do not exist.
pub async fn not_found_route() -> Result<HttpResponse, AppError> {
    Err(AppError::new(
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
        "No such route.",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test as atest;
    use actix_web::{web, App};

    #[derive(serde::Deserialize)]
    struct Page {
        #[allow(dead_code)]
        limit: u32,
    }

    async fn by_id(_: web::Path<uuid::Uuid>, _: web::Query<Page>) -> HttpResponse {
        HttpResponse::Ok().finish()
    }

    async fn error_of(uri: &str) -> (StatusCode, serde_json::Value) {
        let app = atest::init_service(
            App::new()
                .app_data(query_config())
                .app_data(path_config())
                .route("/things/{id}", web::get().to(by_id)),
        )
        .await;
        let res = atest::call_service(&app, atest::TestRequest::get().uri(uri).to_request()).await;
        let status = res.status();
        (status, atest::read_body_json(res).await)
    }

    #[actix_web::test]
    async fn malformed_path_and_query_get_the_error_shape() {
        let id = uuid::Uuid::new_v4();
        let (status, body) = error_of("/things/not-a-uuid?limit=1").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["error_code"], "INVALID_PATH");
        let (status, body) = error_of(&format!("/things/{id}?limit=lots")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["error_code"], "INVALID_QUERY");
        assert!(body["detail"].as_str().is_some_and(|d| !d.is_empty()));
    }

    #[test]
    fn internal_errors_answer_generically() {
        let e = AppError::internal(std::io::Error::other("disk on fire at /secret/path"));
        let res = e.error_response();
        assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = actix_web::body::to_bytes(res.into_body());
        let body = futures_util::FutureExt::now_or_never(body)
            .expect("ready")
            .expect("bytes");
        let text = String::from_utf8_lossy(&body);
        assert!(
            !text.contains("secret") && text.contains("INTERNAL_ERROR"),
            "{text}"
        );
    }
}
