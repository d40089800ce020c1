//! Building the user service from settings and running it until shutdown.

use anyhow::Context as _;
use hubbub_mongo::MongoSettings;
use hubbub_proto::user::user_service_server::UserServiceServer;
use hubbub_rpc::RpcSettings;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::rpc::Users;
use crate::store::MongoStore;

/// Serves the user service on `listener` (gRPC) and its queue (RabbitMQ) until `shutdown`.
pub async fn run(
    rpc: &RpcSettings,
    mongo: &MongoSettings,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let db = mongo.database("user").await.context("mongodb")?;
    let store = MongoStore::new(&db)
        .await
        .context("preparing the users collection")?;
    tracing::info!(addr = %listener.local_addr()?, "user service serving");
    hubbub_rpc::Server::new()
        .add_service(UserServiceServer::new(Users { store }))
        .run(listener, rpc, shutdown)
        .await
        .context("user service")
}
