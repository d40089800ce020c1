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
    let store = MongoStore::new(&db).await.context("preparing the auth collections")?;
    let connector = Connector::new(deps.rpc.clone());
    let users = UserServiceClient::new(connector.channel(&deps.rpc.user).await.context("user service channel")?);
    deps.kafka.ensure_topics(&[AUTH_EVENTS]).await.context("creating kafka topics")?;
    let producer = deps.kafka.producer().context("kafka producer")?;
    let auth = Auth {
        producer: producer.clone(),
        events_topic: deps.kafka.topic(AUTH_EVENTS),
        settings: deps.auth.clone(),
        store,
        hasher: Hasher::new(deps.auth).context("argon2 settings")?,
        tokens: Tokens::new(deps.token.clone()).context("token settings")?,
        users,
        redis: Redis::connect(deps.redis).await.context("redis")?,
    };
    tracing::info!(addr = %listener.local_addr()?, "auth service serving");
    let served = hubbub_rpc::Server::new()
        .add_service(AuthServiceServer::new(auth))
        .run(listener, deps.rpc, shutdown)
        .await
        .context("auth service");
    producer.flush(std::time::Duration::from_secs(5));
    served
}
