//! One service, two transports: the same calls over gRPC and over RabbitMQ must give the same
//! answers and the same errors, with the caller's identity carried along; over RabbitMQ a
//! deadline passes as DEADLINE_EXCEEDED when no replica consumes, and a request waits in the
//! queue while the service restarts. Real RabbitMQ, MongoDB, Kafka and Redis (scripts/infra.sh up).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::time::{Duration, Instant};

use hubbub_events::KafkaSettings;
use hubbub_group::GroupSettings;
use hubbub_mongo::MongoSettings;
use hubbub_proto::group::group_service_client::GroupServiceClient;
use hubbub_proto::group::{CreateGroupRequest, GetGroupRequest, GetMembershipRequest, Visibility};
use hubbub_proto::user::user_service_client::UserServiceClient;
use hubbub_redis::RedisSettings;
use hubbub_rpc::{Channel, Connector, Ctx, Endpoint, RpcSettings, Transport, api_code};
use hubbub_testkit::Running;
use tokio::net::TcpListener;
use tonic::Code;

/// Settings private to one test: its own queues, database and topics.
fn isolated() -> (RpcSettings, MongoSettings) {
    let ns = format!("t{}", uuid::Uuid::new_v4().simple());
    let rpc = RpcSettings { queue_prefix: format!("{ns}."), ..RpcSettings::development() };
    let mongo = MongoSettings { database_prefix: format!("{ns}_"), ..MongoSettings::default() };
    (rpc, mongo)
}

/// Starts the group service on a fresh port, and the user service it asks whether users exist
/// (reached over RabbitMQ); returns them and the settings pointing at them.
async fn start(rpc: &RpcSettings, mongo: &MongoSettings) -> (Running, RpcSettings) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let user_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut rpc = rpc.clone();
    rpc.group.grpc_addr = listener.local_addr().unwrap().to_string();
    rpc.user.grpc_addr = user_listener.local_addr().unwrap().to_string();
    let kafka = KafkaSettings { topic_prefix: rpc.queue_prefix.clone(), partitions: 1, ..KafkaSettings::default() };
    let redis = RedisSettings { key_prefix: rpc.queue_prefix.clone(), ..RedisSettings::default() };
    let mut running = Running::new();
    let (r, m, stop) = (rpc.clone(), mongo.clone(), running.shutdown());
    running.spawn(async move {
        let deps = hubbub_user::Deps { user: &Default::default(), rpc: &r, mongo: &m, redis: &redis };
        hubbub_user::run(deps, user_listener, stop).await
    });
    let (r, m, stop) = (rpc.clone(), mongo.clone(), running.shutdown());
    running.spawn(async move {
        let deps = hubbub_group::Deps { group: &GroupSettings::default(), rpc: &r, mongo: &m, kafka: &kafka };
        hubbub_group::run(deps, listener, stop).await
    });
    (running, rpc)
}

/// Makes users exist in the user service.
async fn create_users(rpc: &RpcSettings, names: &[&str]) {
    let mut users = UserServiceClient::new(Connector::new(rpc.clone()).channel(&rpc.user).await.unwrap());
    hubbub_testkit::create_users(&mut users, names).await;
}

async fn client(rpc: &RpcSettings, transport: Transport) -> GroupServiceClient<Channel> {
    let endpoint = Endpoint { transport, grpc_addr: rpc.group.grpc_addr.clone() };
    GroupServiceClient::new(Connector::new(rpc.clone()).channel(&endpoint).await.unwrap())
}

fn as_user(user: &str) -> Ctx {
    Ctx::new(format!("req-{user}")).as_user(user)
}

#[tokio::test]
async fn the_same_calls_give_the_same_answers_over_grpc_and_rabbitmq() {
    let (rpc, mongo) = isolated();
    let (svc, rpc) = start(&rpc, &mongo).await;
    create_users(&rpc, &["bob"]).await;
    let grpc = client(&rpc, Transport::Grpc).await;
    let amqp = client(&rpc, Transport::Amqp).await;

    // Created over RabbitMQ, with the caller's identity in metadata: the caller owns it.
    let req = CreateGroupRequest {
        name: "both ways".into(),
        description: Some("d".into()),
        visibility: Visibility::Private as i32,
        member_ids: vec!["bob".into()],
        kind: 0,
    };
    let created = amqp.clone().create_group(as_user("alice").request(req)).await.unwrap().into_inner();
    assert_eq!(created.owner_id, "alice");
    assert_eq!(created.member_count, 2);

    for user in ["alice", "bob"] {
        let get = || GetGroupRequest { id: created.id.clone() };
        let over_grpc = grpc.clone().get_group(as_user(user).request(get())).await.unwrap().into_inner();
        let over_amqp = amqp.clone().get_group(as_user(user).request(get())).await.unwrap().into_inner();
        assert_eq!(over_grpc, over_amqp, "as {user}");
    }
    let membership = |c: GroupServiceClient<Channel>| {
        let id = created.id.clone();
        async move {
            c.clone()
                .get_membership(as_user("x").request(GetMembershipRequest { group_id: id, user_id: "bob".into() }))
                .await
                .unwrap()
                .into_inner()
        }
    };
    let (over_grpc, over_amqp) = (membership(grpc.clone()).await, membership(amqp.clone()).await);
    assert!(over_grpc.member, "bob is a member");
    assert_eq!(over_grpc, over_amqp);
    svc.stop().await;
}

#[tokio::test]
async fn an_error_status_crosses_both_transports_intact() {
    let (rpc, mongo) = isolated();
    let (svc, rpc) = start(&rpc, &mongo).await;
    for transport in [Transport::Grpc, Transport::Amqp] {
        let c = client(&rpc, transport).await;
        let missing =
            c.clone().get_group(as_user("alice").request(GetGroupRequest { id: "nope".into() })).await.unwrap_err();
        assert_eq!(missing.code(), Code::NotFound, "{transport:?}");
        assert_eq!(missing.message(), "group not found", "{transport:?}");
        assert_eq!(api_code(&missing), Some("GROUP_NOT_FOUND"), "{transport:?}");

        let invalid = CreateGroupRequest { name: " ".into(), ..Default::default() };
        let invalid = c.clone().create_group(as_user("alice").request(invalid)).await.unwrap_err();
        assert_eq!(invalid.code(), Code::InvalidArgument, "{transport:?}");
        assert_eq!(api_code(&invalid), Some("VALIDATION_ERROR"), "{transport:?}");

        // No caller identity: the service refuses, whichever way the call came.
        let anonymous = Ctx::new("r").request(CreateGroupRequest { name: "x".into(), ..Default::default() });
        let anonymous = c.clone().create_group(anonymous).await.unwrap_err();
        assert_eq!(anonymous.code(), Code::Unauthenticated, "{transport:?}");
    }
    svc.stop().await;
}

#[tokio::test]
async fn a_deadline_passes_as_deadline_exceeded_when_no_replica_consumes() {
    // Nothing serves these queues.
    let (rpc, _) = isolated();
    let c = client(&rpc, Transport::Amqp).await;
    let started = Instant::now();
    let req = as_user("alice").with_timeout(Duration::from_millis(300)).request(GetGroupRequest { id: "g".into() });
    let err = c.clone().get_group(req).await.unwrap_err();
    assert_eq!(err.code(), Code::DeadlineExceeded);
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(300), "gave up early: {waited:?}");
    assert!(waited < Duration::from_secs(5), "did not give up at the deadline: {waited:?}");
}

#[tokio::test]
async fn a_request_waits_in_the_queue_while_the_service_restarts() {
    let (rpc, mongo) = isolated();
    let (svc, rpc) = start(&rpc, &mongo).await;
    let c = client(&rpc, Transport::Amqp).await;
    let created = c
        .clone()
        .create_group(as_user("alice").request(CreateGroupRequest { name: "survivor".into(), ..Default::default() }))
        .await
        .unwrap()
        .into_inner();
    svc.stop().await;

    // The service is down: the request is published and waits.
    let req =
        as_user("alice").with_timeout(Duration::from_secs(30)).request(GetGroupRequest { id: created.id.clone() });
    let pending = tokio::spawn({
        let c = c.clone();
        async move { c.clone().get_group(req).await }
    });
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(!pending.is_finished(), "answered while no replica was running");

    let (svc, _) = start(&rpc, &mongo).await;
    let answered = tokio::time::timeout(Duration::from_secs(20), pending).await.unwrap().unwrap().unwrap();
    assert_eq!(answered.into_inner().id, created.id);
    svc.stop().await;
}

/// Has RabbitMQ close the RPC client connection of this test's namespace.
fn close_client_connection(prefix: &str) {
    let out = std::process::Command::new("rabbitmqctl")
        .args(["list_connections", "pid", "client_properties", "--no-table-headers", "-q"])
        .output()
        .expect("rabbitmqctl (installed with rabbitmq-server)");
    let listing = String::from_utf8_lossy(&out.stdout);
    let pid = listing
        .lines()
        .find(|l| l.contains(&format!("hubbub-rpc-client {prefix}")))
        .and_then(|l| l.split('\t').next())
        .expect("this test's client connection")
        .to_owned();
    let closed = std::process::Command::new("rabbitmqctl").args(["close_connection", &pid, "test"]).status().unwrap();
    assert!(closed.success());
}

#[tokio::test]
async fn a_caller_connects_again_after_the_broker_drops_its_connection() {
    let (rpc, mongo) = isolated();
    let (svc, rpc) = start(&rpc, &mongo).await;
    let c = client(&rpc, Transport::Amqp).await;
    let get = || {
        let mut c = c.clone();
        async move { c.get_group(as_user("alice").request(GetGroupRequest { id: "none".into() })).await }
    };
    assert_eq!(get().await.unwrap_err().code(), Code::NotFound, "the service answers");
    close_client_connection(&rpc.queue_prefix);
    // Calls caught by the break fail as UNAVAILABLE; then the client connects again by itself.
    let started = Instant::now();
    loop {
        match get().await {
            Err(e) if e.code() == Code::NotFound => break,
            Err(e) if e.code() == Code::Unavailable && started.elapsed() < Duration::from_secs(10) => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            other => panic!("no answer after the reconnect: {other:?}"),
        }
    }
    svc.stop().await;
}

#[tokio::test]
async fn a_peer_without_the_internal_secret_cannot_call_or_act_as_anyone_on_either_transport() {
    let (rpc, mongo) = isolated();
    let (svc, rpc) = start(&rpc, &mongo).await;
    create_users(&rpc, &["bob"]).await;
    let create = || CreateGroupRequest { name: "forged".into(), ..Default::default() };
    // Someone who reaches gRPC and RabbitMQ, and signs with a secret of their own.
    let stranger = RpcSettings {
        internal_secret: hubbub_config::Secret::new("thirty-two bytes, but not the secret"),
        ..rpc.clone()
    };
    let (mut refused, mut answered) = (0, 0);
    for transport in [Transport::Grpc, Transport::Amqp] {
        let endpoint = Endpoint { transport, grpc_addr: rpc.group.grpc_addr.clone() };
        let mut forged = GroupServiceClient::new(Connector::new(stranger.clone()).channel(&endpoint).await.unwrap());
        let status = forged.create_group(as_user("bob").request(create())).await.unwrap_err();
        assert_eq!(status.code(), Code::Unauthenticated, "{transport:?}: {status:?}");
        refused += 1;
        // The same call, signed with the services' secret, is answered.
        client(&rpc, transport).await.create_group(as_user("bob").request(create())).await.unwrap();
        answered += 1;
    }
    // A plain gRPC client naming a caller, with no credential at all.
    let plain = tonic::transport::Endpoint::from_shared(format!("http://{}", rpc.group.grpc_addr)).unwrap();
    let mut plain = GroupServiceClient::new(plain.connect().await.unwrap());
    let status = plain.create_group(as_user("bob").request(create())).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    refused += 1;
    println!(
        "refused {refused} of 3 unsigned or foreign-signed calls (gRPC, RabbitMQ, no credential); answered {answered} of 2 signed ones"
    );
    svc.stop().await;
}
