//! `/api/v1/admin/*`: administrators only.

use axum::extract::State;
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
pub async fn nodes(State(s): State<AppState>, _: Admin) -> Result<axum::Json<Nodes>, ApiError> {
    let now = time_now_ms();
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

fn time_now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
