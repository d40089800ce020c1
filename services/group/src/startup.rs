//! Building the group service from settings and running it until shutdown.

use anyhow::Context as _;
use hubbub_mongo::MongoSettings;
use hubbub_proto::group::group_service_server::GroupServiceServer;
use hubbub_rpc::RpcSettings;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::GroupSettings;
use crate::rpc::Groups;
use crate::store::MongoStore;

/// Serves the group service on `listener` (gRPC) and its queue (RabbitMQ) until `shutdown`.
pub async fn run(
    settings: &GroupSettings,
    rpc: &RpcSettings,
    mongo: &MongoSettings,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let db = mongo.database("group").await.context("mongodb")?;
    let store = MongoStore::new(db.client().clone(), &db).await.context("preparing group collections")?;
    tracing::info!(addr = %listener.local_addr()?, "group service serving");
    hubbub_rpc::Server::new()
        .add_service(GroupServiceServer::new(Groups { settings: settings.clone(), store }))
        .run(listener, rpc, shutdown)
        .await
        .context("group service")
}
