//! The calling side: a channel that publishes gRPC requests to service queues and matches
//! replies by correlation id on one exclusive reply queue per process. When the broker
//! connection breaks (a RabbitMQ restart), calls in flight fail with UNAVAILABLE and the next
//! call connects again.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use http_body::Frame;
use http_body_util::{BodyExt, StreamBody};
use lapin::options::{BasicConsumeOptions, BasicPublishOptions, ConfirmSelectOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{BasicProperties, Connection, ConnectionProperties};
use tokio::sync::oneshot;
use tonic::Status;
use tonic::body::Body;

use super::{
    DEADLINE, HEADER_PREFIX, PATH, TRAILER_PREFIX, declare_queue, now_ms, parse_grpc_timeout, put_headers, queue_name,
    take_headers,
};
use crate::RpcSettings;

struct Reply {
    headers: FieldTable,
    body: Vec<u8>,
}

/// One broker connection with its publishing channel and reply queue.
struct Inner {
    connection: Connection,
    channel: lapin::Channel,
    reply_to: ShortString,
    pending: Mutex<HashMap<String, oneshot::Sender<Reply>>>,
    declared: tokio::sync::Mutex<HashSet<String>>,
    prefix: String,
    default_timeout: Duration,
    /// Set when the reply consumer ends or a publish fails: this connection is done.
    broken: AtomicBool,
}

impl Inner {
    fn alive(&self) -> bool {
        !self.broken.load(Ordering::Relaxed) && self.connection.status().connected()
    }

    /// Connects, opens a confirmed publishing channel and starts consuming replies.
    async fn connect(settings: &RpcSettings) -> lapin::Result<Arc<Self>> {
        // Named with its namespace, so an operator (or a test) can tell connections apart.
        let name = format!("hubbub-rpc-client {}", settings.queue_prefix);
        let properties = ConnectionProperties::default().with_connection_name(name.into());
        let connection = Connection::connect(&settings.amqp_url, properties).await?;
        let channel = connection.create_channel().await?;
        // Confirms make a publish return only once the broker holds the request.
        channel.confirm_select(ConfirmSelectOptions::default()).await?;
        let queue = channel
            .queue_declare(
                "".into(),
                QueueDeclareOptions { exclusive: true, auto_delete: true, ..QueueDeclareOptions::default() },
                FieldTable::default(),
            )
            .await?;
        let reply_to = queue.name().clone();
        let consumer = channel
            .basic_consume(
                reply_to.clone(),
                "".into(),
                BasicConsumeOptions { no_ack: true, exclusive: true, ..BasicConsumeOptions::default() },
                FieldTable::default(),
            )
            .await?;
        let inner = Arc::new(Inner {
            connection,
            channel,
            reply_to,
            pending: Mutex::default(),
            declared: Default::default(),
            prefix: settings.queue_prefix.clone(),
            default_timeout: settings.default_timeout(),
            broken: AtomicBool::new(false),
        });
        tokio::spawn(route_replies(consumer, Arc::downgrade(&inner)));
        Ok(inner)
    }
}

/// What every channel of a client shares: the settings and the current connection.
struct Shared {
    settings: RpcSettings,
    current: tokio::sync::Mutex<Arc<Inner>>,
}

impl Shared {
    /// The live connection, connecting again if the last one broke.
    async fn inner(&self) -> Result<Arc<Inner>, Status> {
        let mut current = self.current.lock().await;
        if !current.alive() {
            tracing::warn!("rpc broker connection lost; connecting again");
            *current = Inner::connect(&self.settings)
                .await
                .map_err(|e| Status::unavailable(format!("connecting to the broker: {e}")))?;
        }
        Ok(current.clone())
    }
}

/// RPC over the broker for one process. Cheap channels come from `channel`.
#[derive(Clone)]
pub struct Client {
    shared: Arc<Shared>,
}

/// A cloneable handle generated tonic clients call through (see [`crate::Channel`]).
#[derive(Clone)]
pub struct ClientChannel {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for ClientChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientChannel").finish_non_exhaustive()
    }
}

impl Client {
    /// Connects once now (so a missing broker shows at startup); later calls reconnect as needed.
    pub async fn connect(settings: &RpcSettings) -> lapin::Result<Self> {
        let inner = Inner::connect(settings).await?;
        Ok(Self { shared: Arc::new(Shared { settings: settings.clone(), current: tokio::sync::Mutex::new(inner) }) })
    }

    /// A channel for generated tonic clients.
    pub fn channel(&self) -> ClientChannel {
        ClientChannel { shared: self.shared.clone() }
    }
}

async fn route_replies(mut consumer: lapin::Consumer, inner: Weak<Inner>) {
    while let Some(delivery) = consumer.next().await {
        let Some(inner) = inner.upgrade() else { return };
        let delivery = match delivery {
            Ok(d) => d,
            Err(e) => {
                tracing::error!(error = %e, "rpc reply consumer failed; pending calls fail");
                break;
            }
        };
        let Some(corr) = delivery.properties.correlation_id().as_ref().map(|c| c.to_string()) else {
            continue;
        };
        let waiter = inner.pending.lock().ok().and_then(|mut p| p.remove(&corr));
        if let Some(tx) = waiter {
            let headers = delivery.properties.headers().clone().unwrap_or_default();
            // The caller may have given up (deadline); then nobody wants the reply.
            let _ = tx.send(Reply { headers, body: delivery.data });
        }
    }
    // Dropping the senders tells every waiting call that no reply will come; the next call
    // connects again.
    if let Some(inner) = inner.upgrade() {
        inner.broken.store(true, Ordering::Relaxed);
        if let Ok(mut p) = inner.pending.lock() {
            p.clear();
        }
    }
}

/// Removes a pending call's entry when the call ends for any reason (including cancellation).
struct PendingGuard<'a> {
    inner: &'a Inner,
    corr: String,
}

impl Drop for PendingGuard<'_> {
    fn drop(&mut self) {
        if let Ok(mut p) = self.inner.pending.lock() {
            p.remove(&self.corr);
        }
    }
}

impl ClientChannel {
    /// Performs one gRPC call over the broker. Failures become gRPC statuses in the response,
    /// exactly as a gRPC server would send them.
    pub async fn call(&self, req: http::Request<Body>) -> http::Response<Body> {
        match self.try_call(req).await {
            Ok(resp) => resp,
            Err(status) => status_response(&status),
        }
    }

    async fn try_call(&self, req: http::Request<Body>) -> Result<http::Response<Body>, Status> {
        let inner = self.shared.inner().await?;
        let inner = &*inner;
        let (parts, body) = req.into_parts();
        let path = parts.uri.path().to_owned();
        let service = path
            .trim_start_matches('/')
            .split('/')
            .next()
            .filter(|s| !s.is_empty())
            .ok_or_else(|| Status::internal("rpc path names no service"))?;
        let timeout = parts
            .headers
            .get("grpc-timeout")
            .and_then(|v| parse_grpc_timeout(v.as_bytes()))
            .unwrap_or(inner.default_timeout);
        let body = body.collect().await.map_err(|e| Status::internal(format!("reading request body: {e}")))?.to_bytes();

        let queue = queue_name(&inner.prefix, service);
        ensure_declared(inner, &queue).await?;

        let corr = uuid::Uuid::new_v4().simple().to_string();
        let (tx, rx) = oneshot::channel();
        inner.pending.lock().map_err(|_| Status::internal("rpc state poisoned"))?.insert(corr.clone(), tx);
        let _guard = PendingGuard { inner, corr: corr.clone() };

        let timeout_ms = i64::try_from(timeout.as_millis()).unwrap_or(i64::MAX);
        let mut headers = FieldTable::default();
        put_headers(&mut headers, HEADER_PREFIX, &parts.headers);
        headers.insert(PATH.into(), AMQPValue::LongString(LongString::from(path.clone())));
        headers.insert(DEADLINE.into(), AMQPValue::LongLongInt(now_ms().saturating_add(timeout_ms)));
        let props = BasicProperties::default()
            .with_correlation_id(corr.into())
            .with_reply_to(inner.reply_to.clone())
            .with_headers(headers)
            .with_content_type("application/grpc".into())
            // Persistent: a request waiting for a restarting service survives a broker restart.
            .with_delivery_mode(2)
            // The broker drops a request nobody took before its deadline.
            .with_expiration(timeout_ms.max(1).to_string().into());
        let published = async {
            inner
                .channel
                .basic_publish("".into(), queue.as_str().into(), BasicPublishOptions::default(), &body, props)
                .await?
                .await
        };
        let confirm = published.await.map_err(|e| {
            inner.broken.store(true, Ordering::Relaxed);
            Status::unavailable(format!("publishing to {queue}: {e}"))
        })?;
        if confirm.is_nack() {
            return Err(Status::unavailable(format!("broker refused the request to {queue}")));
        }

        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(reply)) => Ok(response(reply)),
            Ok(Err(_)) => Err(Status::unavailable("connection to the broker lost before the reply")),
            Err(_) => Err(Status::deadline_exceeded(format!("no reply from {service} within {timeout:?}"))),
        }
    }
}

async fn ensure_declared(inner: &Inner, queue: &str) -> Result<(), Status> {
    let mut declared = inner.declared.lock().await;
    if !declared.contains(queue) {
        declare_queue(&inner.channel, queue).await.map_err(|e| {
            inner.broken.store(true, Ordering::Relaxed);
            Status::unavailable(format!("declaring {queue}: {e}"))
        })?;
        declared.insert(queue.to_owned());
    }
    Ok(())
}

fn response(reply: Reply) -> http::Response<Body> {
    let headers = take_headers(&reply.headers, HEADER_PREFIX);
    let trailers = take_headers(&reply.headers, TRAILER_PREFIX);
    let mut frames: Vec<Result<Frame<Bytes>, std::convert::Infallible>> = Vec::with_capacity(2);
    if !reply.body.is_empty() {
        frames.push(Ok(Frame::data(Bytes::from(reply.body))));
    }
    if !trailers.is_empty() {
        frames.push(Ok(Frame::trailers(trailers)));
    }
    let mut resp = http::Response::new(Body::new(StreamBody::new(futures_util::stream::iter(frames))));
    *resp.headers_mut() = headers;
    resp
}

/// A trailers-only gRPC response carrying `status`, as a gRPC server sends for an error.
pub(crate) fn status_response(status: &Status) -> http::Response<Body> {
    let mut resp = http::Response::new(Body::empty());
    resp.headers_mut().insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/grpc"));
    if status.add_header(resp.headers_mut()).is_err() {
        resp.headers_mut().insert("grpc-status", http::HeaderValue::from_static("13"));
    }
    resp
}
