//! The hand-written part of the OpenAPI 3.1 document: info, tags, the bearer scheme and
//! the shared error responses, defined once here. The routes add themselves (see
//! `crate::routes`).

use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, OpenApi as Spec, Ref, RefOr, Response, ResponseBuilder};
use utoipa::{Modify, OpenApi};

use crate::error::ErrorBody;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Coffer",
        description = "Self-hosted file storage and sharing: a metadata-only control plane that \
                       hands out short-lived presigned S3 URLs. Errors are always \
                       `{\"detail\": \"...\", \"error_code\": \"...\"}`."
    ),
    components(schemas(ErrorBody)),
    modifiers(&BearerScheme),
    tags(
        (name = "auth", description = "Accounts and tokens"),
        (name = "uploads", description = "Presigned uploads, single and multipart"),
        (name = "files", description = "Files, folders, downloads and usage"),
        (name = "archives", description = "Zip bundles built by the worker, and task status"),
        (name = "sharing", description = "Shares with users, and share links"),
        (name = "public links", description = "Share links redeemed without an account"),
        (name = "tokens", description = "Scoped API tokens for programs (sessions only)"),
        (name = "admin", description = "Users, sessions and the audit log (admin role only)"),
        (name = "health", description = "Liveness and readiness"),
        (name = "jobs", description = "HPC job records and their files"),
        (name = "benchwrap compatibility", description = "The protocol of the benchwrap HPC \
            client's former backend, under /api, so deployed clients work unchanged"),
    )
)]
struct ApiDoc;

struct BearerScheme;

impl Modify for BearerScheme {
    fn modify(&self, openapi: &mut Spec) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
        components.add_security_scheme(
            "api_token",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("cft_…")
                    .description(Some(
                        "A scoped API token from `POST /api/v1/tokens`, sent as \
                         `Authorization: Bearer cft_…`. An operation lists the scope it \
                         needs; one outside the token's scopes answers 403 `TOKEN_SCOPE`, \
                         and operations without this scheme accept no API token.",
                    ))
                    .build(),
            ),
        );
    }
}

/// The hand-written part of the spec: info, tags, shared schemas, security schemes.
pub fn spec_base() -> Spec {
    ApiDoc::openapi()
}

/// Adds the shared error responses to every operation.
pub fn finish(mut api: Spec) -> Spec {
    let shared = [
        ("BadRequest", "Malformed JSON, query or path input"),
        (
            "Unauthorized",
            "Missing, invalid, expired or revoked access token",
        ),
        (
            "RequestTimeout",
            "The request body did not arrive in time (BODY_TIMEOUT)",
        ),
        (
            "UnsupportedMediaType",
            "The request body is not JSON (Content-Type: application/json)",
        ),
        ("TooManyRequests", "Rate limited; see Retry-After"),
        (
            "InternalError",
            "Unexpected failure; the body carries no detail",
        ),
        (
            "Unavailable",
            "Database or object store unreachable, or the server is busy; see Retry-After",
        ),
    ];
    let components = api.components.get_or_insert_with(Default::default);
    for (name, description) in shared {
        components
            .responses
            .insert(name.to_owned(), RefOr::T(error_response(description)));
    }
    for (path, item) in api.paths.paths.iter_mut() {
        let api_route = path.starts_with("/api/");
        for op in [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ]
        .into_iter()
        .flatten()
        {
            add_shared(op, api_route);
        }
    }
    api
}

fn add_shared(op: &mut Operation, api_route: bool) {
    let secured = op.security.as_ref().is_some_and(|s| !s.is_empty());
    let takes_input =
        op.request_body.is_some() || op.parameters.as_ref().is_some_and(|p| !p.is_empty());
    let json_body = op
        .request_body
        .as_ref()
        .is_some_and(|b| b.content.contains_key("application/json"));
    let mut wanted = Vec::new();
    if takes_input {
        wanted.push(("400", "BadRequest"));
    }
    if op.request_body.is_some() {
        wanted.push(("408", "RequestTimeout"));
    }
    if json_body {
        wanted.push(("415", "UnsupportedMediaType"));
    }
    if secured {
        wanted.push(("401", "Unauthorized"));
    }
    if api_route {
        wanted.extend([
            ("429", "TooManyRequests"),
            ("500", "InternalError"),
            ("503", "Unavailable"),
        ]);
    }
    for (status, name) in wanted {
        op.responses
            .responses
            .entry(status.to_owned())
            .or_insert_with(|| RefOr::Ref(Ref::from_response_name(name)));
    }
}

fn error_response(description: &str) -> Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("ErrorBody")))
                .build(),
        )
        .build()
}
