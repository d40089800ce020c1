//! `/api/v1/users*`. Profiles never carry an email address.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use hubbub_proto::auth::DeleteAccountRequest;
use hubbub_proto::user::{GetPresenceRequest, GetUserRequest, SearchUsersRequest, UpdateProfileRequest};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::error::{ApiError, ErrorBody};
use crate::extract::{Caller, Json};
use crate::startup::AppState;

/// `GET /api/v1/users/me`.
#[utoipa::path(get, operation_id = "getMe", path = "/users/me", tag = "users", responses((status = 200, description = "My profile", body = hubbub_api::User)))]
pub async fn me(
    State(s): State<AppState>,
    Caller(ctx, claims): Caller,
) -> Result<axum::Json<hubbub_api::User>, ApiError> {
    let user = s.users.clone().get_user(ctx.request(GetUserRequest { id: claims.sub })).await?.into_inner();
    Ok(axum::Json(user.into()))
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProfilePatch {
    display_name: Option<String>,
    bio: Option<String>,
    avatar_key: Option<String>,
}

/// `PATCH /api/v1/users/me {displayName?, bio?, avatarKey?}` → the profile.
#[utoipa::path(patch, operation_id = "updateMe", path = "/users/me", tag = "users", request_body = ProfilePatch,
    responses(
        (status = 200, description = "The profile as changed", body = hubbub_api::User),
        (status = 413, description = "FILE_TOO_LARGE: the avatar is over the limit", body = ErrorBody),
        (status = 422, description = "AVATAR_NOT_UPLOADED: upload the avatar first", body = ErrorBody),
    ))]
pub async fn update(
    State(s): State<AppState>,
    Caller(ctx, claims): Caller,
    Json(b): Json<ProfilePatch>,
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
#[utoipa::path(delete, operation_id = "deleteMe", path = "/users/me", tag = "users",
    responses((status = 204, description = "The account is gone; its messages stay, as a deleted user's")))]
pub async fn delete(State(s): State<AppState>, Caller(ctx, _): Caller) -> Result<StatusCode, ApiError> {
    s.auth.clone().delete_account(ctx.request(DeleteAccountRequest {})).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchQuery {
    /// A username or display name prefix.
    q: String,
    /// At most this many (`user.search_max_limit` caps it; 50 by default).
    #[param(minimum = 0, maximum = 4294967295_u64, format = Int64)]
    limit: Option<u32>,
    /// `nextCursor` of the previous page.
    #[param(pattern = "^([0-9a-f]{2})*$", max_length = 512)]
    cursor: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SearchPage {
    users: Vec<hubbub_api::User>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    next_cursor: Option<String>,
}

/// `GET /api/v1/users?q=<prefix>&limit=&cursor=`: by username or display name prefix.
#[utoipa::path(get, operation_id = "searchUsers", path = "/users", tag = "users", params(SearchQuery),
    responses((status = 200, description = "Users whose username or display name starts with `q`", body = SearchPage)))]
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
#[utoipa::path(get, operation_id = "getUser", path = "/users/{id}", tag = "users", params(("id" = String, Path, description = "The user's id")),
    responses(
        (status = 200, description = "The profile", body = hubbub_api::User),
        (status = 404, description = "USER_NOT_FOUND", body = ErrorBody),
    ))]
pub async fn get(
    State(s): State<AppState>,
    Caller(ctx, _): Caller,
    Path(id): Path<String>,
) -> Result<axum::Json<hubbub_api::User>, ApiError> {
    let user = s.users.clone().get_user(ctx.request(GetUserRequest { id })).await?.into_inner();
    Ok(axum::Json(user.into()))
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PresenceBody {
    online: bool,
    #[schema(format = DateTime)]
    last_seen_at: Option<String>,
}

/// `GET /api/v1/users/{id}/presence` → `{online, lastSeenAt}`.
#[utoipa::path(get, operation_id = "getPresence", path = "/users/{id}/presence", tag = "users", params(("id" = String, Path, description = "The user's id")),
    responses(
        (status = 200, description = "Online now, or when last seen", body = PresenceBody),
        (status = 404, description = "USER_NOT_FOUND", body = ErrorBody),
    ))]
pub async fn presence(
    State(s): State<AppState>,
    Caller(ctx, _): Caller,
    Path(id): Path<String>,
) -> Result<axum::Json<PresenceBody>, ApiError> {
    let p = s.users.clone().get_presence(ctx.request(GetPresenceRequest { id })).await?.into_inner();
    Ok(axum::Json(PresenceBody { online: p.online, last_seen_at: p.last_seen_at_ms.map(hubbub_api::timestamp) }))
}
