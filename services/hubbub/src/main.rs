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

async fn run(command: Command, s: &mut Settings, shutdown: CancellationToken) -> anyhow::Result<()> {
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
