//! `/api/v1/auth/*`.

use axum::extract::State;
use axum::http::StatusCode;
use hubbub_proto::auth::{
    AuthResponse, ChangePasswordRequest, LoginRequest, LogoutRequest, RefreshRequest, RegisterRequest,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::{ApiError, ErrorBody};
use crate::extract::{Anonymous, Caller, Json};
use crate::startup::AppState;

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RegisterBody {
    /// 3–32 of `a-z A-Z 0-9 _ . -` (`auth.username_min`, `auth.username_max`).
    #[schema(pattern = "^[a-zA-Z0-9_.-]{3,32}$")]
    username: String,
    email: String,
    /// 8–128 characters (`auth.password_min`, `auth.password_max`).
    #[schema(min_length = 8, max_length = 128)]
    password: String,
    display_name: Option<String>,
}

#[derive(Deserialize, ToSchema)]
pub struct LoginBody {
    login: String,
    password: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RefreshBody {
    refresh_token: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PasswordBody {
    current_password: String,
    new_password: String,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Tokens {
    user: Option<hubbub_api::User>,
    /// `Authorization: Bearer <accessToken>`, and `auth: {token}` in the Socket.IO handshake.
    access_token: String,
    /// For `POST /api/v1/auth/refresh`, once.
    refresh_token: String,
    /// Seconds until the access token expires.
    expires_in: u32,
    /// `admin` or `user`.
    #[schema(pattern = "^(admin|user)$")]
    role: String,
}

impl From<AuthResponse> for Tokens {
    fn from(r: AuthResponse) -> Self {
        Self {
            user: r.user.map(Into::into),
            access_token: r.access_token,
            refresh_token: r.refresh_token,
            expires_in: r.expires_in,
            role: r.role,
        }
    }
}

/// `POST /api/v1/auth/register` → 201 tokens.
#[utoipa::path(post, operation_id = "register", path = "/auth/register", tag = "auth", security(()), request_body = RegisterBody,
    responses(
        (status = 201, description = "The account, signed in", body = Tokens),
        (status = 409, description = "USERNAME_TAKEN or EMAIL_TAKEN", body = ErrorBody),
    ))]
pub async fn register(
    State(s): State<AppState>,
    Anonymous(ctx): Anonymous,
    Json(b): Json<RegisterBody>,
) -> Result<(StatusCode, axum::Json<Tokens>), ApiError> {
    let req =
        RegisterRequest { username: b.username, email: b.email, password: b.password, display_name: b.display_name };
    let resp = s.auth.clone().register(ctx.request(req)).await?.into_inner();
    Ok((StatusCode::CREATED, axum::Json(resp.into())))
}

/// `POST /api/v1/auth/login` → 200 tokens.
#[utoipa::path(post, operation_id = "login", path = "/auth/login", tag = "auth", security(()), request_body = LoginBody,
    responses(
        (status = 200, description = "Signed in", body = Tokens),
        (status = 401, description = "INVALID_CREDENTIALS", body = ErrorBody),
    ))]
pub async fn login(
    State(s): State<AppState>,
    Anonymous(ctx): Anonymous,
    Json(b): Json<LoginBody>,
) -> Result<axum::Json<Tokens>, ApiError> {
    let resp = s.auth.clone().login(ctx.request(LoginRequest { login: b.login, password: b.password })).await?;
    Ok(axum::Json(resp.into_inner().into()))
}

/// `POST /api/v1/auth/refresh` → 200 a new pair; the old refresh token is spent.
#[utoipa::path(post, operation_id = "refresh", path = "/auth/refresh", tag = "auth", security(()), request_body = RefreshBody,
    responses(
        (status = 200, description = "A new pair; the old refresh token is spent", body = Tokens),
        (status = 401, description = "An unknown, expired or spent refresh token (a spent one revokes its family)", body = ErrorBody),
    ))]
pub async fn refresh(
    State(s): State<AppState>,
    Anonymous(ctx): Anonymous,
    Json(b): Json<RefreshBody>,
) -> Result<axum::Json<Tokens>, ApiError> {
    let resp = s.auth.clone().refresh(ctx.request(RefreshRequest { refresh_token: b.refresh_token })).await?;
    Ok(axum::Json(resp.into_inner().into()))
}

/// `POST /api/v1/auth/logout` → 204; the session's tokens stop working.
#[utoipa::path(post, operation_id = "logout", path = "/auth/logout", tag = "auth", security(()), request_body = RefreshBody,
    responses(
        (status = 204, description = "The session's tokens stop working"),
        (status = 401, description = "An unknown refresh token", body = ErrorBody),
    ))]
pub async fn logout(
    State(s): State<AppState>,
    Anonymous(ctx): Anonymous,
    Json(b): Json<RefreshBody>,
) -> Result<StatusCode, ApiError> {
    s.auth.clone().logout(ctx.request(LogoutRequest { refresh_token: b.refresh_token })).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/v1/auth/password` → 204; every other session is revoked.
#[utoipa::path(post, operation_id = "changePassword", path = "/auth/password", tag = "auth", request_body = PasswordBody,
    responses(
        (status = 204, description = "Changed; every other session is revoked"),
        (status = 403, description = "WRONG_PASSWORD: the current password is wrong", body = ErrorBody),
    ))]
pub async fn password(
    State(s): State<AppState>,
    Caller(ctx, claims): Caller,
    Json(b): Json<PasswordBody>,
) -> Result<StatusCode, ApiError> {
    let req = ChangePasswordRequest {
        current_password: b.current_password,
        new_password: b.new_password,
        session_id: claims.sid,
    };
    s.auth.clone().change_password(ctx.request(req)).await?;
    Ok(StatusCode::NO_CONTENT)
}
