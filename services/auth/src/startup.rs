//! Building the auth service from settings and running it until shutdown.

use anyhow::Context as _;
use hubbub_events::{AUTH_EVENTS, KafkaSettings};
use hubbub_mongo::MongoSettings;
use hubbub_proto::auth::auth_service_server::AuthServiceServer;
use hubbub_proto::user::user_service_client::UserServiceClient;
use hubbub_redis::{Redis, RedisSettings};
use hubbub_rpc::{Connector, RpcSettings};
use hubbub_token::{TokenSettings, Tokens};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::AuthSettings;
use crate::domain::Hasher;
use crate::rpc::Auth;
use crate::store::MongoStore;

/// What the auth service needs from the outside.
pub struct Deps<'a> {
    /// `[auth]`.
    pub auth: &'a AuthSettings,
    /// `[rpc]`: the broker, and how to reach the user service.
    pub rpc: &'a RpcSettings,
    /// `[mongo]`.
    pub mongo: &'a MongoSettings,
    /// `[redis]`.
    pub redis: &'a RedisSettings,
    /// `[token]`.
    pub token: &'a TokenSettings,
    /// `[kafka]`: where session and account events go.
    pub kafka: &'a KafkaSettings,
}

/// Serves the auth service on `listener` (gRPC) and its queue (RabbitMQ) until `shutdown`.
pub async fn run(deps: Deps<'_>, listener: TcpListener, shutdown: CancellationToken) -> anyhow::Result<()> {
    let db = deps.mongo.database("auth").await.context("mongodb")?;
    let outbox = hubbub_outbox::Outbox::new(&db, deps.auth.outbox.clone()).await.context("preparing the outbox")?;
    let store = MongoStore::new(&db, outbox.clone()).await.context("preparing the auth collections")?;
    let connector = Connector::new(deps.rpc.clone());
    let users = UserServiceClient::new(connector.channel(&deps.rpc.user).await.context("user service channel")?);
    deps.kafka.ensure_topics(&[AUTH_EVENTS]).await.context("creating kafka topics")?;
    let producer = deps.kafka.producer().context("kafka producer")?;
    let relay = tokio::spawn(outbox.relay(producer.clone(), shutdown.clone()));
    let auth = Auth {
        events_topic: deps.kafka.topic(AUTH_EVENTS),
        settings: deps.auth.clone(),
        store,
        hasher: Hasher::new(deps.auth).context("argon2 settings")?,
        tokens: Tokens::new(deps.token.clone()).context("token settings")?,
        users,
        redis: Redis::connect(deps.redis).await.context("redis")?,
    };
    let auth = std::sync::Arc::new(auth);
    let bootstrap = tokio::spawn(bootstrap_admin(auth.clone(), shutdown.clone()));
    tracing::info!(addr = %listener.local_addr()?, "auth service serving");
    let served = hubbub_rpc::Server::new()
        .add_service(AuthServiceServer::from_arc(auth))
        .run(listener, deps.rpc, shutdown.clone())
        .await
        .context("auth service");
    shutdown.cancel();
    relay.await.context("outbox relay task")?;
    bootstrap.await.context("bootstrap admin task")?;
    producer.flush(std::time::Duration::from_secs(5));
    served
}

/// Makes the first administrator's account, retrying while its dependencies (the user
/// service, say, still starting) are not there yet.
async fn bootstrap_admin(auth: std::sync::Arc<Auth<MongoStore>>, shutdown: CancellationToken) {
    let mut backoff = hubbub_events::Backoff::default();
    loop {
        match auth.ensure_bootstrap_admin().await {
            Ok(()) => return,
            Err(crate::Error::Invalid(why)) => {
                tracing::error!(%why, "auth.bootstrap_admin or its password breaks the account rules: no first administrator");
                return;
            }
            Err(e) => tracing::warn!(error = %e, "making the first administrator; retrying"),
        }
        if !backoff.wait(&shutdown).await {
            return;
        }
    }
}
