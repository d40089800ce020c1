//! Building a chat node from settings and serving it until shutdown.

use std::time::Duration;

use anyhow::Context as _;
use hubbub_events::{AUTH_EVENTS, GROUP_EVENTS, KafkaSettings, MESSAGE_COMMANDS, MESSAGE_EVENTS};
use hubbub_proto::group::group_service_client::GroupServiceClient;
use hubbub_proto::message::message_service_client::MessageServiceClient;
use hubbub_proto::user::user_service_client::UserServiceClient;
use hubbub_redis::{Redis, RedisSettings};
use hubbub_rpc::{Connector, RpcSettings};
use hubbub_token::{TokenSettings, Tokens};
use socketioxide::SocketIo;
use socketioxide::handler::ConnectHandler;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::ChatSettings;
use crate::state::{Chat, Parts};

/// What a chat node needs from the outside.
pub struct Deps<'a> {
    /// `[chat]`.
    pub chat: &'a ChatSettings,
    /// `[rpc]`.
    pub rpc: &'a RpcSettings,
    /// `[kafka]`.
    pub kafka: &'a KafkaSettings,
    /// `[token]`.
    pub token: &'a TokenSettings,
    /// `[redis]`.
    pub redis: &'a RedisSettings,
}

/// Serves Socket.IO (and `/health`) on `listener` until `shutdown`.
pub async fn run(deps: Deps<'_>, listener: TcpListener, shutdown: CancellationToken) -> anyhow::Result<()> {
    // Counters exist from the start (at zero), so a rate over them is defined before the first event.
    metrics::counter!("rate_limit_refusals_total", "where" => "socket").increment(0);
    metrics::counter!("chat_messages_sent_total", "outcome" => "acked").increment(0);
    metrics::counter!("chat_messages_fanned_out_total").increment(0);
    metrics::counter!("chat_repeats_dropped_total").increment(0);
    deps.kafka
        .ensure_topics(&[MESSAGE_COMMANDS, MESSAGE_EVENTS, GROUP_EVENTS, AUTH_EVENTS])
        .await
        .context("creating kafka topics")?;
    // Start reading events before taking connections, so nothing durable is missed.
    let consumer =
        deps.kafka.tail_consumer(&[MESSAGE_EVENTS, GROUP_EVENTS, AUTH_EVENTS]).context("kafka event consumer")?;
    let topics = crate::consume::Topics {
        messages: deps.kafka.topic(MESSAGE_EVENTS),
        groups: deps.kafka.topic(GROUP_EVENTS),
        auth: deps.kafka.topic(AUTH_EVENTS),
    };
    let producer = deps.kafka.producer().context("kafka producer")?;
    let connector = Connector::new(deps.rpc.clone());
    let groups = GroupServiceClient::new(connector.channel(&deps.rpc.group).await.context("group service channel")?);
    let users = UserServiceClient::new(connector.channel(&deps.rpc.user).await.context("user service channel")?);
    let messages =
        MessageServiceClient::new(connector.channel(&deps.rpc.message).await.context("message service channel")?);
    let chat = Chat::new(Parts {
        settings: deps.chat.clone(),
        tokens: Tokens::new(deps.token.clone()).context("token settings")?,
        groups,
        messages,
        users,
        redis: Redis::connect(deps.redis).await.context("redis")?,
        producer: producer.clone(),
        commands_topic: deps.kafka.topic(MESSAGE_COMMANDS),
    });

    let (layer, io) = SocketIo::builder()
        .max_payload(deps.chat.max_payload_bytes)
        .ws_read_buffer_size(deps.chat.ws_read_buffer_bytes)
        .max_buffer_size(deps.chat.max_buffer_packets)
        .ping_interval(Duration::from_millis(deps.chat.ping_interval_ms.max(1)))
        .ping_timeout(Duration::from_millis(deps.chat.ping_timeout_ms.max(1)))
        .with_state(chat.clone())
        .build_layer();
    io.ns("/", crate::session::on_connect.with(crate::session::authenticate));
    let presence = tokio::spawn(crate::presence::run(io.clone(), chat.clone(), shutdown.clone()));
    let typing = tokio::spawn(crate::typing::run(io.clone(), chat.clone(), shutdown.clone()));
    let presence_relay = tokio::spawn(crate::presence::relay(io.clone(), chat.clone(), shutdown.clone()));
    let receipts = tokio::spawn(crate::receipts::run(chat.clone(), shutdown.clone()));
    let events = tokio::spawn(crate::consume::run(io.clone(), chat, consumer, topics, shutdown.clone()));
    // Open websockets would hold a graceful HTTP shutdown forever: close the sockets first.
    let closer = {
        let (io, shutdown) = (io.clone(), shutdown.clone());
        tokio::spawn(async move {
            shutdown.cancelled().await;
            io.close().await;
        })
    };

    let app = axum::Router::new()
        .route("/health", axum::routing::get(|| async { axum::Json(serde_json::json!({ "status": "ok" })) }))
        .layer(layer)
        .layer(axum::middleware::map_request(compact_head));
    tracing::info!(addr = %listener.local_addr()?, node = %deps.chat.node_id, "chat node serving");
    let served = axum::serve(listener, app).with_graceful_shutdown(shutdown.clone().cancelled_owned()).await;
    shutdown.cancel();
    events.await.context("event task")?;
    closer.await.context("socket closer task")?;
    presence.await.context("presence task")?;
    typing.await.context("typing task")?;
    presence_relay.await.context("presence relay task")?;
    receipts.await.context("receipt task")?;
    producer.flush(Duration::from_secs(5));
    served.context("chat node")
}

/// socketioxide keeps every socket's request head for as long as the socket lives (handlers may
/// read it). hyper parses header values and the URI as slices of its read buffer, so each kept
/// head would hold that whole buffer (16 KiB) alive: half of an idle socket's memory. Copies of
/// them hold only their own bytes, and the buffer goes once the connection is upgraded. Only the
/// headers the transports read are copied (a browser's cookies and agent strings would otherwise
/// live as long as its socket): the websocket handshake's, polling's content type, and the
/// proxy's address and request id for logs.
async fn compact_head(req: axum::extract::Request) -> axum::extract::Request {
    use axum::http::header;
    const KEPT: [header::HeaderName; 9] = [
        header::HOST,
        header::UPGRADE,
        header::CONNECTION,
        header::SEC_WEBSOCKET_KEY,
        header::SEC_WEBSOCKET_VERSION,
        header::SEC_WEBSOCKET_EXTENSIONS,
        header::CONTENT_TYPE,
        header::HeaderName::from_static("x-forwarded-for"),
        header::HeaderName::from_static("x-request-id"),
    ];
    let (mut parts, body) = req.into_parts();
    let mut headers = axum::http::HeaderMap::new();
    for name in &KEPT {
        for value in parts.headers.get_all(name) {
            if let Ok(copy) = axum::http::HeaderValue::from_bytes(value.as_bytes()) {
                headers.append(name.clone(), copy);
            }
        }
    }
    parts.headers = headers;
    if let Ok(uri) = axum::http::Uri::try_from(parts.uri.to_string()) {
        parts.uri = uri;
    }
    axum::extract::Request::from_parts(parts, body)
}
