//! The route table: every documented route, mounted by start-up and read by the spec,
//! so the served routes and the spec cannot disagree.

use actix_web::App;
use utoipa::openapi::OpenApi as Spec;
use utoipa_actix_web::service_config::ServiceConfig;
use utoipa_actix_web::{scope, AppExt};

use crate::http::openapi;
use crate::{
    admin, archives, auth, benchwrap, files, jobs, ops, quotas, sharing, tiering, trash, uploads,
};

/// Every documented route. `startup` mounts the same function.
pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(ops::routes::healthz)
        .service(ops::routes::readyz)
        .service(ops::routes::metrics)
        .service(
            scope("/api/v1/auth")
                .configure(auth::routes::configure)
                .configure(auth::device::routes::configure),
        )
        .service(scope("/api/v1/tokens").configure(auth::api_tokens::routes::configure))
        .service(scope("/api/v1/me").configure(quotas::routes::configure))
        .service(scope("/api/v1/uploads").configure(uploads::routes::configure))
        .service(
            scope("/api/v1/files")
                .configure(files::routes::configure_files)
                .configure(uploads::routes::configure_file_writes)
                .configure(sharing::routes::configure_file_routes),
        )
        .service(
            scope("/api/v1/shared-with-me").configure(sharing::routes::configure_shared_with_me),
        )
        .service(scope("/api/v1/folders").configure(files::routes::configure_folders))
        .service(scope("/api/v1/archives").configure(archives::routes::configure))
        .service(scope("/api/v1/tasks").configure(archives::routes::configure_tasks))
        .service(scope("/api/v1/jobs").configure(jobs::routes::configure))
        .service(scope("/api/v1/trash").configure(trash::routes::configure))
        // Before /api/v1/admin, which would otherwise take its requests.
        .service(scope("/api/v1/admin/tiering").configure(tiering::routes::configure))
        .service(scope("/api/v1/admin").configure(admin::routes::configure))
        .service(scope("/s").configure(sharing::public::configure))
        // After every /api/v1 scope, which are matched first.
        .service(scope("/api").configure(benchwrap::routes::configure));
}

/// The spec, without running anything.
pub fn spec() -> Spec {
    let (_, api) = App::new()
        .into_utoipa_app()
        .openapi(openapi::spec_base())
        .configure(routes)
        .split_for_parts();
    openapi::finish(api)
}
