//! One tonic service, two transports. A service implements its generated tonic trait once and
//! is served over gRPC and over RabbitMQ at the same time; callers choose per service, by
//! configuration, which transport their generated tonic client rides on.
//!
//! Over RabbitMQ a call is the gRPC request itself (path, metadata, framed body) published to the
//! service's durable queue with `reply_to` and `correlation_id`. Any replica takes it (competing
//! consumers), so requests wait in the queue while a service restarts; the reply carries the
//! response metadata, body and gRPC status. Deadlines (`grpc-timeout`), the request id and the
//! caller's identity travel as metadata on both transports.

pub mod amqp;
mod channel;
pub mod credential;
mod ctx;
mod serve;

use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use channel::Channel;
pub use credential::{CREDENTIAL_HEADER, CredentialError, Credentials, DEV_INTERNAL_SECRET};
pub use ctx::{
    CALLER_HEADER, CLIENT_IP_HEADER, Ctx, ERROR_CODE_HEADER, REQUEST_ID_HEADER, RETRY_AFTER_HEADER, api_code, coded,
    rate_limited, retry_after, retry_in,
};
pub use serve::{ServeError, Server};

/// Which transport a caller uses to reach a service.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// HTTP/2 gRPC straight to the service's address.
    Grpc,
    /// Through the service's RabbitMQ queue.
    Amqp,
}

/// How to reach one service, and where it listens for gRPC.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct Endpoint {
    /// The transport callers use.
    pub transport: Transport,
    /// `host:port` the service binds for gRPC and callers dial.
    pub grpc_addr: String,
}

/// RPC settings of a process: the broker and every service's endpoint.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default)]
pub struct RpcSettings {
    /// The RabbitMQ URI.
    pub amqp_url: String,
    /// Prepended to every queue name (tests use a unique one).
    pub queue_prefix: String,
    /// The deadline of a call that sets none, in milliseconds.
    pub default_timeout_ms: u64,
    /// How many requests one replica works on at once, per service queue.
    pub prefetch: u16,
    /// The auth service.
    pub auth: Endpoint,
    /// The user service.
    pub user: Endpoint,
    /// The group service.
    pub group: Endpoint,
    /// The message service.
    pub message: Endpoint,
    /// The secret every process signs its internal calls with and every service checks them
    /// against (32+ random bytes, the same everywhere; see [`credential`]).
    pub internal_secret: hubbub_config::Secret,
    /// Accept the built-in development secret (local runs and tests only).
    pub development: bool,
    /// How long a call's credential stays good, in seconds.
    pub credential_ttl_secs: u64,
    /// How long a process starting beside its broker (a compose suite, a pod) waits for
    /// RabbitMQ to accept connections before it gives up and exits.
    pub broker_wait_secs: u64,
}

impl Default for RpcSettings {
    fn default() -> Self {
        let ep = |transport, port: u16| Endpoint { transport, grpc_addr: format!("127.0.0.1:{port}") };
        Self {
            amqp_url: "amqp://guest:guest@127.0.0.1:5672/%2f".into(),
            queue_prefix: "hubbub.".into(),
            default_timeout_ms: 10_000,
            prefetch: 64,
            auth: ep(Transport::Amqp, 50051),
            user: ep(Transport::Amqp, 50052),
            group: ep(Transport::Grpc, 50053),
            message: ep(Transport::Grpc, 50054),
            internal_secret: hubbub_config::Secret::new(DEV_INTERNAL_SECRET),
            development: false,
            credential_ttl_secs: 60,
            broker_wait_secs: 60,
        }
    }
}

impl RpcSettings {
    /// The defaults with the development secret allowed: for tests and local runs.
    pub fn development() -> Self {
        Self { development: true, ..Self::default() }
    }

    /// The deadline of calls that set none.
    pub fn default_timeout(&self) -> Duration {
        Duration::from_millis(self.default_timeout_ms)
    }
}

/// What went wrong setting up a transport.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// RabbitMQ refused or dropped us.
    #[error("amqp: {0}")]
    Amqp(#[from] lapin::Error),
    /// The internal secret is refused.
    #[error("{0}")]
    Credentials(#[from] CredentialError),
    /// A gRPC address is not a valid URI.
    #[error("invalid gRPC address {addr:?}: {reason}")]
    Address {
        /// The configured address.
        addr: String,
        /// Why it is invalid.
        reason: String,
    },
}

/// `Result` with this crate's error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Opens channels to services as the settings say; one AMQP connection shared by all.
#[derive(Clone)]
pub struct Connector {
    settings: RpcSettings,
    amqp: std::sync::Arc<tokio::sync::OnceCell<amqp::Client>>,
}

impl Connector {
    /// A connector; nothing is dialed until a channel needs it.
    pub fn new(settings: RpcSettings) -> Self {
        Self { settings, amqp: Default::default() }
    }

    /// The settings this connector follows.
    pub fn settings(&self) -> &RpcSettings {
        &self.settings
    }

    /// A channel to the service at `endpoint`. gRPC channels connect lazily, so services may
    /// start in any order.
    pub async fn channel(&self, endpoint: &Endpoint) -> Result<Channel> {
        let credentials = Credentials::new(&self.settings)?;
        let inner = match endpoint.transport {
            Transport::Grpc => {
                let uri = format!("http://{}", endpoint.grpc_addr);
                let ep = tonic::transport::Endpoint::from_shared(uri)
                    .map_err(|e| Error::Address { addr: endpoint.grpc_addr.clone(), reason: e.to_string() })?;
                let ep = ep
                    .connect_timeout(Duration::from_secs(2))
                    .timeout(self.settings.default_timeout())
                    .tcp_nodelay(true);
                channel::Inner::Grpc(ep.connect_lazy())
            }
            Transport::Amqp => {
                let client = self.amqp.get_or_try_init(|| connect_patiently(&self.settings)).await?;
                channel::Inner::Amqp(client.channel())
            }
        };
        Ok(Channel::new(inner, credentials))
    }
}

/// Connects to RabbitMQ, waiting up to `broker_wait_secs` for it to accept connections: a broker
/// started at the same time (compose, a pod) may say it is healthy before it listens. Once
/// connected, the client makes its connection again by itself whenever it is lost.
async fn connect_patiently(settings: &RpcSettings) -> std::result::Result<amqp::Client, lapin::Error> {
    let deadline = std::time::Instant::now() + Duration::from_secs(settings.broker_wait_secs);
    let mut pause = Duration::from_millis(100);
    loop {
        match amqp::Client::connect(settings).await {
            Ok(client) => return Ok(client),
            Err(e) if std::time::Instant::now() + pause < deadline => {
                tracing::warn!(error = %e, retry_in = ?pause, "rpc broker not accepting connections yet");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(2));
            }
            Err(e) => return Err(e),
        }
    }
}

/// Whether the RabbitMQ broker answers (readiness): one connection, made on the first ask and
/// again whenever it was lost.
pub struct BrokerProbe {
    url: String,
    connection: tokio::sync::Mutex<Option<lapin::Connection>>,
}

impl BrokerProbe {
    /// A probe of the broker in `settings` (nothing is dialed yet).
    pub fn new(settings: &RpcSettings) -> Self {
        Self { url: settings.amqp_url.clone(), connection: tokio::sync::Mutex::new(None) }
    }

    /// `Ok` when the broker holds an open connection with this process.
    pub async fn answers(&self) -> Result<(), String> {
        let mut held = self.connection.lock().await;
        if held.as_ref().is_some_and(|c| c.status().connected()) {
            return Ok(());
        }
        let properties = lapin::ConnectionProperties::default().with_connection_name("hubbub-ready-probe".into());
        let connection = lapin::Connection::connect(&self.url, properties).await.map_err(|e| e.to_string())?;
        *held = Some(connection);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;

    /// Settings whose broker is a port that starts forwarding to the test RabbitMQ
    /// (127.0.0.1:5672, as `scripts/infra.sh up` runs it) only after `late`.
    async fn broker_opening_after(late: Duration, wait_secs: u64) -> RpcSettings {
        let port = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .and_then(|l| l.local_addr())
            .unwrap_or_else(|e| panic!("{e}"))
            .port();
        tokio::spawn(async move {
            tokio::time::sleep(late).await;
            let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.unwrap_or_else(|e| panic!("{e}"));
            while let Ok((mut client, _)) = listener.accept().await {
                tokio::spawn(async move {
                    if let Ok(mut broker) = tokio::net::TcpStream::connect("127.0.0.1:5672").await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut broker).await;
                    }
                });
            }
        });
        RpcSettings {
            amqp_url: format!("amqp://guest:guest@127.0.0.1:{port}/%2f"),
            broker_wait_secs: wait_secs,
            ..RpcSettings::development()
        }
    }

    #[tokio::test]
    async fn a_process_starting_before_its_broker_listens_waits_for_it() {
        let started = Instant::now();
        let settings = broker_opening_after(Duration::from_millis(1500), 30).await;
        let connected = connect_patiently(&settings).await;
        assert!(connected.is_ok(), "{:?}", connected.err());
        assert!(started.elapsed() >= Duration::from_millis(1500));
        println!("connected to a broker that opened after 1.5 s, in {:?}", started.elapsed());
    }

    #[tokio::test]
    async fn past_its_wait_a_process_gives_up_on_a_broker_that_never_listens() {
        let settings = broker_opening_after(Duration::from_secs(3600), 1).await;
        let started = Instant::now();
        assert!(connect_patiently(&settings).await.is_err());
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}
