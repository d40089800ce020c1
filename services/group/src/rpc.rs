//! `hubbub.group.v1.GroupService`, the one implementation behind both transports.

use hubbub_proto::group::group_service_server::GroupService;
use hubbub_proto::group::{
    CreateGroupRequest, GetGroupRequest, GetMembershipRequest, Group, GroupKind, ListUserGroupsRequest,
    ListUserGroupsResponse, Membership, Role, Visibility,
};
use hubbub_rpc::Ctx;
use mongodb::bson::oid::ObjectId;
use tonic::{Request, Response, Status};

use crate::store::{GroupRecord, GroupStore};
use crate::{Error, GroupSettings, Result};

/// The group service's state.
pub struct Groups<S> {
    pub(crate) settings: GroupSettings,
    pub(crate) store: S,
}

fn to_proto(g: GroupRecord, my_role: Option<Role>) -> Group {
    Group {
        id: g.id,
        kind: g.kind as i32,
        name: g.name,
        description: g.description,
        visibility: g.visibility as i32,
        owner_id: g.owner_id,
        member_count: g.member_count,
        created_at_ms: g.created_at_ms,
        my_role: my_role.unwrap_or(Role::Unspecified) as i32,
    }
}

impl<S: GroupStore> Groups<S> {
    async fn create(&self, caller: &str, r: CreateGroupRequest) -> Result<Group> {
        let name = r.name.trim();
        if name.is_empty() || name.chars().count() > self.settings.name_max {
            return Err(Error::Invalid(format!("name must be 1–{} characters", self.settings.name_max)));
        }
        let description = r.description.map(|d| d.trim().to_owned()).filter(|d| !d.is_empty());
        if description.as_ref().is_some_and(|d| d.chars().count() > self.settings.description_max) {
            return Err(Error::Invalid(format!(
                "description must be at most {} characters",
                self.settings.description_max
            )));
        }
        let visibility = match Visibility::try_from(r.visibility) {
            Ok(Visibility::Public) => Visibility::Public,
            Ok(Visibility::Private | Visibility::Unspecified) => Visibility::Private,
            Err(_) => {
                return Err(Error::Invalid("visibility must be public or private".into()));
            }
        };
        let mut members: Vec<(String, Role)> = vec![(caller.to_owned(), Role::Owner)];
        for id in r.member_ids {
            if id.is_empty() {
                return Err(Error::Invalid("member ids may not be empty".into()));
            }
            if !members.iter().any(|(m, _)| *m == id) {
                members.push((id, Role::Member));
            }
        }
        if members.len() > self.settings.initial_members_max {
            return Err(Error::Invalid(format!(
                "a group may be created with at most {} members",
                self.settings.initial_members_max
            )));
        }
        let group = GroupRecord {
            id: ObjectId::new().to_hex(),
            kind: GroupKind::Group,
            name: name.to_owned(),
            description,
            visibility,
            owner_id: caller.to_owned(),
            member_count: u32::try_from(members.len()).unwrap_or(u32::MAX),
            created_at_ms: mongodb::bson::DateTime::now().timestamp_millis(),
        };
        self.store.create(&group, &members).await?;
        tracing::info!(group_id = %group.id, members = members.len(), "group created");
        Ok(to_proto(group, Some(Role::Owner)))
    }

    async fn get(&self, caller: &str, id: &str) -> Result<Group> {
        let group = self.store.get(id).await?.ok_or(Error::NotFound)?;
        let role = self.store.role(id, caller).await?;
        // A private group's existence is not revealed to outsiders.
        if role.is_none() && group.visibility != Visibility::Public {
            return Err(Error::NotFound);
        }
        Ok(to_proto(group, role))
    }
}

#[tonic::async_trait]
impl<S: GroupStore> GroupService for Groups<S> {
    async fn create_group(&self, req: Request<CreateGroupRequest>) -> Result<Response<Group>, Status> {
        let ctx = Ctx::from_request(&req);
        let caller = ctx.caller()?;
        Ok(Response::new(self.create(caller, req.into_inner()).await?))
    }

    async fn get_group(&self, req: Request<GetGroupRequest>) -> Result<Response<Group>, Status> {
        let ctx = Ctx::from_request(&req);
        let caller = ctx.caller()?;
        Ok(Response::new(self.get(caller, &req.get_ref().id).await?))
    }

    async fn list_user_groups(
        &self,
        req: Request<ListUserGroupsRequest>,
    ) -> Result<Response<ListUserGroupsResponse>, Status> {
        let group_ids = self.store.groups_of(&req.get_ref().user_id).await.map_err(Status::from)?;
        Ok(Response::new(ListUserGroupsResponse { group_ids }))
    }

    async fn get_membership(&self, req: Request<GetMembershipRequest>) -> Result<Response<Membership>, Status> {
        let r = req.into_inner();
        let role = self.store.role(&r.group_id, &r.user_id).await.map_err(Status::from)?;
        Ok(Response::new(Membership { member: role.is_some(), role: role.unwrap_or(Role::Unspecified) as i32 }))
    }
}
