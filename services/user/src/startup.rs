//! Building the user service from settings and running it until shutdown.

use anyhow::Context as _;
use hubbub_mongo::MongoSettings;
use hubbub_proto::user::user_service_server::UserServiceServer;
use hubbub_redis::{Redis, RedisSettings};
use hubbub_rpc::RpcSettings;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::UserSettings;
use crate::rpc::Users;
use crate::store::MongoStore;

/// What the user service needs from the outside.
pub struct Deps<'a> {
    /// `[user]`.
    pub user: &'a UserSettings,
    /// `[rpc]`.
    pub rpc: &'a RpcSettings,
    /// `[mongo]`.
    pub mongo: &'a MongoSettings,
    /// `[redis]`.
    pub redis: &'a RedisSettings,
}

/// Serves the user service on `listener` (gRPC) and its queue (RabbitMQ) until `shutdown`.
pub async fn run(deps: Deps<'_>, listener: TcpListener, shutdown: CancellationToken) -> anyhow::Result<()> {
    let db = deps.mongo.database("user").await.context("mongodb")?;
    let store = MongoStore::new(&db).await.context("preparing the users collection")?;
    let redis = Redis::connect(deps.redis).await.context("redis")?;
    tracing::info!(addr = %listener.local_addr()?, "user service serving");
    hubbub_rpc::Server::new()
        .add_service(UserServiceServer::new(Users { settings: deps.user.clone(), store, redis }))
        .run(listener, deps.rpc, shutdown)
        .await
        .context("user service")
}
