//! Extractors: JSON bodies whose errors are API errors, the client's address, and the
//! authenticated caller (token verified, not revoked).

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use hubbub_redis::Admission;
use hubbub_rpc::Ctx;
use hubbub_token::Claims;
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

/// The client's address: the last `X-Forwarded-For` hop (the one our proxy added, which a
/// client cannot forge), else the peer address.
pub fn client_ip(headers: &HeaderMap, peer: Option<SocketAddr>) -> Option<String> {
    let forwarded = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .rfind(|v| !v.is_empty())
        .map(str::to_owned);
    forwarded.or_else(|| peer.map(|p| p.ip().to_string()))
}

/// A request's context: request id and client address.
fn request_ctx(parts: &Parts) -> Ctx {
    let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0);
    let mut ctx = Ctx::new(request_id());
    if let Some(ip) = client_ip(&parts.headers, peer) {
        ctx = ctx.from_ip(ip);
    }
    ctx
}

/// An anonymous request's context: request id and client address. Anonymous requests are
/// limited per client address (`rest_per_minute_anonymous`, a bucket shared by every gateway).
pub struct Anonymous(pub Ctx);

impl FromRequestParts<AppState> for Anonymous {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let ctx = request_ctx(parts);
        if let Some(ip) = ctx.client_ip.as_deref() {
            let minute = std::time::Duration::from_secs(60);
            match state.redis.take_token(&["rest-ip", ip], state.settings.rest_per_minute_anonymous, minute).await {
                Ok(Some(wait)) => return Err(ApiError::rate_limited("too many requests from this address", wait)),
                Ok(None) => {}
                Err(e) => tracing::warn!(error = %e, "checking the request limit"),
            }
        }
        Ok(Anonymous(ctx))
    }
}

/// The caller, from `Authorization: Bearer <access token>`: an RPC context acting for them,
/// and the token's claims.
pub struct Caller(pub Ctx, pub Claims);

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| ApiError::unauthorized("missing bearer token"))?;
        let token = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .ok_or_else(|| ApiError::unauthorized("missing bearer token"))?;
        let claims =
            state.tokens.verify(token.trim()).map_err(|_| ApiError::unauthorized("invalid or expired token"))?;
        // Revocation and the user's allowance of requests (over every gateway) in one round
        // trip. A revoked token is refused; so is everyone while Redis cannot say.
        let minute = std::time::Duration::from_secs(60);
        let session = (claims.sub.as_str(), claims.sid.as_str());
        match state
            .redis
            .take_token_unless_revoked(&["rest", &claims.sub], session, state.settings.rest_per_minute, minute)
            .await
        {
            Ok(Admission::Admitted) => {}
            Ok(Admission::Revoked) => return Err(ApiError::unauthorized("token revoked")),
            Ok(Admission::Limited(wait)) => return Err(ApiError::rate_limited("too many requests", wait)),
            Err(e) => {
                tracing::error!(error = %e, "checking token revocation");
                return Err(ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "SERVICE_UNAVAILABLE",
                    "a dependency is unavailable, try again",
                ));
            }
        }
        Ok(Caller(request_ctx(parts).as_user(claims.sub.clone()), claims))
    }
}

/// A caller whose account is an administrator (as an RPC context); anyone else gets 403.
pub struct Admin(pub Ctx);

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let Caller(ctx, claims) = Caller::from_request_parts(parts, state).await?;
        if claims.role.as_deref() != Some("admin") {
            return Err(ApiError::new(StatusCode::FORBIDDEN, "FORBIDDEN", "administrators only"));
        }
        Ok(Admin(ctx))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_client_address_is_the_hop_our_proxy_added() {
        let mut h = HeaderMap::new();
        let peer: SocketAddr = "10.0.0.9:5000".parse().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(client_ip(&h, Some(peer)).as_deref(), Some("10.0.0.9"));
        h.append("x-forwarded-for", "1.2.3.4, 5.6.7.8".parse().unwrap_or_else(|e| panic!("{e}")));
        assert_eq!(client_ip(&h, Some(peer)).as_deref(), Some("5.6.7.8"));
        h.append("x-forwarded-for", "9.9.9.9".parse().unwrap_or_else(|e| panic!("{e}")));
        assert_eq!(client_ip(&h, Some(peer)).as_deref(), Some("9.9.9.9"));
    }
}
