//! The group contract, run over gRPC and over RabbitMQ against real MongoDB, Kafka, Redis and
//! RabbitMQ (scripts/infra.sh up): roles and what they allow, direct chats raced from both
//! sides, invites that expire, public rooms by prefix, ownership handover, and the events
//! every change publishes.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::time::Duration;

use hubbub_events::EventConsumer;
use hubbub_events::rdkafka::Message as _;
use hubbub_events::{GROUP_EVENTS, KafkaSettings};
use hubbub_group::GroupSettings;
use hubbub_mongo::MongoSettings;
use hubbub_proto::events::{GroupEvent, group_event::Event};
use hubbub_proto::group::group_service_client::GroupServiceClient;
use hubbub_proto::group::{
    AcceptInviteRequest, AddMemberRequest, CreateGroupRequest, CreateInviteRequest, DeleteGroupRequest,
    GetGroupRequest, GetMembershipsRequest, GetOrCreateDirectRequest, GroupKind, ListMembersRequest,
    ListMyGroupsRequest, ListPublicRequest, MembershipState, RemoveMemberRequest, Role, SetRoleRequest,
    UpdateGroupRequest, Visibility,
};
use hubbub_proto::user::user_service_client::UserServiceClient;
use hubbub_redis::RedisSettings;
use hubbub_rpc::{Channel, Connector, Ctx, RpcSettings, Transport, api_code};
use hubbub_testkit::{Running, create_users};
use prost::Message as _;
use tokio::net::TcpListener;
use tonic::Code;

struct Suite {
    groups: GroupServiceClient<Channel>,
    events: EventConsumer,
    running: Running,
}

const USERS: [&str; 6] = ["owner", "admin", "member", "outsider", "extra", "other"];

impl Suite {
    async fn start(transport: Transport) -> Self {
        let ns = format!("t{}", uuid::Uuid::new_v4().simple());
        let (group_l, user_l) =
            (TcpListener::bind("127.0.0.1:0").await.unwrap(), TcpListener::bind("127.0.0.1:0").await.unwrap());
        let mut rpc = RpcSettings { queue_prefix: format!("{ns}."), ..RpcSettings::development() };
        rpc.group.grpc_addr = group_l.local_addr().unwrap().to_string();
        rpc.user.grpc_addr = user_l.local_addr().unwrap().to_string();
        rpc.group.transport = transport;
        rpc.user.transport = transport;
        let mongo = MongoSettings { database_prefix: format!("{ns}_"), ..MongoSettings::default() };
        let redis = RedisSettings { key_prefix: format!("{ns}:"), ..RedisSettings::default() };
        let kafka = KafkaSettings { topic_prefix: format!("{ns}."), partitions: 2, ..KafkaSettings::default() };
        let settings = GroupSettings { invite_ttl_secs: 1, ..GroupSettings::default() };
        kafka.ensure_topics(&[GROUP_EVENTS]).await.unwrap();
        let events = kafka.tail_consumer(&[GROUP_EVENTS]).unwrap();
        let mut running = Running::new();
        let (r, m, stop) = (rpc.clone(), mongo.clone(), running.shutdown());
        running.spawn(async move {
            let deps = hubbub_user::Deps { user: &Default::default(), rpc: &r, mongo: &m, redis: &redis };
            hubbub_user::run(deps, user_l, stop).await
        });
        let (r, m, stop) = (rpc.clone(), mongo.clone(), running.shutdown());
        running.spawn(async move {
            let deps = hubbub_group::Deps { group: &settings, rpc: &r, mongo: &m, kafka: &kafka };
            hubbub_group::run(deps, group_l, stop).await
        });
        let connector = Connector::new(rpc.clone());
        let mut users = UserServiceClient::new(connector.channel(&rpc.user).await.unwrap());
        create_users(&mut users, &USERS).await;
        Suite { groups: GroupServiceClient::new(connector.channel(&rpc.group).await.unwrap()), events, running }
    }

    async fn stop(self) {
        self.running.stop().await;
    }

    fn c(&self) -> GroupServiceClient<Channel> {
        self.groups.clone()
    }

    /// The next event published for `group_id`.
    async fn next_event(&self, group_id: &str) -> Event {
        loop {
            let record = tokio::time::timeout(Duration::from_secs(10), self.events.recv()).await.unwrap().unwrap();
            let e = GroupEvent::decode(record.payload().unwrap()).unwrap();
            if e.group_id == group_id {
                return e.event.unwrap();
            }
        }
    }

    /// A private group of owner, admin and member.
    async fn crew(&self) -> String {
        let req = CreateGroupRequest {
            name: "crew".into(),
            member_ids: vec!["admin".into(), "member".into()],
            ..Default::default()
        };
        let g = self.c().create_group(who("owner").request(req)).await.unwrap().into_inner();
        assert!(matches!(self.next_event(&g.id).await, Event::Created(c) if c.member_ids.len() == 3));
        let role = SetRoleRequest { group_id: g.id.clone(), user_id: "admin".into(), role: Role::Admin as i32 };
        self.c().set_role(who("owner").request(role)).await.unwrap();
        assert!(matches!(self.next_event(&g.id).await, Event::RoleChanged(_)));
        g.id
    }
}

fn who(user: &str) -> Ctx {
    Ctx::new(format!("req-{user}")).as_user(user)
}

async fn both(scenario: impl AsyncFn(&Suite)) {
    for transport in [Transport::Grpc, Transport::Amqp] {
        let suite = Suite::start(transport).await;
        scenario(&suite).await;
        suite.stop().await;
    }
}

fn code(r: Result<impl Sized, tonic::Status>) -> (Code, String) {
    let e = r.err().expect("an error");
    (e.code(), api_code(&e).unwrap_or_default().to_owned())
}

#[tokio::test]
async fn roles_decide_who_may_add_remove_and_promote() {
    both(async |s: &Suite| {
        let id = s.crew().await;
        let add = |by: &str, user: &str| {
            let mut c = s.c();
            let req = who(by).request(AddMemberRequest { group_id: id.clone(), user_id: user.into() });
            async move { c.add_member(req).await }
        };
        assert_eq!(code(add("member", "extra").await), (Code::PermissionDenied, "FORBIDDEN".into()));
        assert_eq!(code(add("outsider", "extra").await), (Code::NotFound, "GROUP_NOT_FOUND".into()));
        add("admin", "extra").await.unwrap();
        assert!(
            matches!(s.next_event(&id).await, Event::MemberAdded(a) if a.member.as_ref().unwrap().user_id == "extra")
        );
        assert_eq!(code(add("admin", "extra").await), (Code::AlreadyExists, "ALREADY_A_MEMBER".into()));
        assert_eq!(code(add("admin", "ghost").await), (Code::NotFound, "USER_NOT_FOUND".into()));

        let remove = |by: &str, user: &str| {
            let mut c = s.c();
            let req = who(by).request(RemoveMemberRequest { group_id: id.clone(), user_id: user.into() });
            async move { c.remove_member(req).await }
        };
        assert_eq!(code(remove("member", "extra").await), (Code::PermissionDenied, "FORBIDDEN".into()));
        assert_eq!(code(remove("admin", "owner").await), (Code::PermissionDenied, "FORBIDDEN".into()));
        remove("admin", "extra").await.unwrap();
        assert!(matches!(s.next_event(&id).await, Event::MemberRemoved(r) if r.user_id == "extra" && !r.left));

        let promote = |by: &str| {
            let mut c = s.c();
            let req = who(by).request(SetRoleRequest {
                group_id: id.clone(),
                user_id: "member".into(),
                role: Role::Admin as i32,
            });
            async move { c.set_role(req).await }
        };
        assert_eq!(code(promote("admin").await), (Code::PermissionDenied, "FORBIDDEN".into()));
        assert_eq!(promote("owner").await.unwrap().into_inner().role, Role::Admin as i32);

        let first = ListMembersRequest { group_id: id.clone(), limit: 2, cursor: String::new() };
        let page = s.c().list_members(who("member").request(first)).await.unwrap().into_inner();
        let rest = ListMembersRequest { group_id: id.clone(), limit: 2, cursor: page.next_cursor };
        let rest = s.c().list_members(who("member").request(rest)).await.unwrap().into_inner();
        let mut all: Vec<String> = page.members.iter().chain(&rest.members).map(|m| m.user_id.clone()).collect();
        all.sort();
        assert_eq!(all, ["admin", "member", "owner"]);
        assert!(rest.next_cursor.is_empty());
    })
    .await;
}

#[tokio::test]
async fn a_direct_chat_raced_from_both_sides_is_one_group() {
    both(async |s: &Suite| {
        let (mut a, mut b) = (s.c(), s.c());
        let (x, y) = tokio::join!(
            a.get_or_create_direct(who("owner").request(GetOrCreateDirectRequest { user_id: "other".into() })),
            b.get_or_create_direct(who("other").request(GetOrCreateDirectRequest { user_id: "owner".into() })),
        );
        let (x, y) = (x.unwrap().into_inner(), y.unwrap().into_inner());
        let (gx, gy) = (x.group.unwrap(), y.group.unwrap());
        assert_eq!(gx.id, gy.id);
        assert_eq!([x.created, y.created].iter().filter(|c| **c).count(), 1, "created exactly once");
        assert_eq!(gx.kind, GroupKind::Direct as i32);
        assert!(matches!(s.next_event(&gx.id).await, Event::Created(_)));
        let invite = s.c().create_invite(who("owner").request(CreateInviteRequest { group_id: gx.id.clone() })).await;
        assert_eq!(code(invite), (Code::FailedPrecondition, "DIRECT_CHAT".into()));
    })
    .await;
}

#[tokio::test]
async fn an_invite_admits_until_it_expires() {
    both(async |s: &Suite| {
        let id = s.crew().await;
        let invite =
            s.c().create_invite(who("admin").request(CreateInviteRequest { group_id: id.clone() })).await.unwrap();
        let code_ = invite.into_inner().code;
        let joined =
            s.c().accept_invite(who("extra").request(AcceptInviteRequest { code: code_.clone() })).await.unwrap();
        assert_eq!(joined.into_inner().my_role, Role::Member as i32);
        // The invite lives one second in this suite's settings.
        tokio::time::sleep(Duration::from_millis(1100)).await;
        let late = s.c().accept_invite(who("outsider").request(AcceptInviteRequest { code: code_ })).await;
        assert_eq!(code(late), (Code::NotFound, "INVITE_NOT_FOUND".into()));
    })
    .await;
}

#[tokio::test]
async fn public_rooms_page_by_name_and_my_groups_page_by_joining() {
    both(async |s: &Suite| {
        for name in ["Zeta one", "zeta two", "Zeta three", "other"] {
            let req = CreateGroupRequest { name: name.into(), kind: GroupKind::Room as i32, ..Default::default() };
            let g = s.c().create_group(who("owner").request(req)).await.unwrap().into_inner();
            assert_eq!(g.visibility, Visibility::Public as i32, "rooms are public by default");
        }
        let list = |cursor: String| {
            let mut c = s.c();
            async move {
                c.list_public(who("outsider").request(ListPublicRequest { query: "ZETA".into(), limit: 2, cursor }))
                    .await
                    .unwrap()
                    .into_inner()
            }
        };
        let first = list(String::new()).await;
        let second = list(first.next_cursor.clone()).await;
        let names: Vec<String> = first.groups.iter().chain(&second.groups).map(|g| g.name.clone()).collect();
        assert_eq!(names, ["Zeta one", "Zeta three", "zeta two"]);

        let mine = |cursor: String| {
            let mut c = s.c();
            async move {
                c.list_my_groups(who("owner").request(ListMyGroupsRequest { limit: 3, cursor }))
                    .await
                    .unwrap()
                    .into_inner()
            }
        };
        let p1 = mine(String::new()).await;
        let p2 = mine(p1.next_cursor.clone()).await;
        let names: Vec<&str> = p1.groups.iter().chain(&p2.groups).map(|g| g.name.as_str()).collect();
        assert_eq!(names, ["other", "Zeta three", "zeta two", "Zeta one"], "most recent first, across pages");
        assert!(p2.next_cursor.is_empty());
    })
    .await;
}

#[tokio::test]
async fn the_last_owner_leaving_hands_the_group_to_the_longest_serving_admin() {
    both(async |s: &Suite| {
        let id = s.crew().await;
        s.c()
            .remove_member(who("owner").request(RemoveMemberRequest { group_id: id.clone(), user_id: "owner".into() }))
            .await
            .unwrap();
        assert!(
            matches!(s.next_event(&id).await, Event::RoleChanged(c) if c.member.as_ref().unwrap().user_id == "admin")
        );
        assert!(matches!(s.next_event(&id).await, Event::MemberRemoved(r) if r.user_id == "owner" && r.left));
        let g = s.c().get_group(who("admin").request(GetGroupRequest { id: id.clone() })).await.unwrap().into_inner();
        assert_eq!((g.owner_id.as_str(), g.my_role, g.member_count), ("admin", Role::Owner as i32, 2));
        // Alone at last: the final member leaving deletes the group.
        s.c()
            .remove_member(who("admin").request(RemoveMemberRequest { group_id: id.clone(), user_id: "member".into() }))
            .await
            .unwrap();
        s.c()
            .remove_member(who("admin").request(RemoveMemberRequest { group_id: id.clone(), user_id: "admin".into() }))
            .await
            .unwrap();
        let gone = s.c().get_group(who("admin").request(GetGroupRequest { id })).await;
        assert_eq!(code(gone), (Code::NotFound, "GROUP_NOT_FOUND".into()));
    })
    .await;
}

#[tokio::test]
async fn changes_and_deletions_are_published_and_former_members_are_remembered() {
    both(async |s: &Suite| {
        let id = s.crew().await;
        let rename = UpdateGroupRequest { id: id.clone(), name: Some("renamed".into()), ..Default::default() };
        s.c().update_group(who("admin").request(rename)).await.unwrap();
        assert!(matches!(s.next_event(&id).await, Event::Updated(u) if u.group.as_ref().is_some_and(|g| g.name == "renamed")));
        let leave = RemoveMemberRequest { group_id: id.clone(), user_id: "member".into() };
        s.c().remove_member(who("member").request(leave)).await.unwrap();
        assert!(matches!(s.next_event(&id).await, Event::MemberRemoved(r) if r.left));
        let standing = async |user: &str| {
            let req = GetMembershipsRequest { user_id: user.into(), group_ids: vec![id.clone()] };
            s.c().get_memberships(who(user).request(req)).await.unwrap().into_inner().groups[0].state()
        };
        assert_eq!(standing("member").await, MembershipState::Former);
        assert_eq!(standing("outsider").await, MembershipState::None);
        assert_eq!(standing("admin").await, MembershipState::Member);
        s.c().delete_group(who("owner").request(DeleteGroupRequest { id: id.clone() })).await.unwrap();
        assert!(matches!(s.next_event(&id).await, Event::Deleted(_)));
        assert_eq!(standing("admin").await, MembershipState::Former, "a deleted group's members are former members");
    })
    .await;
}
