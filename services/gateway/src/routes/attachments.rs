//! Attachments, straight to and from object storage: `POST /api/v1/uploads` signs an upload to
//! a group, a message names it in `attachments`, `GET /api/v1/attachments/{key}` redirects a
//! member to a short-lived download URL.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use hubbub_proto::message::{CreateUploadRequest, GetAttachmentRequest};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::{ApiError, ErrorBody};
use crate::extract::{Caller, Json};
use crate::startup::AppState;

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UploadBody {
    group_id: String,
    name: String,
    /// One of `message.upload_types`.
    content_type: String,
    /// Exactly the bytes that will be sent, at most `message.upload_max_bytes` (25 MiB).
    #[schema(minimum = 1, maximum = 9223372036854775807_i64)]
    size: u64,
}

/// A signed upload, as the API answers it (attachments and avatars alike).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Upload {
    key: String,
    url: String,
    method: String,
    /// Send these exactly: they are part of the signature.
    headers: BTreeMap<String, String>,
    #[schema(format = DateTime)]
    expires_at: String,
}

impl Upload {
    /// The answer for a PUT to `key`, signed as `url` with `headers`, valid until `expires_at_ms`.
    pub(crate) fn new(
        key: String,
        url: String,
        method: String,
        headers: impl IntoIterator<Item = (String, String)>,
        expires_at_ms: i64,
    ) -> Self {
        Self {
            key,
            url,
            method,
            headers: headers.into_iter().collect(),
            expires_at: hubbub_api::timestamp(expires_at_ms),
        }
    }
}

/// `POST /api/v1/uploads {groupId, name, contentType, size}` → 201 with a presigned PUT for
/// exactly that type and size, once, for members of the group.
#[utoipa::path(post, operation_id = "createUpload", path = "/uploads", tag = "attachments", request_body = UploadBody,
    responses(
        (status = 201, description = "A presigned PUT for exactly that type and size", body = Upload),
        (status = 403, description = "NOT_A_MEMBER", body = ErrorBody),
        (status = 404, description = "GROUP_NOT_FOUND", body = ErrorBody),
        (status = 413, description = "FILE_TOO_LARGE", body = ErrorBody),
    ))]
pub async fn create(
    State(s): State<AppState>,
    Caller(ctx, _): Caller,
    Json(b): Json<UploadBody>,
) -> Result<(StatusCode, axum::Json<Upload>), ApiError> {
    let req = CreateUploadRequest { group_id: b.group_id, name: b.name, content_type: b.content_type, size: b.size };
    let signed = s.messages.clone().create_upload(ctx.request(req)).await.map_err(too_large)?.into_inner();
    let upload = Upload::new(signed.key, signed.url, signed.method, signed.headers, signed.expires_at_ms);
    Ok((StatusCode::CREATED, axum::Json(upload)))
}

/// A file over the size limit is 413, as for avatars.
fn too_large(status: tonic::Status) -> ApiError {
    let mut e = ApiError::from(status);
    if e.code == "FILE_TOO_LARGE" {
        e.status = StatusCode::PAYLOAD_TOO_LARGE;
    }
    e
}

/// `GET /api/v1/attachments/{key}` → 302 to a short-lived download URL; 404 for anyone who is
/// not a member of the attachment's group, whether or not the key exists.
#[utoipa::path(get, operation_id = "getAttachment", path = "/api/v1/attachments/{key}", tag = "attachments",
    params(("key" = String, Path, description = "The attachment's key (it contains slashes)")),
    responses(
        (status = 302, description = "To a short-lived download URL", headers(("location" = String, description = "The signed URL"))),
        (status = 404, description = "NOT_FOUND: no such attachment, or not yours to see", body = ErrorBody),
    ))]
pub async fn download(
    State(s): State<AppState>,
    Caller(ctx, _): Caller,
    Path(key): Path<String>,
) -> Result<Response, ApiError> {
    let link = s.messages.clone().get_attachment(ctx.request(GetAttachmentRequest { key })).await?.into_inner();
    Ok((StatusCode::FOUND, [(header::LOCATION, link.url), (header::CACHE_CONTROL, "private, max-age=60".into())])
        .into_response())
}
