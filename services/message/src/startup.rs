//! Building the message service from settings and running it until shutdown.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use hubbub_events::{AUTH_EVENTS, KafkaSettings, MESSAGE_COMMANDS, MESSAGE_DEAD, MESSAGE_EVENTS, Start};
use hubbub_mongo::MongoSettings;
use hubbub_proto::group::group_service_client::GroupServiceClient;
use hubbub_proto::message::message_service_server::MessageServiceServer;
use hubbub_rpc::{Connector, RpcSettings};
use hubbub_storage::{Storage, StorageSettings};
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::MessageSettings;
use crate::attachments::Janitor;
use crate::pipeline::Pipeline;
use crate::requests::Requests;
use crate::rpc::History;
use crate::store::MongoStore;

/// What the message service needs from the outside.
pub struct Deps<'a> {
    /// `[message]`.
    pub message: &'a MessageSettings,
    /// `[rpc]`.
    pub rpc: &'a RpcSettings,
    /// `[mongo]`.
    pub mongo: &'a MongoSettings,
    /// `[kafka]`.
    pub kafka: &'a KafkaSettings,
    /// `[storage]`: where attachments go.
    pub storage: &'a StorageSettings,
}

/// Runs the write pipeline and serves history until `shutdown`.
pub async fn run(deps: Deps<'_>, listener: TcpListener, shutdown: CancellationToken) -> anyhow::Result<()> {
    // Counters exist from the start (at zero), so a rate over them is defined before the first event.
    metrics::counter!("messages_stored_total").increment(0);
    metrics::counter!("commands_set_aside_total").increment(0);
    let db = deps.mongo.database("message").await.context("mongodb")?;
    let store = MongoStore::new(&db).await.context("preparing the messages collection")?;
    deps.kafka
        .ensure_topics(&[MESSAGE_COMMANDS, MESSAGE_EVENTS, MESSAGE_DEAD])
        .await
        .context("creating kafka topics")?;
    let producer = deps.kafka.producer().context("kafka producer")?;
    let storage = Storage::new(deps.storage.clone());
    if let Err(e) = storage.ensure_bucket().await {
        // Messaging goes on without storage; attachments wait for it.
        tracing::warn!(error = %e, "object storage is not answering; attachments are refused until it does");
    }
    // Every replica follows account deletions from the end (no consumer group: a second group
    // per replica made tansu's rebalances, when a replica joins or leaves, lose partitions of
    // the pipeline's group). Removing a prefix twice is harmless.
    let accounts = deps.kafka.tail_consumer(&[AUTH_EVENTS]).context("kafka account event consumer")?;
    let consumer = deps
        .kafka
        .group_consumer(&deps.message.consumer_group, &[MESSAGE_COMMANDS], Start::Earliest)
        .context("kafka consumer")?;
    let connector = Connector::new(deps.rpc.clone());
    let groups = GroupServiceClient::new(connector.channel(&deps.rpc.group).await.context("group service channel")?);
    let requests = Arc::new(Requests::new(
        producer.clone(),
        deps.kafka.topic(MESSAGE_COMMANDS),
        Duration::from_millis(deps.message.request_timeout_ms),
    ));
    let followed = deps.kafka.tail_consumer(&[MESSAGE_EVENTS]).context("kafka event consumer")?;
    let follower = tokio::spawn(crate::requests::follow(requests.clone(), followed, shutdown.clone()));
    let (previews_wanted, sweep_wanted) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
    let janitor = Arc::new(Janitor {
        store: store.clone(),
        storage: storage.clone(),
        settings: deps.message.clone(),
        producer: producer.clone(),
        commands_topic: deps.kafka.topic(MESSAGE_COMMANDS),
        previews_wanted: previews_wanted.clone(),
        sweep_wanted: sweep_wanted.clone(),
    });
    let background = [
        tokio::spawn(janitor.clone().previews(shutdown.clone())),
        tokio::spawn(janitor.clone().sweep(shutdown.clone())),
        tokio::spawn(janitor.accounts(accounts, shutdown.clone())),
    ];
    let pipeline = Pipeline {
        settings: deps.message.clone(),
        store: store.clone(),
        producer,
        events_topic: deps.kafka.topic(MESSAGE_EVENTS),
        dead_topic: deps.kafka.topic(MESSAGE_DEAD),
        groups: groups.clone(),
        storage: storage.clone(),
        previews_wanted,
        sweep_wanted,
    };
    let pipeline = tokio::spawn(pipeline.run(consumer, shutdown.clone()));

    let history = History { settings: deps.message.clone(), store, groups, requests, storage };
    tracing::info!(addr = %listener.local_addr()?, "message service serving");
    let served = hubbub_rpc::Server::new()
        .add_service(MessageServiceServer::new(history))
        .run(listener, deps.rpc, shutdown.clone())
        .await
        .context("message service");
    shutdown.cancel();
    pipeline.await.context("message pipeline task")?;
    follower.await.context("message event follower task")?;
    for task in background {
        task.await.context("attachment task")?;
    }
    served
}
