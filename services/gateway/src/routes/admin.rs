//! `/api/v1/admin/*`: administrators only.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use hubbub_proto::auth::DisconnectRequest;
use hubbub_proto::group::{DeleteGroupRequest, GetGroupRequest};
use serde::{Deserialize, Serialize};

use super::groups::{GroupPage, PageQuery};
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
    let reports = s.redis.nodes(now).await.map_err(|e| unavailable("listing chat nodes", &e))?;
    let nodes = reports
        .into_iter()
        .map(|r| Node { id: r.node, connections: r.connections, reported_at: hubbub_api::timestamp(r.at_ms) })
        .collect();
    Ok(axum::Json(Nodes { nodes }))
}

fn unavailable(what: &str, e: &hubbub_redis::Error) -> ApiError {
    tracing::error!(error = %e, "{what}");
    ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "SERVICE_UNAVAILABLE", "a dependency is unavailable, try again")
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionsQuery {
    user_id: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Connection {
    node: String,
    socket_id: String,
    /// When its presence lease lapses unless the node renews it.
    lease_until: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Connections {
    user_id: String,
    connections: Vec<Connection>,
}

/// `GET /api/v1/admin/connections?userId=`: a user's live sockets, on every node.
pub async fn connections(
    State(s): State<AppState>,
    Admin(_): Admin,
    q: Result<Query<ConnectionsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<axum::Json<Connections>, ApiError> {
    let Query(q) = q.map_err(|e| ApiError::validation(e.body_text()))?;
    let user_id = q.user_id.filter(|u| !u.is_empty()).ok_or_else(|| ApiError::validation("userId is required"))?;
    let live =
        s.redis.sockets_of(&user_id, hubbub_api::now_ms()).await.map_err(|e| unavailable("listing sockets", &e))?;
    let connections = live
        .into_iter()
        .map(|(member, until)| {
            let (node, socket) = member.split_once(':').unwrap_or(("", member.as_str()));
            Connection {
                node: node.to_owned(),
                socket_id: socket.to_owned(),
                lease_until: hubbub_api::timestamp(until),
            }
        })
        .collect();
    Ok(axum::Json(Connections { user_id, connections }))
}

/// `GET /api/v1/admin/groups?q=&limit=&cursor=`: every group, room and direct chat by name prefix.
pub async fn groups(
    State(s): State<AppState>,
    Admin(ctx): Admin,
    q: Result<Query<PageQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<axum::Json<GroupPage>, ApiError> {
    let req = super::groups::query(q)?.by_name();
    let page = s.groups.clone().admin_list_groups(ctx.request(req)).await?.into_inner();
    Ok(axum::Json(page.into()))
}

/// `GET /api/v1/admin/groups/{id}`: any group, whoever its members are.
pub async fn group(
    State(s): State<AppState>,
    Admin(ctx): Admin,
    Path(id): Path<String>,
) -> Result<axum::Json<hubbub_api::Group>, ApiError> {
    let group = s.groups.clone().admin_get_group(ctx.request(GetGroupRequest { id })).await?.into_inner();
    Ok(axum::Json(group.into()))
}

/// `DELETE /api/v1/admin/groups/{id}` → 204: the group is deleted as if by its owner (members
/// are told on every node).
pub async fn delete_group(
    State(s): State<AppState>,
    Admin(ctx): Admin,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    s.groups.clone().admin_delete_group(ctx.request(DeleteGroupRequest { id })).await?;
    Ok(StatusCode::NO_CONTENT)
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
