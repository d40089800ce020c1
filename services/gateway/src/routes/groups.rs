//! `/api/v1/groups*` and `/api/v1/invites/*`.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use hubbub_proto::group::{
    AcceptInviteRequest, AddMemberRequest, CreateGroupRequest, CreateInviteRequest, DeleteGroupRequest,
    GetGroupRequest, GetOrCreateDirectRequest, GroupKind, JoinGroupRequest, ListMembersRequest, ListMyGroupsRequest,
    ListPublicRequest, RemoveMemberRequest, SetRoleRequest, UpdateGroupRequest, Visibility,
};
use hubbub_proto::message::LastMessagesRequest;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::error::{ApiError, ErrorBody};
use crate::extract::{Caller, Json};
use crate::startup::AppState;

type JsonGroup = axum::Json<hubbub_api::Group>;

fn visibility(v: Option<&str>) -> Result<Visibility, ApiError> {
    match v {
        None => Ok(Visibility::Unspecified),
        Some("private") => Ok(Visibility::Private),
        Some("public") => Ok(Visibility::Public),
        Some(_) => Err(ApiError::validation("visibility must be \"public\" or \"private\"")),
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateBody {
    name: String,
    description: Option<String>,
    #[schema(pattern = "^(public|private)$")]
    visibility: Option<String>,
    /// `group` (default) or `room`.
    #[schema(pattern = "^(group|room)$")]
    kind: Option<String>,
    #[serde(default)]
    member_ids: Vec<String>,
}

/// `POST /api/v1/groups` → 201 Group (the caller is its owner).
#[utoipa::path(post, operation_id = "createGroup", path = "/groups", tag = "groups", request_body = CreateBody,
    responses(
        (status = 201, description = "The group; the caller is its owner", body = hubbub_api::Group),
        (status = 404, description = "USER_NOT_FOUND: a memberIds entry", body = ErrorBody),
    ))]
pub async fn create(
    State(s): State<AppState>,
    Caller(ctx, _): Caller,
    Json(b): Json<CreateBody>,
) -> Result<(StatusCode, JsonGroup), ApiError> {
    let kind = match b.kind.as_deref() {
        None | Some("group") => GroupKind::Group,
        Some("room") => GroupKind::Room,
        Some(_) => return Err(ApiError::validation("kind must be \"group\" or \"room\"")),
    };
    let req = CreateGroupRequest {
        name: b.name,
        description: b.description,
        visibility: visibility(b.visibility.as_deref())? as i32,
        member_ids: b.member_ids,
        kind: kind as i32,
    };
    let group = s.groups.clone().create_group(ctx.request(req)).await?.into_inner();
    Ok((StatusCode::CREATED, axum::Json(group.into())))
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DirectBody {
    user_id: String,
}

/// `POST /api/v1/groups/direct {userId}` → the one direct chat of the pair (201 once, then 200).
#[utoipa::path(post, operation_id = "getOrCreateDirect", path = "/groups/direct", tag = "groups", request_body = DirectBody,
    responses(
        (status = 201, description = "The direct chat of the pair, made now", body = hubbub_api::Group),
        (status = 200, description = "The direct chat of the pair, as it was", body = hubbub_api::Group),
        (status = 404, description = "USER_NOT_FOUND", body = ErrorBody),
    ))]
pub async fn direct(
    State(s): State<AppState>,
    Caller(ctx, _): Caller,
    Json(b): Json<DirectBody>,
) -> Result<(StatusCode, JsonGroup), ApiError> {
    let resp =
        s.groups.clone().get_or_create_direct(ctx.request(GetOrCreateDirectRequest { user_id: b.user_id })).await?;
    let resp = resp.into_inner();
    let status = if resp.created { StatusCode::CREATED } else { StatusCode::OK };
    let group = resp.group.ok_or_else(|| ApiError::from(tonic::Status::internal("no group in reply")))?;
    Ok((status, axum::Json(group.into())))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// A name prefix (where the list searches by name).
    q: Option<String>,
    /// At most this many (`group.list_max_limit` caps it).
    #[param(minimum = 0, maximum = 4294967295_u64, format = Int64)]
    limit: Option<u32>,
    /// `nextCursor` of the previous page.
    #[param(pattern = "^([0-9a-f]{2})*$", max_length = 512)]
    cursor: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GroupPage {
    groups: Vec<hubbub_api::Group>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_cursor: Option<String>,
}

pub(crate) fn query(
    q: Result<Query<PageQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<PageQuery, ApiError> {
    q.map(|Query(q)| q).map_err(|e| ApiError::validation(e.body_text()))
}

impl PageQuery {
    /// The name-prefix search it asks for.
    pub(crate) fn by_name(self) -> ListPublicRequest {
        ListPublicRequest {
            query: self.q.unwrap_or_default(),
            limit: self.limit.unwrap_or(0),
            cursor: self.cursor.unwrap_or_default(),
        }
    }
}

impl From<hubbub_proto::group::ListGroupsResponse> for GroupPage {
    fn from(page: hubbub_proto::group::ListGroupsResponse) -> Self {
        GroupPage {
            groups: page.groups.into_iter().map(Into::into).collect(),
            next_cursor: Some(page.next_cursor).filter(|c| !c.is_empty()),
        }
    }
}

/// `GET /api/v1/groups?cursor=&limit=` → my groups with their newest message and unread count
/// (the group's last seq − my seen watermark), from two calls whatever the page size.
#[utoipa::path(get, operation_id = "listMyGroups", path = "/groups", tag = "groups", params(PageQuery),
    responses((status = 200, description = "My groups, most recent activity first, with `lastMessage` and `unreadCount`", body = GroupPage)))]
pub async fn mine(
    State(s): State<AppState>,
    Caller(ctx, _): Caller,
    q: Result<Query<PageQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<axum::Json<GroupPage>, ApiError> {
    let q = query(q)?;
    let req = ListMyGroupsRequest { limit: q.limit.unwrap_or(0), cursor: q.cursor.unwrap_or_default() };
    let page = s.groups.clone().list_my_groups(ctx.request(req)).await?.into_inner();
    let ids = page.groups.iter().map(|g| g.id.clone()).collect();
    let last =
        s.messages.clone().last_messages(ctx.request(LastMessagesRequest { group_ids: ids })).await?.into_inner();
    let seen: std::collections::HashMap<String, u64> =
        last.reads.into_iter().map(|r| (r.group_id, r.seen_seq)).collect();
    let mut last: std::collections::HashMap<String, hubbub_proto::message::Message> =
        last.messages.into_iter().map(|m| (m.group_id.clone(), m)).collect();
    let groups = page
        .groups
        .into_iter()
        .map(|g| {
            let message = last.remove(&g.id);
            let read = seen.get(&g.id).copied().unwrap_or(0);
            let mut g = hubbub_api::Group::from(g);
            g.unread_count = Some(message.as_ref().map_or(0, |m| m.seq.saturating_sub(read)));
            g.last_message = message.map(Into::into);
            g
        })
        .collect();
    Ok(axum::Json(GroupPage { groups, next_cursor: Some(page.next_cursor).filter(|c| !c.is_empty()) }))
}

/// `GET /api/v1/groups/public?q=&cursor=&limit=` → public groups and rooms by name prefix.
#[utoipa::path(get, operation_id = "listPublicGroups", path = "/groups/public", tag = "groups", params(PageQuery),
    responses((status = 200, description = "Public groups and rooms whose name starts with `q`", body = GroupPage)))]
pub async fn public(
    State(s): State<AppState>,
    Caller(ctx, _): Caller,
    q: Result<Query<PageQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<axum::Json<GroupPage>, ApiError> {
    let req = query(q)?.by_name();
    let page = s.groups.clone().list_public(ctx.request(req)).await?.into_inner();
    Ok(axum::Json(page.into()))
}

/// `GET /api/v1/groups/{id}` → Group.
#[utoipa::path(get, operation_id = "getGroup", path = "/groups/{id}", tag = "groups", params(("id" = String, Path, description = "The group's id")),
    responses((status = 200, description = "The group", body = hubbub_api::Group), (status = 404, description = "GROUP_NOT_FOUND (also for a private group you are not in)", body = ErrorBody)))]
pub async fn get(
    State(s): State<AppState>,
    Caller(ctx, _): Caller,
    Path(id): Path<String>,
) -> Result<JsonGroup, ApiError> {
    let group = s.groups.clone().get_group(ctx.request(GetGroupRequest { id })).await?.into_inner();
    Ok(axum::Json(group.into()))
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GroupPatch {
    name: Option<String>,
    description: Option<String>,
    visibility: Option<String>,
}

/// `PATCH /api/v1/groups/{id}` (admin+) → Group.
#[utoipa::path(patch, operation_id = "updateGroup", path = "/groups/{id}", tag = "groups", params(("id" = String, Path, description = "The group's id")), request_body = GroupPatch,
    responses((status = 200, description = "The group as changed", body = hubbub_api::Group), (status = 403, description = "FORBIDDEN or NOT_A_MEMBER", body = ErrorBody), (status = 404, description = "GROUP_NOT_FOUND (also for a private group you are not in)", body = ErrorBody),
        (status = 422, description = "DIRECT_CHAT: a direct chat has no settings", body = ErrorBody)))]
pub async fn update(
    State(s): State<AppState>,
    Caller(ctx, _): Caller,
    Path(id): Path<String>,
    Json(b): Json<GroupPatch>,
) -> Result<JsonGroup, ApiError> {
    let req = UpdateGroupRequest {
        id,
        name: b.name,
        description: b.description,
        visibility: visibility(b.visibility.as_deref())? as i32,
    };
    Ok(axum::Json(s.groups.clone().update_group(ctx.request(req)).await?.into_inner().into()))
}

/// `DELETE /api/v1/groups/{id}` (owner) → 204.
#[utoipa::path(delete, operation_id = "deleteGroup", path = "/groups/{id}", tag = "groups", params(("id" = String, Path, description = "The group's id")),
    responses((status = 204, description = "Deleted; members are told on every node"), (status = 403, description = "FORBIDDEN or NOT_A_MEMBER", body = ErrorBody), (status = 404, description = "GROUP_NOT_FOUND (also for a private group you are not in)", body = ErrorBody)))]
pub async fn delete(
    State(s): State<AppState>,
    Caller(ctx, _): Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    s.groups.clone().delete_group(ctx.request(DeleteGroupRequest { id })).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MemberPage {
    members: Vec<hubbub_api::Member>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_cursor: Option<String>,
}

/// `GET /api/v1/groups/{id}/members` (members only).
#[utoipa::path(get, operation_id = "listMembers", path = "/groups/{id}/members", tag = "groups", params(("id" = String, Path, description = "The group's id"), PageQuery),
    responses((status = 200, description = "A page of members", body = MemberPage), (status = 403, description = "FORBIDDEN or NOT_A_MEMBER", body = ErrorBody), (status = 404, description = "GROUP_NOT_FOUND (also for a private group you are not in)", body = ErrorBody)))]
pub async fn members(
    State(s): State<AppState>,
    Caller(ctx, _): Caller,
    Path(group_id): Path<String>,
    q: Result<Query<PageQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<axum::Json<MemberPage>, ApiError> {
    let q = query(q)?;
    let req = ListMembersRequest { group_id, limit: q.limit.unwrap_or(0), cursor: q.cursor.unwrap_or_default() };
    let page = s.groups.clone().list_members(ctx.request(req)).await?.into_inner();
    Ok(axum::Json(MemberPage {
        members: page.members.into_iter().map(Into::into).collect(),
        next_cursor: Some(page.next_cursor).filter(|c| !c.is_empty()),
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AddBody {
    user_id: String,
}

/// `POST /api/v1/groups/{id}/members {userId}` (admin+) → 201 Member.
#[utoipa::path(post, operation_id = "addMember", path = "/groups/{id}/members", tag = "groups", params(("id" = String, Path, description = "The group's id")), request_body = AddBody,
    responses(
        (status = 201, description = "The new member", body = hubbub_api::Member), (status = 403, description = "FORBIDDEN or NOT_A_MEMBER", body = ErrorBody), (status = 404, description = "GROUP_NOT_FOUND (also for a private group you are not in)", body = ErrorBody),
        (status = 409, description = "ALREADY_A_MEMBER", body = ErrorBody),
        (status = 422, description = "DIRECT_CHAT: a direct chat has exactly two members", body = ErrorBody),
    ))]
pub async fn add_member(
    State(s): State<AppState>,
    Caller(ctx, _): Caller,
    Path(group_id): Path<String>,
    Json(b): Json<AddBody>,
) -> Result<(StatusCode, axum::Json<hubbub_api::Member>), ApiError> {
    let member = s.groups.clone().add_member(ctx.request(AddMemberRequest { group_id, user_id: b.user_id })).await?;
    Ok((StatusCode::CREATED, axum::Json(member.into_inner().into())))
}

/// `DELETE /api/v1/groups/{id}/members/{userId}` (admin+, or yourself = leave) → 204.
#[utoipa::path(delete, operation_id = "removeMember", path = "/groups/{id}/members/{user_id}", tag = "groups", params(("id" = String, Path, description = "The group's id"), ("user_id" = String, Path, description = "The member's user id")),
    responses(
        (status = 204, description = "Removed (or left); they stop receiving the group at once"), (status = 403, description = "FORBIDDEN or NOT_A_MEMBER", body = ErrorBody),
        (status = 404, description = "GROUP_NOT_FOUND or MEMBER_NOT_FOUND", body = ErrorBody),
        (status = 422, description = "DIRECT_CHAT: end a direct chat by deleting it", body = ErrorBody),
    ))]
pub async fn remove_member(
    State(s): State<AppState>,
    Caller(ctx, _): Caller,
    Path((group_id, user_id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    s.groups.clone().remove_member(ctx.request(RemoveMemberRequest { group_id, user_id })).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
pub struct RoleBody {
    #[schema(pattern = "^(owner|admin|member)$")]
    role: String,
}

/// `PUT /api/v1/groups/{id}/members/{userId}/role {role}` (owner) → Member.
#[utoipa::path(put, operation_id = "setRole", path = "/groups/{id}/members/{user_id}/role", tag = "groups", params(("id" = String, Path, description = "The group's id"), ("user_id" = String, Path, description = "The member's user id")), request_body = RoleBody,
    responses(
        (status = 200, description = "The member with the new role", body = hubbub_api::Member), (status = 403, description = "FORBIDDEN or NOT_A_MEMBER", body = ErrorBody),
        (status = 404, description = "GROUP_NOT_FOUND or MEMBER_NOT_FOUND", body = ErrorBody),
        (status = 422, description = "LAST_OWNER (a group needs an owner) or DIRECT_CHAT", body = ErrorBody),
    ))]
pub async fn set_role(
    State(s): State<AppState>,
    Caller(ctx, _): Caller,
    Path((group_id, user_id)): Path<(String, String)>,
    Json(b): Json<RoleBody>,
) -> Result<axum::Json<hubbub_api::Member>, ApiError> {
    let role =
        hubbub_api::parse_role(&b.role).ok_or_else(|| ApiError::validation("role must be owner, admin or member"))?;
    let req = SetRoleRequest { group_id, user_id, role: role as i32 };
    Ok(axum::Json(s.groups.clone().set_role(ctx.request(req)).await?.into_inner().into()))
}

/// `POST /api/v1/groups/{id}/join` (public groups) → Group.
#[utoipa::path(post, operation_id = "joinGroup", path = "/groups/{id}/join", tag = "groups", params(("id" = String, Path, description = "The group's id")),
    responses(
        (status = 200, description = "Joined (or already in)", body = hubbub_api::Group), (status = 403, description = "FORBIDDEN or NOT_A_MEMBER", body = ErrorBody), (status = 404, description = "GROUP_NOT_FOUND (also for a private group you are not in)", body = ErrorBody),
        (status = 409, description = "ALREADY_A_MEMBER", body = ErrorBody),
    ))]
pub async fn join(
    State(s): State<AppState>,
    Caller(ctx, _): Caller,
    Path(group_id): Path<String>,
) -> Result<JsonGroup, ApiError> {
    Ok(axum::Json(s.groups.clone().join_group(ctx.request(JoinGroupRequest { group_id })).await?.into_inner().into()))
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InviteBody {
    code: String,
    group_id: String,
    #[schema(format = DateTime)]
    expires_at: String,
}

/// `POST /api/v1/groups/{id}/invites` (admin+) → 201 `{code, expiresAt}`.
#[utoipa::path(post, operation_id = "createInvite", path = "/groups/{id}/invites", tag = "groups", params(("id" = String, Path, description = "The group's id")),
    responses((status = 201, description = "An invite code", body = InviteBody), (status = 403, description = "FORBIDDEN or NOT_A_MEMBER", body = ErrorBody), (status = 404, description = "GROUP_NOT_FOUND (also for a private group you are not in)", body = ErrorBody),
        (status = 422, description = "DIRECT_CHAT: a direct chat takes no invites", body = ErrorBody)))]
pub async fn invite(
    State(s): State<AppState>,
    Caller(ctx, _): Caller,
    Path(group_id): Path<String>,
) -> Result<(StatusCode, axum::Json<InviteBody>), ApiError> {
    let invite = s.groups.clone().create_invite(ctx.request(CreateInviteRequest { group_id })).await?.into_inner();
    Ok((
        StatusCode::CREATED,
        axum::Json(InviteBody {
            code: invite.code,
            group_id: invite.group_id,
            expires_at: hubbub_api::timestamp(invite.expires_at_ms),
        }),
    ))
}

/// `POST /api/v1/invites/{code}/accept` → Group.
#[utoipa::path(post, operation_id = "acceptInvite", path = "/invites/{code}/accept", tag = "groups", params(("code" = String, Path, description = "The invite code")),
    responses(
        (status = 200, description = "The group, now with you in it", body = hubbub_api::Group),
        (status = 404, description = "INVITE_NOT_FOUND: unknown or expired", body = ErrorBody),
        (status = 409, description = "ALREADY_A_MEMBER", body = ErrorBody),
    ))]
pub async fn accept(
    State(s): State<AppState>,
    Caller(ctx, _): Caller,
    Path(code): Path<String>,
) -> Result<JsonGroup, ApiError> {
    Ok(axum::Json(s.groups.clone().accept_invite(ctx.request(AcceptInviteRequest { code })).await?.into_inner().into()))
}
