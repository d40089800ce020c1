//! `/api/v1/admin/*`: administrators only.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use hubbub_proto::auth::DisconnectRequest;
use hubbub_proto::group::{DeleteGroupRequest, GetGroupRequest};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::groups::{GroupPage, PageQuery};
use crate::error::{ApiError, ErrorBody};
use crate::extract::Admin;
use crate::startup::AppState;

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Node {
    id: String,
    connections: u64,
    #[schema(format = DateTime)]
    reported_at: String,
}

#[derive(Serialize, ToSchema)]
pub struct Nodes {
    nodes: Vec<Node>,
}

/// `GET /api/v1/admin/nodes`: the chat nodes alive now, with their connection counts.
#[utoipa::path(get, operation_id = "adminListNodes", path = "/admin/nodes", tag = "admin",
    responses((status = 200, description = "Chat nodes alive now", body = Nodes), (status = 403, description = "FORBIDDEN: administrators only", body = ErrorBody)))]
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

#[derive(Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct ConnectionsQuery {
    /// Whose sockets.
    #[param(min_length = 1)]
    user_id: String,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Connection {
    node: String,
    socket_id: String,
    /// When its presence lease lapses unless the node renews it.
    #[schema(format = DateTime)]
    lease_until: String,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Connections {
    user_id: String,
    connections: Vec<Connection>,
}

/// `GET /api/v1/admin/connections?userId=`: a user's live sockets, on every node.
#[utoipa::path(get, operation_id = "adminListConnections", path = "/admin/connections", tag = "admin", params(ConnectionsQuery),
    responses((status = 200, description = "The user's live sockets", body = Connections), (status = 403, description = "FORBIDDEN: administrators only", body = ErrorBody)))]
pub async fn connections(
    State(s): State<AppState>,
    Admin(_): Admin,
    q: Result<Query<ConnectionsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<axum::Json<Connections>, ApiError> {
    let Query(q) = q.map_err(|e| ApiError::validation(e.body_text()))?;
    let user_id =
        Some(q.user_id).filter(|u| !u.is_empty()).ok_or_else(|| ApiError::validation("userId is required"))?;
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
#[utoipa::path(get, operation_id = "adminListGroups", path = "/admin/groups", tag = "admin", params(PageQuery),
    responses((status = 200, description = "Every group, room and direct chat whose name starts with `q`", body = GroupPage), (status = 403, description = "FORBIDDEN: administrators only", body = ErrorBody)))]
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
#[utoipa::path(get, operation_id = "adminGetGroup", path = "/admin/groups/{id}", tag = "admin", params(("id" = String, Path, description = "The group's id")),
    responses((status = 200, description = "The group", body = hubbub_api::Group), (status = 403, description = "FORBIDDEN: administrators only", body = ErrorBody), (status = 404, description = "GROUP_NOT_FOUND", body = ErrorBody)))]
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
#[utoipa::path(delete, operation_id = "adminDeleteGroup", path = "/admin/groups/{id}", tag = "admin", params(("id" = String, Path, description = "The group's id")),
    responses((status = 204, description = "Deleted as if by its owner"), (status = 403, description = "FORBIDDEN: administrators only", body = ErrorBody), (status = 404, description = "GROUP_NOT_FOUND", body = ErrorBody)))]
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
#[utoipa::path(delete, operation_id = "adminDisconnectUser", path = "/admin/users/{id}/connections", tag = "admin", params(("id" = String, Path, description = "The user's id")),
    responses((status = 204, description = "Every socket of the user is closed, on every node"), (status = 403, description = "FORBIDDEN: administrators only", body = ErrorBody)))]
pub async fn disconnect(
    State(s): State<AppState>,
    Admin(ctx): Admin,
    Path(user_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    s.auth.clone().disconnect(ctx.request(DisconnectRequest { user_id })).await?;
    Ok(StatusCode::NO_CONTENT)
}
