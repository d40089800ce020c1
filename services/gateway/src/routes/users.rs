//! `/api/v1/users*`. Profiles never carry an email address.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use hubbub_proto::auth::DeleteAccountRequest;
use hubbub_proto::user::{GetPresenceRequest, GetUserRequest, SearchUsersRequest, UpdateProfileRequest};
use serde::{Deserialize, Serialize};

use crate::error::ApiError;
use crate::extract::{Caller, Json};
use crate::startup::AppState;

/// `GET /api/v1/users/me`.
pub async fn me(
    State(s): State<AppState>,
    Caller(ctx, claims): Caller,
) -> Result<axum::Json<hubbub_api::User>, ApiError> {
    let user = s.users.clone().get_user(ctx.request(GetUserRequest { id: claims.sub })).await?.into_inner();
    Ok(axum::Json(user.into()))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PatchBody {
    display_name: Option<String>,
    bio: Option<String>,
    avatar_key: Option<String>,
}

/// `PATCH /api/v1/users/me {displayName?, bio?, avatarKey?}` → the profile.
pub async fn update(
    State(s): State<AppState>,
    Caller(ctx, claims): Caller,
    Json(b): Json<PatchBody>,
) -> Result<axum::Json<hubbub_api::User>, ApiError> {
    if let Some(key) = b.avatar_key.as_deref().filter(|k| !k.is_empty()) {
        super::avatars::check_uploaded(&s, &claims.sub, key).await?;
    }
    let req = UpdateProfileRequest { display_name: b.display_name, bio: b.bio, avatar_key: b.avatar_key };
    let user = s.users.clone().update_profile(ctx.request(req)).await?.into_inner();
    Ok(axum::Json(user.into()))
}

/// `DELETE /api/v1/users/me` → 204: credentials and profile go; messages stay, as a deleted
/// user's; every token of the account stops working at once.
pub async fn delete(State(s): State<AppState>, Caller(ctx, _): Caller) -> Result<StatusCode, ApiError> {
    s.auth.clone().delete_account(ctx.request(DeleteAccountRequest {})).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
pub struct SearchQuery {
    q: String,
    limit: Option<u32>,
    cursor: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SearchPage {
    users: Vec<hubbub_api::User>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    next_cursor: Option<String>,
}

/// `GET /api/v1/users?q=<prefix>&limit=&cursor=`: by username or display name prefix.
pub async fn search(
    State(s): State<AppState>,
    Caller(ctx, _): Caller,
    query: Result<Query<SearchQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<axum::Json<SearchPage>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::validation(e.body_text()))?;
    let req = SearchUsersRequest { query: q.q, limit: q.limit.unwrap_or(0), cursor: q.cursor.unwrap_or_default() };
    let resp = s.users.clone().search_users(ctx.request(req)).await?.into_inner();
    Ok(axum::Json(SearchPage {
        users: resp.users.into_iter().map(Into::into).collect(),
        next_cursor: Some(resp.next_cursor).filter(|c| !c.is_empty()),
    }))
}

/// `GET /api/v1/users/{id}`.
pub async fn get(
    State(s): State<AppState>,
    Caller(ctx, _): Caller,
    Path(id): Path<String>,
) -> Result<axum::Json<hubbub_api::User>, ApiError> {
    let user = s.users.clone().get_user(ctx.request(GetUserRequest { id })).await?.into_inner();
    Ok(axum::Json(user.into()))
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PresenceBody {
    online: bool,
    last_seen_at: Option<String>,
}

/// `GET /api/v1/users/{id}/presence` → `{online, lastSeenAt}`.
pub async fn presence(
    State(s): State<AppState>,
    Caller(ctx, _): Caller,
    Path(id): Path<String>,
) -> Result<axum::Json<PresenceBody>, ApiError> {
    let p = s.users.clone().get_presence(ctx.request(GetPresenceRequest { id })).await?.into_inner();
    Ok(axum::Json(PresenceBody { online: p.online, last_seen_at: p.last_seen_at_ms.map(hubbub_api::timestamp) }))
}
