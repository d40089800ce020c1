//! `/api/v1/groups/{id}/messages`.

use axum::extract::{Path, Query, State};
use hubbub_proto::message::ListMessagesRequest;
use serde::{Deserialize, Serialize};

use crate::error::ApiError;
use crate::extract::Caller;
use crate::startup::AppState;

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
