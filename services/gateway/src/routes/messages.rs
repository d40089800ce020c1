//! `/api/v1/groups/{id}/messages`, `/api/v1/groups/{id}/read` and `/api/v1/messages/{id}`.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use hubbub_proto::message::{
    DeleteMessageRequest, EditMessageRequest, FindPostedRequest, ListMessagesRequest, MarkReadRequest,
    PostMessageRequest,
};
use hubbub_redis::Admission;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::error::{ApiError, ErrorBody};
use crate::extract::{Caller, Json};
use crate::startup::AppState;

type JsonMessage = axum::Json<hubbub_api::Message>;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Messages before this seq, newest of them (default: the newest messages).
    #[param(minimum = 0, maximum = 9223372036854775807_i64)]
    before: Option<u64>,
    /// Messages after this seq, oldest of them.
    #[param(minimum = 0, maximum = 9223372036854775807_i64)]
    after: Option<u64>,
    /// At most this many (default 50, at most 200).
    #[param(minimum = 0, maximum = 4294967295_u64, format = Int64)]
    limit: Option<u32>,
}

#[derive(Serialize, ToSchema)]
pub struct Page {
    messages: Vec<hubbub_api::Message>,
    /// More messages lie beyond this page (older for `before`/newest, newer for `after`).
    more: bool,
}

/// `GET /api/v1/groups/{id}/messages?before=|after=&limit=` → `{messages, more}` in seq order.
#[utoipa::path(get, operation_id = "listMessages", path = "/groups/{id}/messages", tag = "messages", params(("id" = String, Path, description = "The group's id"), ListQuery),
    responses((status = 200, description = "A page in seq order", body = Page), (status = 403, description = "NOT_A_MEMBER", body = ErrorBody), (status = 404, description = "GROUP_NOT_FOUND", body = ErrorBody)))]
pub async fn list(
    State(s): State<AppState>,
    Caller(ctx, _): Caller,
    Path(group_id): Path<String>,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<axum::Json<Page>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::validation(e.body_text()))?;
    seqs_in_range(q.before.into_iter().chain(q.after))?;
    let req = ListMessagesRequest { group_id, before: q.before, after: q.after, limit: q.limit.unwrap_or(0) };
    let resp = s.messages.clone().list_messages(ctx.request(req)).await?.into_inner();
    Ok(axum::Json(Page { messages: resp.messages.into_iter().map(Into::into).collect(), more: resp.more }))
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SendBody {
    /// Optional when the message has attachments (a caption).
    #[serde(default)]
    content: String,
    /// `text` (default), `image` or `file`.
    #[serde(rename = "type")]
    #[schema(pattern = "^(text|image|file)$")]
    kind: Option<String>,
    /// From `POST /api/v1/uploads`, after the upload.
    #[serde(default)]
    attachments: Vec<hubbub_api::Attachment>,
    /// The client's own id for this message: a retry with the same one never makes a second.
    client_msg_id: Option<String>,
}

/// `POST /api/v1/groups/{id}/messages` → 201 Message once durable (200 with the first message
/// when the `clientMsgId` was used before), through the same pipeline as a socket send.
#[utoipa::path(post, operation_id = "postMessage", path = "/groups/{id}/messages", tag = "messages", params(("id" = String, Path, description = "The group's id")), request_body = SendBody,
    responses(
        (status = 201, description = "Stored (durable) and on its way to every member", body = hubbub_api::Message),
        (status = 200, description = "This clientMsgId was sent before: the first message", body = hubbub_api::Message), (status = 403, description = "NOT_A_MEMBER", body = ErrorBody), (status = 404, description = "GROUP_NOT_FOUND", body = ErrorBody),
        (status = 422, description = "An attachment is not uploaded, not yours, or not what it claims", body = ErrorBody),
    ))]
pub async fn send(
    State(s): State<AppState>,
    Caller(ctx, claims): Caller,
    Path(group_id): Path<String>,
    Json(b): Json<SendBody>,
) -> Result<(StatusCode, JsonMessage), ApiError> {
    let client_msg_id = b.client_msg_id.unwrap_or_default();
    // The same allowance as a socket send: one bucket per user, shared with the chat nodes.
    let period = std::time::Duration::from_secs(s.settings.message_limit_secs.max(1));
    let session = (claims.sub.as_str(), claims.sid.as_str());
    match s.redis.take_message_token(session, s.settings.message_limit, period).await {
        Ok(Admission::Revoked) => return Err(ApiError::unauthorized("token revoked")),
        Ok(Admission::Limited(wait)) => {
            // A retry of a send that was stored gets its first answer, not the limit.
            if !client_msg_id.is_empty() {
                let find = FindPostedRequest { group_id: group_id.clone(), client_msg_id: client_msg_id.clone() };
                if let Some(first) = s.messages.clone().find_posted(ctx.request(find)).await?.into_inner().message {
                    return Ok((StatusCode::OK, axum::Json(first.into())));
                }
            }
            return Err(ApiError::rate_limited("too many messages", wait));
        }
        Ok(Admission::Admitted) => {}
        Err(e) => tracing::warn!(error = %e, "checking the message limit"),
    }
    let req = PostMessageRequest {
        group_id,
        content: b.content,
        r#type: b.kind.unwrap_or_default(),
        attachments: b.attachments.into_iter().map(Into::into).collect(),
        client_msg_id,
    };
    let resp = s.messages.clone().post_message(ctx.request(req)).await?.into_inner();
    let message = resp.message.ok_or_else(|| ApiError::from(tonic::Status::internal("no message in reply")))?;
    let status = if resp.duplicate { StatusCode::OK } else { StatusCode::CREATED };
    Ok((status, axum::Json(message.into())))
}

#[derive(Deserialize, ToSchema)]
pub struct EditBody {
    content: String,
}

/// `PATCH /api/v1/messages/{id} {content}` → the edited message (sender only).
#[utoipa::path(patch, operation_id = "editMessage", path = "/messages/{id}", tag = "messages", params(("id" = String, Path, description = "The message's id")), request_body = EditBody,
    responses(
        (status = 200, description = "The message as edited", body = hubbub_api::Message),
        (status = 403, description = "FORBIDDEN: only its sender edits a message", body = ErrorBody),
        (status = 404, description = "MESSAGE_NOT_FOUND", body = ErrorBody),
    ))]
pub async fn edit(
    State(s): State<AppState>,
    Caller(ctx, _): Caller,
    Path(message_id): Path<String>,
    Json(b): Json<EditBody>,
) -> Result<JsonMessage, ApiError> {
    let req = EditMessageRequest { message_id, content: b.content };
    Ok(axum::Json(s.messages.clone().edit_message(ctx.request(req)).await?.into_inner().into()))
}

/// `DELETE /api/v1/messages/{id}` → the message as deleted (sender, or group admin+).
#[utoipa::path(delete, operation_id = "deleteMessage", path = "/messages/{id}", tag = "messages", params(("id" = String, Path, description = "The message's id")),
    responses(
        (status = 200, description = "The message as deleted (content and attachments gone)", body = hubbub_api::Message),
        (status = 403, description = "FORBIDDEN: its sender or a group admin deletes a message", body = ErrorBody),
        (status = 404, description = "MESSAGE_NOT_FOUND", body = ErrorBody),
    ))]
pub async fn delete(
    State(s): State<AppState>,
    Caller(ctx, _): Caller,
    Path(message_id): Path<String>,
) -> Result<JsonMessage, ApiError> {
    let req = DeleteMessageRequest { message_id };
    Ok(axum::Json(s.messages.clone().delete_message(ctx.request(req)).await?.into_inner().into()))
}

#[derive(Deserialize, ToSchema)]
pub struct ReadBody {
    #[schema(minimum = 0, maximum = 9223372036854775807_i64)]
    seq: u64,
}

/// Seqs are documented (and stored) as signed 64-bit integers.
fn seqs_in_range(seqs: impl IntoIterator<Item = u64>) -> Result<(), ApiError> {
    if seqs.into_iter().any(|seq| i64::try_from(seq).is_err()) {
        return Err(ApiError::validation("a seq is at most 9223372036854775807"));
    }
    Ok(())
}

/// `POST /api/v1/groups/{id}/read {seq}` → 204: the caller has seen everything up to `seq`
/// (moved forward only, clamped to the group's last seq, applied within a moment).
#[utoipa::path(post, operation_id = "markRead", path = "/groups/{id}/read", tag = "messages", params(("id" = String, Path, description = "The group's id")), request_body = ReadBody,
    responses((status = 204, description = "Seen up to seq (a watermark: forward only, clamped to the last seq)"), (status = 403, description = "NOT_A_MEMBER", body = ErrorBody), (status = 404, description = "GROUP_NOT_FOUND", body = ErrorBody)))]
pub async fn read(
    State(s): State<AppState>,
    Caller(ctx, _): Caller,
    Path(group_id): Path<String>,
    Json(b): Json<ReadBody>,
) -> Result<StatusCode, ApiError> {
    seqs_in_range([b.seq])?;
    s.messages.clone().mark_read(ctx.request(MarkReadRequest { group_id, seq: b.seq })).await?;
    Ok(StatusCode::NO_CONTENT)
}
