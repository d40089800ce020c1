//! `/api/v1/admin/*`: administrators only.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use hubbub_proto::auth::DisconnectRequest;
use serde::Serialize;

use crate::error::ApiError;
use crate::extract::Admin;
use crate::startup::AppState;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Node {
    id: String,
    connections: u64,
    reported_at: String,
}

#[derive(Serialize)]
pub struct Nodes {
    nodes: Vec<Node>,
}

/// `GET /api/v1/admin/nodes`: the chat nodes alive now, with their connection counts.
pub async fn nodes(State(s): State<AppState>, Admin(_): Admin) -> Result<axum::Json<Nodes>, ApiError> {
    let now = hubbub_api::now_ms();
    let reports = s.redis.nodes(now).await.map_err(|e| {
        tracing::error!(error = %e, "listing chat nodes");
        ApiError::new(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "SERVICE_UNAVAILABLE",
            "a dependency is unavailable, try again",
        )
    })?;
    let nodes = reports
        .into_iter()
        .map(|r| Node { id: r.node, connections: r.connections, reported_at: hubbub_api::timestamp(r.at_ms) })
        .collect();
    Ok(axum::Json(Nodes { nodes }))
}

/// `DELETE /api/v1/admin/users/{id}/connections` → 204: every socket of the user, on every
/// node, is closed (their tokens stay valid; revoke sessions for that).
pub async fn disconnect(
    State(s): State<AppState>,
    Admin(ctx): Admin,
    Path(user_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    s.auth.clone().disconnect(ctx.request(DisconnectRequest { user_id })).await?;
    Ok(StatusCode::NO_CONTENT)
}
