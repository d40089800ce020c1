//! `hubbub.group.v1.GroupService`, the one implementation behind both transports. Who may do
//! what is decided here, once: owner > admin > member; outsiders see public groups only.

use hubbub_events::Producer;
use hubbub_proto::events::{
    GroupCreated, GroupDeleted, GroupEvent, GroupUpdated, MemberAdded, MemberRemoved, MembershipChanged,
    MessageCommand, RoleChanged, group_event, message_command,
};
use hubbub_proto::group::group_service_server::GroupService;
use hubbub_proto::group::{
    AcceptInviteRequest, AddMemberRequest, CreateGroupRequest, CreateInviteRequest, DeleteGroupRequest, DirectResponse,
    Empty, GetGroupRequest, GetMembershipRequest, GetOrCreateDirectRequest, Group, GroupKind, Invite, JoinGroupRequest,
    ListGroupsResponse, ListMembersRequest, ListMembersResponse, ListMyGroupsRequest, ListPublicRequest,
    ListUserGroupsRequest, ListUserGroupsResponse, Member, Membership, RemoveMemberRequest, Role, SetRoleRequest,
    UpdateGroupRequest, Visibility,
};
use hubbub_proto::group::{GetMembershipsRequest, GetMembershipsResponse, GroupMembership, MembershipState};

/// Most groups one `GetMemberships` asks about.
const MEMBERSHIPS_MAX: usize = 1000;
use hubbub_proto::user::GetUserRequest;
use hubbub_proto::user::user_service_client::UserServiceClient;
use hubbub_rpc::{Channel, Ctx};
use mongodb::bson::oid::ObjectId;
use prost::Message as _;
use tonic::{Code, Request, Response, Status};

use crate::store::{GroupChange, GroupRecord, GroupStore, MemberRecord, Outgoing};
use crate::{Error, GroupSettings, Result};

/// The group service's state.
pub struct Groups<S> {
    pub(crate) settings: GroupSettings,
    pub(crate) store: S,
    pub(crate) users: UserServiceClient<Channel>,
    pub(crate) producer: Producer,
    /// Full name of the group events topic.
    pub(crate) events_topic: String,
    /// Full name of the message commands topic, where membership fences go.
    pub(crate) commands_topic: String,
}

/// How much a role may do: owner 3, admin 2, member 1.
fn rank(role: Role) -> u8 {
    match role {
        Role::Owner => 3,
        Role::Admin => 2,
        Role::Member => 1,
        Role::Unspecified => 0,
    }
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

fn member_proto(m: &MemberRecord) -> Member {
    Member { user_id: m.user_id.clone(), role: m.role as i32, joined_at_ms: m.joined_at_ms }
}

/// Refuses a member whose role is below `min`.
fn at_least(me: &MemberRecord, min: Role) -> Result<()> {
    if rank(me.role) < rank(min) {
        let who = if min == Role::Owner { "the owner" } else { "admins" };
        return Err(Error::Forbidden(format!("only {who} may do this")));
    }
    Ok(())
}

fn cursor_pair(cursor: &str) -> Result<Option<(String, String)>> {
    if cursor.is_empty() {
        return Ok(None);
    }
    let mut parts = hubbub_api::cursor::decode(cursor, 2).ok_or_else(|| Error::Invalid("invalid cursor".into()))?;
    let b = parts.pop().unwrap_or_default();
    let a = parts.pop().unwrap_or_default();
    Ok(Some((a, b)))
}

fn cursor_at(cursor: &str) -> Result<Option<(i64, String)>> {
    match cursor_pair(cursor)? {
        None => Ok(None),
        Some((at, id)) => Ok(Some((at.parse().map_err(|_| Error::Invalid("invalid cursor".into()))?, id))),
    }
}

impl<S: GroupStore> Groups<S> {
    fn limit(&self, asked: u32) -> u32 {
        match asked {
            0 => self.settings.list_default_limit,
            n => n.min(self.settings.list_max_limit),
        }
    }

    fn check_name(&self, name: &str) -> Result<String> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > self.settings.name_max || name.chars().any(char::is_control) {
            return Err(Error::Invalid(format!("name must be 1–{} characters", self.settings.name_max)));
        }
        Ok(name.to_owned())
    }

    fn check_description(&self, d: &str) -> Result<Option<String>> {
        let d = d.trim();
        if d.chars().count() > self.settings.description_max {
            return Err(Error::Invalid(format!(
                "description must be at most {} characters",
                self.settings.description_max
            )));
        }
        Ok(Some(d.to_owned()).filter(|d| !d.is_empty()))
    }

    async fn group(&self, id: &str) -> Result<GroupRecord> {
        self.store.get(id).await?.ok_or(Error::NotFound)
    }

    /// The group and the caller's membership, if the caller's role is at least `min`. Outsiders
    /// learn nothing about private groups.
    async fn require(&self, id: &str, caller: &str, min: Role) -> Result<(GroupRecord, MemberRecord)> {
        let group = self.group(id).await?;
        let Some(me) = self.store.member(id, caller).await? else {
            return Err(if group.visibility == Visibility::Public { Error::NotAMember } else { Error::NotFound });
        };
        at_least(&me, min)?;
        Ok((group, me))
    }

    /// Like `require`, but a direct chat is refused (for members only, so outsiders learn
    /// nothing) before the role is looked at: its two members have no roles to speak of.
    async fn require_not_direct(&self, id: &str, caller: &str, min: Role) -> Result<(GroupRecord, MemberRecord)> {
        let (group, me) = self.require(id, caller, Role::Member).await?;
        if group.kind == GroupKind::Direct {
            return Err(Error::Unprocessable(
                "DIRECT_CHAT",
                "a direct chat has exactly two members and no settings".into(),
            ));
        }
        at_least(&me, min)?;
        Ok((group, me))
    }

    async fn user_exists(&self, ctx: &Ctx, id: &str) -> Result<()> {
        match self.users.clone().get_user(ctx.request(GetUserRequest { id: id.to_owned() })).await {
            Ok(_) => Ok(()),
            Err(s) if s.code() == Code::NotFound => Err(Error::UserNotFound),
            Err(s) => Err(s.into()),
        }
    }

    /// The records a change sends, to be stored with it (the store's outbox publishes them
    /// once it commits). The fence first: the message service must see a removal before the
    /// removed member's socket could see the event and anything sent after it.
    fn outgoing(&self, ctx: &Ctx, group_id: &str, event: group_event::Event) -> Vec<Outgoing> {
        let fence = match &event {
            group_event::Event::MemberAdded(a) => a.member.as_ref().map(|m| MembershipChanged {
                group_id: group_id.to_owned(),
                added: vec![m.user_id.clone()],
                ..Default::default()
            }),
            group_event::Event::MemberRemoved(r) => Some(MembershipChanged {
                group_id: group_id.to_owned(),
                removed: vec![r.user_id.clone()],
                ..Default::default()
            }),
            group_event::Event::Deleted(_) => {
                Some(MembershipChanged { group_id: group_id.to_owned(), group_deleted: true, ..Default::default() })
            }
            // A new role changes who may delete others' messages: read it fresh too.
            group_event::Event::RoleChanged(c) => c.member.as_ref().map(|m| MembershipChanged {
                group_id: group_id.to_owned(),
                changed: vec![m.user_id.clone()],
                ..Default::default()
            }),
            group_event::Event::Created(_) | group_event::Event::Updated(_) => None,
        };
        let record = |topic: &str, payload: Vec<u8>| Outgoing {
            topic: topic.to_owned(),
            key: group_id.to_owned(),
            payload,
            request_id: Some(ctx.request_id.clone()),
        };
        let mut out = Vec::with_capacity(2);
        if let Some(fence) = fence {
            let command = MessageCommand { command: Some(message_command::Command::Membership(fence)) };
            out.push(record(&self.commands_topic, command.encode_to_vec()));
        }
        let payload = GroupEvent {
            group_id: group_id.to_owned(),
            actor_id: ctx.caller.clone().unwrap_or_default(),
            at_ms: hubbub_api::now_ms(),
            event: Some(event),
        }
        .encode_to_vec();
        out.push(record(&self.events_topic, payload));
        out
    }

    /// Publishes a change that decides nothing about access (a new name) after it is stored,
    /// best effort: a failure is logged, and chat nodes show the old name until they reload.
    async fn publish(&self, ctx: &Ctx, group_id: &str, event: group_event::Event) {
        for r in self.outgoing(ctx, group_id, event) {
            let _ = self.producer.publish(&r.topic, &r.key, &r.payload, r.request_id.as_deref()).await;
        }
    }

    async fn create(&self, ctx: &Ctx, caller: &str, r: CreateGroupRequest) -> Result<Group> {
        let name = self.check_name(&r.name)?;
        let description = match r.description.as_deref() {
            Some(d) => self.check_description(d)?,
            None => None,
        };
        let kind = match GroupKind::try_from(r.kind) {
            Ok(GroupKind::Room) => GroupKind::Room,
            Ok(GroupKind::Group | GroupKind::Unspecified) => GroupKind::Group,
            Ok(GroupKind::Direct) => return Err(Error::Invalid("create direct chats with POST /groups/direct".into())),
            Err(_) => return Err(Error::Invalid("unknown kind".into())),
        };
        let visibility = match Visibility::try_from(r.visibility) {
            Ok(Visibility::Public) => Visibility::Public,
            Ok(Visibility::Private) => Visibility::Private,
            Ok(Visibility::Unspecified) if kind == GroupKind::Room => Visibility::Public,
            Ok(Visibility::Unspecified) => Visibility::Private,
            Err(_) => return Err(Error::Invalid("visibility must be public or private".into())),
        };
        let now = hubbub_api::now_ms();
        let mut members = vec![MemberRecord { user_id: caller.to_owned(), role: Role::Owner, joined_at_ms: now }];
        for id in r.member_ids {
            if id.is_empty() {
                return Err(Error::Invalid("member ids may not be empty".into()));
            }
            if !members.iter().any(|m| m.user_id == id) {
                members.push(MemberRecord { user_id: id, role: Role::Member, joined_at_ms: now });
            }
        }
        if members.len() > self.settings.initial_members_max {
            return Err(Error::Invalid(format!(
                "a group may be created with at most {} members",
                self.settings.initial_members_max
            )));
        }
        let checks = members.iter().skip(1).map(|m| self.user_exists(ctx, &m.user_id));
        for check in futures_util::future::join_all(checks).await {
            check?;
        }
        let group = GroupRecord {
            id: ObjectId::new().to_hex(),
            kind,
            name,
            description,
            visibility,
            owner_id: caller.to_owned(),
            member_count: u32::try_from(members.len()).unwrap_or(u32::MAX),
            created_at_ms: now,
            last_activity_ms: now,
        };
        let member_ids = members.iter().map(|m| m.user_id.clone()).collect();
        let created = GroupCreated { group: Some(to_proto(group.clone(), None)), member_ids };
        let events = self.outgoing(ctx, &group.id, group_event::Event::Created(created));
        self.store.create(&group, &members, &events).await?;
        tracing::info!(group_id = %group.id, members = members.len(), "group created");
        Ok(to_proto(group, Some(Role::Owner)))
    }

    async fn direct(&self, ctx: &Ctx, caller: &str, other: &str) -> Result<DirectResponse> {
        if other.is_empty() || other == caller {
            return Err(Error::Invalid("userId must name another user".into()));
        }
        self.user_exists(ctx, other).await?;
        let (a, b) = if caller < other { (caller, other) } else { (other, caller) };
        let now = hubbub_api::now_ms();
        let members = [
            MemberRecord { user_id: a.to_owned(), role: Role::Member, joined_at_ms: now },
            MemberRecord { user_id: b.to_owned(), role: Role::Member, joined_at_ms: now },
        ];
        let candidate = GroupRecord {
            id: ObjectId::new().to_hex(),
            kind: GroupKind::Direct,
            name: String::new(),
            description: None,
            visibility: Visibility::Private,
            owner_id: caller.to_owned(),
            member_count: 2,
            created_at_ms: now,
            last_activity_ms: now,
        };
        let event = GroupCreated {
            group: Some(to_proto(candidate.clone(), None)),
            member_ids: vec![a.to_owned(), b.to_owned()],
        };
        let events = self.outgoing(ctx, &candidate.id, group_event::Event::Created(event));
        let (id, created) = self.store.create_direct(&format!("{a}:{b}"), &candidate, &members, &events).await?;
        let group = self.group(&id).await?;
        Ok(DirectResponse { group: Some(to_proto(group, Some(Role::Member))), created })
    }

    async fn get(&self, caller: &str, id: &str) -> Result<Group> {
        let group = self.group(id).await?;
        let me = self.store.member(id, caller).await?;
        if me.is_none() && group.visibility != Visibility::Public {
            return Err(Error::NotFound);
        }
        Ok(to_proto(group, me.map(|m| m.role)))
    }

    async fn update(&self, ctx: &Ctx, caller: &str, r: UpdateGroupRequest) -> Result<Group> {
        let (_, me) = self.require_not_direct(&r.id, caller, Role::Admin).await?;
        let mut change = GroupChange::default();
        if let Some(name) = r.name.as_deref() {
            change.name = Some(self.check_name(name)?);
        }
        if let Some(d) = r.description.as_deref() {
            change.description = Some(self.check_description(d)?);
        }
        change.visibility = match Visibility::try_from(r.visibility) {
            Ok(Visibility::Unspecified) => None,
            Ok(v) => Some(v),
            Err(_) => return Err(Error::Invalid("visibility must be public or private".into())),
        };
        let updated = self.store.update(&r.id, change).await?.ok_or(Error::NotFound)?;
        let event = GroupUpdated { group: Some(to_proto(updated.clone(), None)) };
        self.publish(ctx, &r.id, group_event::Event::Updated(event)).await;
        Ok(to_proto(updated, Some(me.role)))
    }

    async fn delete(&self, ctx: &Ctx, caller: &str, id: &str) -> Result<()> {
        let (group, me) = self.require(id, caller, Role::Member).await?;
        // Either party may end a direct chat; any other group only its owner.
        if group.kind != GroupKind::Direct {
            at_least(&me, Role::Owner)?;
        }
        let events = self.outgoing(ctx, id, group_event::Event::Deleted(GroupDeleted {}));
        self.store.delete(id, &events).await?;
        tracing::info!(group_id = %id, "group deleted");
        Ok(())
    }

    async fn members_of(&self, caller: &str, r: ListMembersRequest) -> Result<ListMembersResponse> {
        self.require(&r.group_id, caller, Role::Member).await?;
        let limit = self.limit(r.limit);
        let members = self.store.members(&r.group_id, cursor_at(&r.cursor)?, limit).await?;
        let next_cursor = match members.last() {
            Some(m) if members.len() == limit as usize => {
                hubbub_api::cursor::encode(&[&m.joined_at_ms.to_string(), &m.user_id])
            }
            _ => String::new(),
        };
        Ok(ListMembersResponse { members: members.iter().map(member_proto).collect(), next_cursor })
    }

    async fn add(&self, ctx: &Ctx, caller: &str, r: AddMemberRequest) -> Result<Member> {
        let (group, _) = self.require_not_direct(&r.group_id, caller, Role::Admin).await?;
        self.user_exists(ctx, &r.user_id).await?;
        let member =
            MemberRecord { user_id: r.user_id.clone(), role: Role::Member, joined_at_ms: hubbub_api::now_ms() };
        if !self.store.add_member(&r.group_id, &member, &self.member_added(ctx, group, &member)).await? {
            return Err(Error::AlreadyMember);
        }
        Ok(member_proto(&member))
    }

    /// What adding `member` to `group` (as it stood before) sends.
    fn member_added(&self, ctx: &Ctx, group: GroupRecord, member: &MemberRecord) -> Vec<Outgoing> {
        let id = group.id.clone();
        let after = GroupRecord { member_count: group.member_count.saturating_add(1), ..group };
        let event = MemberAdded { member: Some(member_proto(member)), group: Some(to_proto(after, None)) };
        self.outgoing(ctx, &id, group_event::Event::MemberAdded(event))
    }

    async fn remove(&self, ctx: &Ctx, caller: &str, r: RemoveMemberRequest) -> Result<()> {
        if r.user_id == caller {
            return self.leave(ctx, caller, &r.group_id).await;
        }
        let (group, me) = self.require(&r.group_id, caller, Role::Admin).await?;
        let target = self.store.member(&r.group_id, &r.user_id).await?.ok_or(Error::MemberNotFound)?;
        // An admin removes members; an owner removes anyone.
        if me.role != Role::Owner && rank(target.role) >= rank(Role::Admin) {
            return Err(Error::Forbidden("only the owner may remove admins and owners".into()));
        }
        if group.owner_id == r.user_id {
            // The recorded owner goes: the owner removing them takes the record.
            self.store.set_owner(&r.group_id, caller).await?;
        }
        let event = MemberRemoved { user_id: r.user_id.clone(), left: false };
        let events = self.outgoing(ctx, &r.group_id, group_event::Event::MemberRemoved(event));
        self.store.remove_member(&r.group_id, &r.user_id, &events).await?;
        Ok(())
    }

    /// Leaving. The last owner hands the group to the longest-serving admin, else to the
    /// longest-standing member; a group left by its only member is deleted.
    async fn leave(&self, ctx: &Ctx, caller: &str, group_id: &str) -> Result<()> {
        let (group, me) = self.require(group_id, caller, Role::Member).await?;
        if group.kind == GroupKind::Direct {
            return Err(Error::Unprocessable("DIRECT_CHAT", "end a direct chat by deleting it".into()));
        }
        if me.role == Role::Owner {
            let owners = self.store.with_role(group_id, Role::Owner, 2).await?;
            if !owners.iter().any(|o| o.user_id != caller) {
                let admins = self.store.with_role(group_id, Role::Admin, 1).await?;
                let successor = match admins.into_iter().next() {
                    Some(a) => Some(a),
                    None => self.store.members(group_id, None, 2).await?.into_iter().find(|m| m.user_id != caller),
                };
                let Some(successor) = successor else {
                    return self.delete(ctx, caller, group_id).await;
                };
                let promoted = MemberRecord { role: Role::Owner, ..successor };
                let event = RoleChanged { member: Some(member_proto(&promoted)) };
                let events = self.outgoing(ctx, group_id, group_event::Event::RoleChanged(event));
                let promoted = self
                    .store
                    .set_role(group_id, &promoted.user_id, Role::Owner, &events)
                    .await?
                    .ok_or(Error::MemberNotFound)?;
                self.store.set_owner(group_id, &promoted.user_id).await?;
            } else if group.owner_id == caller
                && let Some(other) = owners.iter().find(|o| o.user_id != caller)
            {
                self.store.set_owner(group_id, &other.user_id).await?;
            }
        }
        let event = MemberRemoved { user_id: caller.to_owned(), left: true };
        let events = self.outgoing(ctx, group_id, group_event::Event::MemberRemoved(event));
        self.store.remove_member(group_id, caller, &events).await?;
        Ok(())
    }

    async fn change_role(&self, ctx: &Ctx, caller: &str, r: SetRoleRequest) -> Result<Member> {
        let (group, _) = self.require(&r.group_id, caller, Role::Owner).await?;
        let role = match Role::try_from(r.role) {
            Ok(Role::Unspecified) | Err(_) => return Err(Error::Invalid("role must be owner, admin or member".into())),
            Ok(role) => role,
        };
        let target = self.store.member(&r.group_id, &r.user_id).await?.ok_or(Error::MemberNotFound)?;
        if target.role == Role::Owner && role != Role::Owner {
            let owners = self.store.with_role(&r.group_id, Role::Owner, 2).await?;
            if owners.len() < 2 {
                return Err(Error::Unprocessable(
                    "LAST_OWNER",
                    "a group needs an owner: make someone else owner first".into(),
                ));
            }
            if group.owner_id == r.user_id
                && let Some(other) = owners.iter().find(|o| o.user_id != r.user_id)
            {
                self.store.set_owner(&r.group_id, &other.user_id).await?;
            }
        }
        let event = RoleChanged { member: Some(member_proto(&MemberRecord { role, ..target })) };
        let events = self.outgoing(ctx, &r.group_id, group_event::Event::RoleChanged(event));
        let updated =
            self.store.set_role(&r.group_id, &r.user_id, role, &events).await?.ok_or(Error::MemberNotFound)?;
        Ok(member_proto(&updated))
    }

    /// A deleted account leaves every group but its direct chats.
    pub(crate) async fn forget_user(&self, request_id: &str, user_id: &str) -> Result<()> {
        let ctx = Ctx::new(request_id).as_user(user_id);
        for group_id in self.store.groups_of(user_id).await? {
            match self.group(&group_id).await {
                Ok(g) if g.kind == GroupKind::Direct => continue,
                Ok(_) => {}
                Err(Error::NotFound) => continue,
                Err(e) => return Err(e),
            }
            match self.leave(&ctx, user_id, &group_id).await {
                Ok(()) | Err(Error::NotFound | Error::NotAMember) => {}
                Err(e) => return Err(e),
            }
        }
        tracing::info!(%user_id, "deleted account removed from its groups");
        Ok(())
    }

    async fn join(&self, ctx: &Ctx, caller: &str, group_id: &str) -> Result<Group> {
        let group = self.group(group_id).await?;
        if group.visibility != Visibility::Public {
            // Private groups are joined by invitation only, and their existence stays private.
            return Err(Error::NotFound);
        }
        self.add_self(ctx, caller, group).await
    }

    async fn add_self(&self, ctx: &Ctx, caller: &str, group: GroupRecord) -> Result<Group> {
        let member =
            MemberRecord { user_id: caller.to_owned(), role: Role::Member, joined_at_ms: hubbub_api::now_ms() };
        let id = group.id.clone();
        self.store.add_member(&id, &member, &self.member_added(ctx, group, &member)).await?;
        let role = self.store.member(&id, caller).await?.map(|m| m.role);
        Ok(to_proto(self.group(&id).await?, role))
    }

    async fn invite(&self, caller: &str, group_id: &str) -> Result<Invite> {
        self.require_not_direct(group_id, caller, Role::Admin).await?;
        let code = format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple());
        let ttl_ms = i64::try_from(self.settings.invite_ttl_secs.saturating_mul(1000)).unwrap_or(i64::MAX);
        let expires_at_ms = hubbub_api::now_ms().saturating_add(ttl_ms);
        self.store.create_invite(&code, group_id, expires_at_ms).await?;
        Ok(Invite { code, group_id: group_id.to_owned(), expires_at_ms })
    }

    async fn accept(&self, ctx: &Ctx, caller: &str, code: &str) -> Result<Group> {
        let (group_id, expires_at_ms) = self.store.invite(code).await?.ok_or(Error::InviteNotFound)?;
        if expires_at_ms <= hubbub_api::now_ms() {
            return Err(Error::InviteNotFound);
        }
        let group = self.group(&group_id).await?;
        self.add_self(ctx, caller, group).await
    }

    /// The caller's groups, most recent activity first (ties by id), paged by cursor.
    async fn mine(&self, caller: &str, r: ListMyGroupsRequest) -> Result<ListGroupsResponse> {
        let limit = self.limit(r.limit) as usize;
        let after = cursor_at(&r.cursor)?;
        let mut rows = self.store.memberships(caller, self.settings.my_groups_max).await?;
        let key = |g: &GroupRecord| (std::cmp::Reverse(g.last_activity_ms), std::cmp::Reverse(g.id.clone()));
        rows.sort_by_key(|(g, _)| key(g));
        let rows: Vec<_> = match after {
            Some((at, id)) => {
                let after = (std::cmp::Reverse(at), std::cmp::Reverse(id));
                rows.into_iter().filter(|(g, _)| key(g) > after).take(limit).collect()
            }
            None => rows.into_iter().take(limit).collect(),
        };
        let next_cursor = match rows.last() {
            Some((g, _)) if rows.len() == limit => {
                hubbub_api::cursor::encode(&[&g.last_activity_ms.to_string(), &g.id])
            }
            _ => String::new(),
        };
        let groups = rows.into_iter().map(|(g, m)| to_proto(g, Some(m.role))).collect();
        Ok(ListGroupsResponse { groups, next_cursor })
    }

    async fn public(&self, only_public: bool, r: ListPublicRequest) -> Result<ListGroupsResponse> {
        let prefix = r.query.trim().to_lowercase();
        if prefix.chars().count() > self.settings.name_max {
            return Err(Error::Invalid("q is too long".into()));
        }
        let limit = self.limit(r.limit);
        let groups = self.store.public(only_public, &prefix, cursor_pair(&r.cursor)?, limit).await?;
        let next_cursor = match groups.last() {
            Some(g) if groups.len() == limit as usize => hubbub_api::cursor::encode(&[&g.name.to_lowercase(), &g.id]),
            _ => String::new(),
        };
        Ok(ListGroupsResponse { groups: groups.into_iter().map(|g| to_proto(g, None)).collect(), next_cursor })
    }
}

/// The caller's context and id, or UNAUTHENTICATED.
fn called<T>(req: &Request<T>) -> Result<(Ctx, String), Status> {
    let ctx = Ctx::from_request(req);
    let caller = ctx.caller()?.to_owned();
    Ok((ctx, caller))
}

#[tonic::async_trait]
impl<S: GroupStore> GroupService for Groups<S> {
    async fn create_group(&self, req: Request<CreateGroupRequest>) -> Result<Response<Group>, Status> {
        let (ctx, caller) = called(&req)?;
        Ok(Response::new(self.create(&ctx, &caller, req.into_inner()).await?))
    }

    async fn get_or_create_direct(
        &self,
        req: Request<GetOrCreateDirectRequest>,
    ) -> Result<Response<DirectResponse>, Status> {
        let (ctx, caller) = called(&req)?;
        Ok(Response::new(self.direct(&ctx, &caller, &req.get_ref().user_id).await?))
    }

    async fn get_group(&self, req: Request<GetGroupRequest>) -> Result<Response<Group>, Status> {
        let (_, caller) = called(&req)?;
        Ok(Response::new(self.get(&caller, &req.get_ref().id).await?))
    }

    async fn update_group(&self, req: Request<UpdateGroupRequest>) -> Result<Response<Group>, Status> {
        let (ctx, caller) = called(&req)?;
        Ok(Response::new(self.update(&ctx, &caller, req.into_inner()).await?))
    }

    async fn delete_group(&self, req: Request<DeleteGroupRequest>) -> Result<Response<Empty>, Status> {
        let (ctx, caller) = called(&req)?;
        self.delete(&ctx, &caller, &req.get_ref().id).await?;
        Ok(Response::new(Empty {}))
    }

    async fn list_my_groups(&self, req: Request<ListMyGroupsRequest>) -> Result<Response<ListGroupsResponse>, Status> {
        let (_, caller) = called(&req)?;
        Ok(Response::new(self.mine(&caller, req.into_inner()).await?))
    }

    async fn list_public(&self, req: Request<ListPublicRequest>) -> Result<Response<ListGroupsResponse>, Status> {
        Ok(Response::new(self.public(true, req.into_inner()).await?))
    }

    async fn admin_list_groups(&self, req: Request<ListPublicRequest>) -> Result<Response<ListGroupsResponse>, Status> {
        Ok(Response::new(self.public(false, req.into_inner()).await?))
    }

    async fn admin_get_group(&self, req: Request<GetGroupRequest>) -> Result<Response<Group>, Status> {
        let group = self.group(&req.into_inner().id).await?;
        Ok(Response::new(to_proto(group, None)))
    }

    async fn admin_delete_group(&self, req: Request<DeleteGroupRequest>) -> Result<Response<Empty>, Status> {
        let (ctx, caller) = called(&req)?;
        let id = req.into_inner().id;
        self.group(&id).await?;
        let events = self.outgoing(&ctx, &id, group_event::Event::Deleted(GroupDeleted {}));
        self.store.delete(&id, &events).await?;
        tracing::info!(group_id = %id, admin = %caller, "group deleted by an administrator");
        Ok(Response::new(Empty {}))
    }

    async fn list_members(&self, req: Request<ListMembersRequest>) -> Result<Response<ListMembersResponse>, Status> {
        let (_, caller) = called(&req)?;
        Ok(Response::new(self.members_of(&caller, req.into_inner()).await?))
    }

    async fn add_member(&self, req: Request<AddMemberRequest>) -> Result<Response<Member>, Status> {
        let (ctx, caller) = called(&req)?;
        Ok(Response::new(self.add(&ctx, &caller, req.into_inner()).await?))
    }

    async fn remove_member(&self, req: Request<RemoveMemberRequest>) -> Result<Response<Empty>, Status> {
        let (ctx, caller) = called(&req)?;
        self.remove(&ctx, &caller, req.into_inner()).await?;
        Ok(Response::new(Empty {}))
    }

    async fn set_role(&self, req: Request<SetRoleRequest>) -> Result<Response<Member>, Status> {
        let (ctx, caller) = called(&req)?;
        Ok(Response::new(self.change_role(&ctx, &caller, req.into_inner()).await?))
    }

    async fn join_group(&self, req: Request<JoinGroupRequest>) -> Result<Response<Group>, Status> {
        let (ctx, caller) = called(&req)?;
        Ok(Response::new(self.join(&ctx, &caller, &req.get_ref().group_id).await?))
    }

    async fn create_invite(&self, req: Request<CreateInviteRequest>) -> Result<Response<Invite>, Status> {
        let (_, caller) = called(&req)?;
        Ok(Response::new(self.invite(&caller, &req.get_ref().group_id).await?))
    }

    async fn accept_invite(&self, req: Request<AcceptInviteRequest>) -> Result<Response<Group>, Status> {
        let (ctx, caller) = called(&req)?;
        Ok(Response::new(self.accept(&ctx, &caller, &req.get_ref().code).await?))
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
        let (member, group) =
            futures_util::future::try_join(self.store.member(&r.group_id, &r.user_id), self.store.get(&r.group_id))
                .await
                .map_err(Status::from)?;
        let role = member.map(|m| m.role);
        Ok(Response::new(Membership {
            member: role.is_some(),
            role: role.unwrap_or(Role::Unspecified) as i32,
            member_count: group.map_or(0, |g| g.member_count),
        }))
    }

    async fn get_memberships(
        &self,
        req: Request<GetMembershipsRequest>,
    ) -> Result<Response<GetMembershipsResponse>, Status> {
        let r = req.into_inner();
        if r.group_ids.len() > MEMBERSHIPS_MAX {
            return Err(hubbub_rpc::coded(
                tonic::Code::InvalidArgument,
                "VALIDATION_ERROR",
                format!("at most {MEMBERSHIPS_MAX} groups at once"),
            ));
        }
        let (member, former) = self.store.standing(&r.user_id, &r.group_ids).await.map_err(Status::from)?;
        let groups = r
            .group_ids
            .into_iter()
            .map(|g| {
                let state = if member.contains(&g) {
                    MembershipState::Member
                } else if former.contains(&g) {
                    MembershipState::Former
                } else {
                    MembershipState::None
                };
                GroupMembership { group_id: g, state: state as i32 }
            })
            .collect();
        Ok(Response::new(GetMembershipsResponse { groups }))
    }
}
