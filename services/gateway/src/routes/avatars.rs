//! Avatars, straight to and from object storage: `POST /api/v1/users/me/avatar` signs an
//! upload, `PATCH /api/v1/users/me {avatarKey}` adopts it, `GET /api/v1/users/{id}/avatar`
//! redirects to a short-lived download URL.

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use hubbub_proto::user::GetUserRequest;
use serde::Deserialize;
use utoipa::ToSchema;

use super::attachments::Upload;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{Caller, Json};
use crate::startup::AppState;

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AvatarUploadBody {
    /// One of `gateway.avatar_types` (PNG, JPEG, WebP or GIF by default).
    content_type: String,
    /// Exactly the bytes that will be sent, at most `gateway.avatar_max_bytes`.
    #[schema(minimum = 1, maximum = 9223372036854775807_i64)]
    size: u64,
}

fn extension(content_type: &str) -> &'static str {
    match content_type {
        "image/png" => "png",
        "image/jpeg" => "jpg",
        "image/webp" => "webp",
        "image/gif" => "gif",
        _ => "bin",
    }
}

/// Whether `content_type` is in the comma-separated `allowed` list.
fn avatar_type(allowed: &str, content_type: &str) -> bool {
    allowed.split(',').map(str::trim).any(|t| t.eq_ignore_ascii_case(content_type))
}

pub(crate) fn storage_error(e: hubbub_storage::Error) -> ApiError {
    tracing::error!(error = %e, "object storage");
    ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "SERVICE_UNAVAILABLE", "a dependency is unavailable, try again")
}

/// `POST /api/v1/users/me/avatar {contentType, size}` → a presigned PUT for exactly that type
/// and size.
#[utoipa::path(post, operation_id = "createAvatarUpload", path = "/users/me/avatar", tag = "users", request_body = AvatarUploadBody,
    responses(
        (status = 200, description = "A presigned PUT for exactly that type and size; then `PATCH /users/me {avatarKey}`", body = Upload),
        (status = 413, description = "FILE_TOO_LARGE", body = ErrorBody),
    ))]
pub async fn upload(
    State(s): State<AppState>,
    Caller(_, claims): Caller,
    Json(b): Json<AvatarUploadBody>,
) -> Result<axum::Json<Upload>, ApiError> {
    if !avatar_type(&s.settings.avatar_types, &b.content_type) {
        return Err(ApiError::validation(format!("contentType must be one of {}", s.settings.avatar_types)));
    }
    if b.size == 0 || b.size > s.settings.avatar_max_bytes {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "FILE_TOO_LARGE",
            format!("an avatar must be 1–{} bytes", s.settings.avatar_max_bytes),
        ));
    }
    let content_type = b.content_type.to_ascii_lowercase();
    let key = format!("avatars/{}/{}.{}", claims.sub, uuid::Uuid::new_v4().simple(), extension(&content_type));
    let signed = s.storage.presign_put(&key, &content_type, b.size, None).await.map_err(storage_error)?;
    let expires_at_ms = hubbub_api::unix_ms(signed.expires_at);
    Ok(axum::Json(Upload::new(key, signed.url, signed.method, signed.headers, expires_at_ms)))
}

/// Checks that an avatar key names the caller's own uploaded object, of an allowed type and
/// size. Ownership comes first: a key outside the caller's own prefix is refused before storage
/// is asked, so the answer tells nothing about other people's objects.
pub async fn check_uploaded(s: &AppState, caller: &str, key: &str) -> Result<(), ApiError> {
    let own = format!("avatars/{caller}/");
    if !key.strip_prefix(&own).is_some_and(|rest| !rest.is_empty() && !rest.contains('/')) {
        return Err(ApiError::validation("avatarKey must come from your own avatar upload"));
    }
    let object = s.storage.head(key).await.map_err(storage_error)?;
    let Some(object) = object else {
        return Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "AVATAR_NOT_UPLOADED", "upload the avatar first"));
    };
    if object.size > s.settings.avatar_max_bytes {
        return Err(ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "FILE_TOO_LARGE", "avatar too large"));
    }
    let stored = object.content_type.unwrap_or_default();
    if !avatar_type(&s.settings.avatar_types, &stored) {
        return Err(ApiError::validation(format!("an avatar must be one of {}", s.settings.avatar_types)));
    }
    Ok(())
}

/// `GET /api/v1/users/{id}/avatar` → 302 to a short-lived download URL.
#[utoipa::path(get, operation_id = "getAvatar", path = "/users/{id}/avatar", tag = "users", params(("id" = String, Path, description = "The user's id")),
    responses(
        (status = 302, description = "To a short-lived download URL", headers(("location" = String, description = "The signed URL"))),
        (status = 404, description = "USER_NOT_FOUND, or NOT_FOUND: no avatar", body = ErrorBody),
    ))]
pub async fn download(
    State(s): State<AppState>,
    Caller(ctx, _): Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let user = s.users.clone().get_user(ctx.request(GetUserRequest { id })).await?.into_inner();
    let key =
        user.avatar_key.ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "NOT_FOUND", "this user has no avatar"))?;
    let signed = s.storage.presign_get(&key, None).await.map_err(storage_error)?;
    Ok((StatusCode::FOUND, [(header::LOCATION, signed.url), (header::CACHE_CONTROL, "private, max-age=60".into())])
        .into_response())
}
