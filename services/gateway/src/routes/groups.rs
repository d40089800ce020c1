//! `/api/v1/groups*`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use hubbub_proto::group::{CreateGroupRequest, GetGroupRequest, Visibility};
use serde::Deserialize;

use crate::error::ApiError;
use crate::extract::{Caller, Json};
use crate::startup::AppState;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateBody {
    name: String,
    description: Option<String>,
    visibility: Option<String>,
    #[serde(default)]
    member_ids: Vec<String>,
}

/// `POST /api/v1/groups` → 201 Group (the caller is its owner).
pub async fn create(
    State(s): State<AppState>,
    Caller(ctx, _): Caller,
    Json(b): Json<CreateBody>,
) -> Result<(StatusCode, axum::Json<hubbub_api::Group>), ApiError> {
    let visibility = match b.visibility.as_deref() {
        None | Some("private") => Visibility::Private,
        Some("public") => Visibility::Public,
        Some(_) => {
            return Err(ApiError::validation("visibility must be \"public\" or \"private\""));
        }
    };
    let req = CreateGroupRequest {
        name: b.name,
        description: b.description,
        visibility: visibility as i32,
        member_ids: b.member_ids,
    };
    let group = s.groups.clone().create_group(ctx.request(req)).await?.into_inner();
    Ok((StatusCode::CREATED, axum::Json(group.into())))
}

/// `GET /api/v1/groups/{id}` → Group.
pub async fn get(
    State(s): State<AppState>,
    Caller(ctx, _): Caller,
    Path(id): Path<String>,
) -> Result<axum::Json<hubbub_api::Group>, ApiError> {
    let group = s.groups.clone().get_group(ctx.request(GetGroupRequest { id })).await?.into_inner();
    Ok(axum::Json(group.into()))
}
