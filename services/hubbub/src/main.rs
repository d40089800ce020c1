//! The hubbub binary: `hubbub <service>` runs one service, `hubbub all` runs every service (and
//! one chat node) in one process. One image for every role, scaled per role in production.

mod settings;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use settings::Settings;

#[derive(Parser)]
#[command(name = "hubbub", version, about = "hubbub: a real-time chat backend")]
struct Cli {
    /// A TOML settings file (variables `HUBBUB_SECTION__KEY` override it).
    #[arg(long, global = true, env = "HUBBUB_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The public HTTP API.
    Gateway,
    /// Credentials and access tokens.
    Auth,
    /// Profiles.
    User,
    /// Groups, direct chats, rooms and members.
    Group,
    /// The message pipeline and history.
    Message,
    /// A Socket.IO chat node.
    Chat {
        /// Port to serve Socket.IO on (overrides `chat.port`).
        #[arg(long)]
        port: Option<u16>,
        /// This node's unique name (overrides `chat.node_id`).
        #[arg(long)]
        node_id: Option<String>,
    },
    /// Every service and one chat node in this process.
    All,
}

/// How long in-flight work may take to finish after a shutdown signal.
const GRACE: Duration = Duration::from_secs(10);

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    hubbub_telemetry::init();
    let mut settings: Settings = hubbub_config::load(cli.config.as_deref()).context("loading settings")?;
    let shutdown = hubbub_telemetry::shutdown_on_signal();
    let work = run(cli.command, &mut settings, shutdown.clone());
    tokio::pin!(work);
    tokio::select! {
        r = &mut work => r,
        _ = async { shutdown.cancelled().await; tokio::time::sleep(GRACE).await } => {
            tracing::warn!("grace period over; exiting with work unfinished");
            Ok(())
        }
    }
}

async fn bind(addr: &str) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr).await.with_context(|| format!("binding {addr}"))
}

/// What each role needs to answer before it is ready.
#[derive(Clone, Copy, PartialEq)]
enum Need {
    Mongo,
    Redis,
    Kafka,
    Storage,
    /// RabbitMQ: every service serves its RPC queue there.
    Rabbit,
}

fn needs(command: &Command) -> &'static [Need] {
    match command {
        Command::Gateway => &[Need::Redis, Need::Storage],
        Command::Auth => &[Need::Mongo, Need::Redis, Need::Kafka, Need::Rabbit],
        Command::User => &[Need::Mongo, Need::Redis, Need::Rabbit],
        Command::Group => &[Need::Mongo, Need::Kafka, Need::Rabbit],
        Command::Message => &[Need::Mongo, Need::Kafka, Need::Storage, Need::Rabbit],
        Command::Chat { .. } => &[Need::Redis, Need::Kafka],
        Command::All => &[Need::Mongo, Need::Redis, Need::Kafka, Need::Storage, Need::Rabbit],
    }
}

/// The readiness checks of `needs`, each with a client of its own made once.
async fn checks(s: &Settings, needs: &[Need]) -> anyhow::Result<Vec<(&'static str, hubbub_ops::Check)>> {
    let mut out = Vec::new();
    for need in needs {
        let check = match need {
            Need::Mongo => {
                let db = s.mongo.database("ops").await.context("mongodb client")?;
                (
                    "mongodb",
                    hubbub_ops::check(move || {
                        let db = db.clone();
                        async move { hubbub_mongo::ping(&db).await.map_err(|e| e.to_string()) }
                    }),
                )
            }
            Need::Redis => {
                let (settings, client) = (s.redis.clone(), std::sync::Arc::new(tokio::sync::OnceCell::new()));
                (
                    "redis",
                    hubbub_ops::check(move || {
                        let (settings, client) = (settings.clone(), client.clone());
                        async move {
                            let redis = client
                                .get_or_try_init(|| hubbub_redis::Redis::connect(&settings))
                                .await
                                .map_err(|e| e.to_string())?;
                            redis.ping().await.map_err(|e| e.to_string())
                        }
                    }),
                )
            }
            Need::Kafka => {
                let probe = s.kafka.probe().context("kafka client")?;
                (
                    "kafka",
                    hubbub_ops::check(move || {
                        let probe = probe.clone();
                        async move {
                            probe.answers(Duration::from_secs(2)).await?;
                            hubbub_events::groups_joined()
                        }
                    }),
                )
            }
            Need::Rabbit => {
                let probe = std::sync::Arc::new(hubbub_rpc::BrokerProbe::new(&s.rpc));
                (
                    "rabbitmq",
                    hubbub_ops::check(move || {
                        let probe = probe.clone();
                        async move { probe.answers().await }
                    }),
                )
            }
            Need::Storage => {
                let storage = hubbub_storage::Storage::new(s.storage.clone());
                (
                    "storage",
                    hubbub_ops::check(move || {
                        let storage = storage.clone();
                        async move { storage.answers().await.map_err(|e| e.to_string()) }
                    }),
                )
            }
        };
        out.push(check);
    }
    Ok(out)
}

async fn run(command: Command, s: &mut Settings, shutdown: CancellationToken) -> anyhow::Result<()> {
    let ops = if s.ops.port == 0 {
        None
    } else {
        hubbub_ops::metrics();
        let listener = bind(&format!("{}:{}", s.ops.bind, s.ops.port)).await?;
        let checks = checks(s, needs(&command)).await?;
        Some(tokio::spawn(hubbub_ops::serve(listener, checks, shutdown.clone())))
    };
    let ran = serve(command, s, shutdown.clone()).await;
    shutdown.cancel();
    if let Some(ops) = ops {
        ops.await.context("operations endpoints")?;
    }
    ran
}

async fn serve(command: Command, s: &mut Settings, shutdown: CancellationToken) -> anyhow::Result<()> {
    match command {
        Command::Gateway => gateway(s, shutdown).await,
        Command::Auth => auth(s, shutdown).await,
        Command::User => user(s, shutdown).await,
        Command::Group => group(s, shutdown).await,
        Command::Message => message(s, shutdown).await,
        Command::Chat { port, node_id } => {
            if let Some(port) = port {
                s.chat.port = port;
            }
            if let Some(node_id) = node_id {
                s.chat.node_id = node_id;
            }
            chat(s, shutdown).await
        }
        Command::All => {
            // Each service stops the whole process if it fails, so a half-running suite never
            // pretends to be healthy.
            let stop_all = |r: anyhow::Result<()>| {
                if r.is_err() {
                    shutdown.cancel();
                }
                r
            };
            let (a, u, g, m, gw, c) = tokio::join!(
                async { stop_all(auth(s, shutdown.clone()).await) },
                async { stop_all(user(s, shutdown.clone()).await) },
                async { stop_all(group(s, shutdown.clone()).await) },
                async { stop_all(message(s, shutdown.clone()).await) },
                async { stop_all(gateway(s, shutdown.clone()).await) },
                async { stop_all(chat(s, shutdown.clone()).await) },
            );
            a.and(u).and(g).and(m).and(gw).and(c)
        }
    }
}

async fn gateway(s: &Settings, shutdown: CancellationToken) -> anyhow::Result<()> {
    let listener = bind(&format!("{}:{}", s.gateway.bind, s.gateway.port)).await?;
    let deps = hubbub_gateway::Deps {
        gateway: &s.gateway,
        rpc: &s.rpc,
        token: &s.token,
        redis: &s.redis,
        storage: &s.storage,
    };
    hubbub_gateway::run(deps, listener, shutdown).await
}

async fn auth(s: &Settings, shutdown: CancellationToken) -> anyhow::Result<()> {
    let listener = bind(&s.rpc.auth.grpc_addr).await?;
    let deps = hubbub_auth::Deps {
        auth: &s.auth,
        rpc: &s.rpc,
        mongo: &s.mongo,
        redis: &s.redis,
        token: &s.token,
        kafka: &s.kafka,
    };
    hubbub_auth::run(deps, listener, shutdown).await
}

async fn user(s: &Settings, shutdown: CancellationToken) -> anyhow::Result<()> {
    let listener = bind(&s.rpc.user.grpc_addr).await?;
    let deps = hubbub_user::Deps { user: &s.user, rpc: &s.rpc, mongo: &s.mongo, redis: &s.redis };
    hubbub_user::run(deps, listener, shutdown).await
}

async fn group(s: &Settings, shutdown: CancellationToken) -> anyhow::Result<()> {
    let listener = bind(&s.rpc.group.grpc_addr).await?;
    let deps = hubbub_group::Deps { group: &s.group, rpc: &s.rpc, mongo: &s.mongo, kafka: &s.kafka };
    hubbub_group::run(deps, listener, shutdown).await
}

async fn message(s: &Settings, shutdown: CancellationToken) -> anyhow::Result<()> {
    let listener = bind(&s.rpc.message.grpc_addr).await?;
    let deps = hubbub_message::Deps {
        message: &s.message,
        rpc: &s.rpc,
        mongo: &s.mongo,
        kafka: &s.kafka,
        storage: &s.storage,
    };
    hubbub_message::run(deps, listener, shutdown).await
}

async fn chat(s: &Settings, shutdown: CancellationToken) -> anyhow::Result<()> {
    let listener = bind(&format!("{}:{}", s.chat.bind, s.chat.port)).await?;
    let deps = hubbub_chat::Deps { chat: &s.chat, rpc: &s.rpc, kafka: &s.kafka, token: &s.token, redis: &s.redis };
    hubbub_chat::run(deps, listener, shutdown).await
}
