//! `/api/v1/groups/{id}/messages`, `/api/v1/groups/{id}/read` and `/api/v1/messages/{id}`.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use hubbub_proto::message::{
    DeleteMessageRequest, EditMessageRequest, ListMessagesRequest, MarkReadRequest, PostMessageRequest,
};
use serde::{Deserialize, Serialize};

use crate::error::ApiError;
use crate::extract::{Caller, Json};
use crate::startup::AppState;

type JsonMessage = axum::Json<hubbub_api::Message>;

#[derive(Deserialize)]
pub struct ListQuery {
    before: Option<u64>,
    after: Option<u64>,
    limit: Option<u32>,
}

#[derive(Serialize)]
pub struct Page {
    messages: Vec<hubbub_api::Message>,
    /// More messages lie beyond this page (older for `before`/newest, newer for `after`).
    more: bool,
}

/// `GET /api/v1/groups/{id}/messages?before=|after=&limit=` → `{messages, more}` in seq order.
pub async fn list(
    State(s): State<AppState>,
    Caller(ctx, _): Caller,
    Path(group_id): Path<String>,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<axum::Json<Page>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::validation(e.body_text()))?;
    let req = ListMessagesRequest { group_id, before: q.before, after: q.after, limit: q.limit.unwrap_or(0) };
    let resp = s.messages.clone().list_messages(ctx.request(req)).await?.into_inner();
    Ok(axum::Json(Page { messages: resp.messages.into_iter().map(Into::into).collect(), more: resp.more }))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SendBody {
    /// Optional when the message has attachments (a caption).
    #[serde(default)]
    content: String,
    #[serde(rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    attachments: Vec<hubbub_api::Attachment>,
    client_msg_id: Option<String>,
}

/// `POST /api/v1/groups/{id}/messages` → 201 Message once durable (200 with the first message
/// when the `clientMsgId` was used before), through the same pipeline as a socket send.
pub async fn send(
    State(s): State<AppState>,
    Caller(ctx, claims): Caller,
    Path(group_id): Path<String>,
    Json(b): Json<SendBody>,
) -> Result<(StatusCode, JsonMessage), ApiError> {
    // The same allowance as a socket send: one bucket per user, shared with the chat nodes.
    let period = std::time::Duration::from_secs(s.settings.message_limit_secs.max(1));
    match s.redis.take_message_token(&claims.sub, s.settings.message_limit, period).await {
        Ok(Some(wait)) => return Err(ApiError::rate_limited("too many messages", wait)),
        Ok(None) => {}
        Err(e) => tracing::warn!(error = %e, "checking the message limit"),
    }
    let req = PostMessageRequest {
        group_id,
        content: b.content,
        r#type: b.kind.unwrap_or_default(),
        attachments: b.attachments.into_iter().map(Into::into).collect(),
        client_msg_id: b.client_msg_id.unwrap_or_default(),
    };
    let resp = s.messages.clone().post_message(ctx.request(req)).await?.into_inner();
    let message = resp.message.ok_or_else(|| ApiError::from(tonic::Status::internal("no message in reply")))?;
    let status = if resp.duplicate { StatusCode::OK } else { StatusCode::CREATED };
    Ok((status, axum::Json(message.into())))
}

#[derive(Deserialize)]
pub struct EditBody {
    content: String,
}

/// `PATCH /api/v1/messages/{id} {content}` → the edited message (sender only).
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
pub async fn delete(
    State(s): State<AppState>,
    Caller(ctx, _): Caller,
    Path(message_id): Path<String>,
) -> Result<JsonMessage, ApiError> {
    let req = DeleteMessageRequest { message_id };
    Ok(axum::Json(s.messages.clone().delete_message(ctx.request(req)).await?.into_inner().into()))
}

#[derive(Deserialize)]
pub struct ReadBody {
    seq: u64,
}

/// `POST /api/v1/groups/{id}/read {seq}` → 204: the caller has seen everything up to `seq`
/// (moved forward only, clamped to the group's last seq, applied within a moment).
pub async fn read(
    State(s): State<AppState>,
    Caller(ctx, _): Caller,
    Path(group_id): Path<String>,
    Json(b): Json<ReadBody>,
) -> Result<StatusCode, ApiError> {
    s.messages.clone().mark_read(ctx.request(MarkReadRequest { group_id, seq: b.seq })).await?;
    Ok(StatusCode::NO_CONTENT)
}
