//! `/api/v1/auth/*`.

use axum::extract::State;
use axum::http::StatusCode;
use hubbub_proto::auth::{AuthResponse, LoginRequest, RegisterRequest};
use serde::{Deserialize, Serialize};

use crate::error::ApiError;
use crate::extract::{Json, anonymous};
use crate::startup::AppState;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegisterBody {
    username: String,
    email: String,
    password: String,
    display_name: Option<String>,
}

#[derive(Deserialize)]
pub struct LoginBody {
    login: String,
    password: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Tokens {
    user: Option<hubbub_api::User>,
    access_token: String,
    expires_in: u32,
}

impl From<AuthResponse> for Tokens {
    fn from(r: AuthResponse) -> Self {
        Self {
            user: r.user.map(Into::into),
            access_token: r.access_token,
            expires_in: r.expires_in,
        }
    }
}

/// `POST /api/v1/auth/register` → 201 tokens.
pub async fn register(
    State(s): State<AppState>,
    Json(b): Json<RegisterBody>,
) -> Result<(StatusCode, axum::Json<Tokens>), ApiError> {
    let req = RegisterRequest {
        username: b.username,
        email: b.email,
        password: b.password,
        display_name: b.display_name,
    };
    let resp = s
        .auth
        .clone()
        .register(anonymous().request(req))
        .await?
        .into_inner();
    Ok((StatusCode::CREATED, axum::Json(resp.into())))
}

/// `POST /api/v1/auth/login` → 200 tokens.
pub async fn login(
    State(s): State<AppState>,
    Json(b): Json<LoginBody>,
) -> Result<axum::Json<Tokens>, ApiError> {
    let resp = s
        .auth
        .clone()
        .login(anonymous().request(LoginRequest {
            login: b.login,
            password: b.password,
        }))
        .await?;
    Ok(axum::Json(resp.into_inner().into()))
}
