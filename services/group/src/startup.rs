//! Building the group service from settings and running it until shutdown.

use anyhow::Context as _;
use hubbub_events::{AUTH_EVENTS, GROUP_EVENTS, KafkaSettings, MESSAGE_COMMANDS, MESSAGE_EVENTS, Start};
use hubbub_mongo::MongoSettings;
use hubbub_proto::group::group_service_server::GroupServiceServer;
use hubbub_proto::user::user_service_client::UserServiceClient;
use hubbub_rpc::{Connector, RpcSettings};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::GroupSettings;
use crate::rpc::Groups;
use crate::store::MongoStore;

/// What the group service needs from the outside.
pub struct Deps<'a> {
    /// `[group]`.
    pub group: &'a GroupSettings,
    /// `[rpc]`: the broker, and how to reach the user service.
    pub rpc: &'a RpcSettings,
    /// `[mongo]`.
    pub mongo: &'a MongoSettings,
    /// `[kafka]`: where membership events go.
    pub kafka: &'a KafkaSettings,
}

/// Serves the group service on `listener` (gRPC) and its queue (RabbitMQ) until `shutdown`.
pub async fn run(deps: Deps<'_>, listener: TcpListener, shutdown: CancellationToken) -> anyhow::Result<()> {
    let db = deps.mongo.database("group").await.context("mongodb")?;
    let outbox = hubbub_outbox::Outbox::new(&db, deps.group.outbox.clone()).await.context("preparing the outbox")?;
    let store =
        MongoStore::new(db.client().clone(), &db, outbox.clone()).await.context("preparing group collections")?;
    deps.kafka
        .ensure_topics(&[GROUP_EVENTS, AUTH_EVENTS, MESSAGE_EVENTS, MESSAGE_COMMANDS])
        .await
        .context("creating kafka topics")?;
    let accounts = deps.kafka.group_consumer("group", &[AUTH_EVENTS], Start::Earliest).context("kafka consumer")?;
    let messages =
        deps.kafka.group_consumer("group-activity", &[MESSAGE_EVENTS], Start::Earliest).context("kafka consumer")?;
    let activity = tokio::spawn(crate::activity::run(
        store.clone(),
        messages,
        std::time::Duration::from_millis(deps.group.activity_window_ms),
        shutdown.clone(),
    ));
    let producer = deps.kafka.producer().context("kafka producer")?;
    let relay = tokio::spawn(outbox.relay(producer.clone(), shutdown.clone()));
    let connector = Connector::new(deps.rpc.clone());
    let users = UserServiceClient::new(connector.channel(&deps.rpc.user).await.context("user service channel")?);
    let groups = std::sync::Arc::new(Groups {
        settings: deps.group.clone(),
        store,
        users,
        producer: producer.clone(),
        events_topic: deps.kafka.topic(GROUP_EVENTS),
        commands_topic: deps.kafka.topic(MESSAGE_COMMANDS),
    });
    let accounts = tokio::spawn(crate::accounts::run(groups.clone(), accounts, shutdown.clone()));
    tracing::info!(addr = %listener.local_addr()?, "group service serving");
    let served = hubbub_rpc::Server::new()
        .add_service(GroupServiceServer::from_arc(groups))
        .run(listener, deps.rpc, shutdown.clone())
        .await
        .context("group service");
    shutdown.cancel();
    accounts.await.context("account event task")?;
    activity.await.context("activity task")?;
    relay.await.context("outbox relay task")?;
    producer.flush(std::time::Duration::from_secs(5));
    served
}
