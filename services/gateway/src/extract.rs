//! Extractors: JSON bodies whose errors are API errors, and the authenticated caller.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use hubbub_rpc::Ctx;
use serde::de::DeserializeOwned;

use crate::error::{ApiError, request_id};
use crate::startup::AppState;

/// `axum::Json`, with rejections in API.md's error shape (400 VALIDATION_ERROR).
pub struct Json<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(Json(v)),
            Err(e) => Err(ApiError::validation(e.body_text())),
        }
    }
}

/// The caller, from `Authorization: Bearer <access token>`, as an RPC context.
pub struct Caller(pub Ctx);

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| ApiError::unauthorized("missing bearer token"))?;
        let token = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .ok_or_else(|| ApiError::unauthorized("missing bearer token"))?;
        let claims = state
            .tokens
            .verify(token.trim())
            .map_err(|_| ApiError::unauthorized("invalid or expired token"))?;
        Ok(Caller(Ctx::new(request_id()).as_user(claims.sub)))
    }
}

/// The request's context without a caller (public routes).
pub fn anonymous() -> Ctx {
    Ctx::new(request_id())
}
