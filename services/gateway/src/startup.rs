//! Building the gateway from settings and serving it until shutdown.

use anyhow::Context as _;
use hubbub_proto::auth::auth_service_client::AuthServiceClient;
use hubbub_proto::group::group_service_client::GroupServiceClient;
use hubbub_proto::message::message_service_client::MessageServiceClient;
use hubbub_proto::user::user_service_client::UserServiceClient;
use hubbub_redis::{Redis, RedisSettings};
use hubbub_rpc::{Channel, Connector, RpcSettings};
use hubbub_storage::{Storage, StorageSettings};
use hubbub_token::{TokenSettings, Tokens};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::GatewaySettings;

/// Shared by every handler.
#[derive(Clone)]
pub struct AppState {
    pub(crate) settings: GatewaySettings,
    pub(crate) storage: Storage,
    pub(crate) tokens: Tokens,
    pub(crate) redis: Redis,
    pub(crate) auth: AuthServiceClient<Channel>,
    pub(crate) users: UserServiceClient<Channel>,
    pub(crate) groups: GroupServiceClient<Channel>,
    pub(crate) messages: MessageServiceClient<Channel>,
}

/// What the gateway needs from the outside.
pub struct Deps<'a> {
    /// `[gateway]`.
    pub gateway: &'a GatewaySettings,
    /// `[rpc]`.
    pub rpc: &'a RpcSettings,
    /// `[token]`.
    pub token: &'a TokenSettings,
    /// `[redis]`.
    pub redis: &'a RedisSettings,
    /// `[storage]`.
    pub storage: &'a StorageSettings,
}

/// Serves the HTTP API on `listener` until `shutdown`.
pub async fn run(deps: Deps<'_>, listener: TcpListener, shutdown: CancellationToken) -> anyhow::Result<()> {
    // Counters exist from the start (at zero), so a rate over them is defined before the first
    // refusal.
    metrics::counter!("rate_limit_refusals_total", "where" => "rest").increment(0);
    let connector = Connector::new(deps.rpc.clone());
    let rpc = deps.rpc;
    let storage = Storage::new(deps.storage.clone());
    storage.ensure_bucket().await.context("object storage bucket")?;
    let state = AppState {
        settings: deps.gateway.clone(),
        storage,
        tokens: Tokens::new(deps.token.clone()).context("token settings")?,
        redis: Redis::connect(deps.redis).await.context("redis")?,
        auth: AuthServiceClient::new(connector.channel(&rpc.auth).await.context("auth service channel")?),
        users: UserServiceClient::new(connector.channel(&rpc.user).await.context("user service channel")?),
        groups: GroupServiceClient::new(connector.channel(&rpc.group).await.context("group service channel")?),
        messages: MessageServiceClient::new(connector.channel(&rpc.message).await.context("message service channel")?),
    };
    let timeout = std::time::Duration::from_millis(deps.gateway.request_timeout_ms.max(1));
    let app = crate::routes::router(state, deps.gateway.body_limit_bytes, timeout);
    tracing::info!(addr = %listener.local_addr()?, "gateway serving");
    axum::serve(listener, app.into_make_service_with_connect_info::<std::net::SocketAddr>())
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
        .context("gateway")
}
