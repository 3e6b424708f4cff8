//! Administration: users, sessions and the audit log, for the `admin` role only.

pub mod dto;
pub mod repo;
pub mod routes;
pub mod service;
pub mod tokens;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;

use crate::auth::AuthUser;
use crate::error::AppError;

pub use crate::auth::Role;

/// An authenticated caller with the `admin` role; anyone else gets 403.
pub struct AdminUser(pub AuthUser);

impl FromRequest for AdminUser {
    type Error = AppError;
    type Future = LocalBoxFuture<'static, Result<AdminUser, AppError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let auth = AuthUser::from_request(req, payload);
        Box::pin(async move {
            let auth = auth.await?;
            if auth.user.role != Role::Admin {
                return Err(AppError::forbidden(
                    "ADMIN_ONLY",
                    "This needs the admin role.",
                ));
            }
            Ok(AdminUser(auth))
        })
    }
}
