//! Tracing setup, request ids and the process shutdown signal: what every hubbub process needs
//! before it serves anything.

use std::io::IsTerminal;

use tokio_util::sync::CancellationToken;
use tracing_subscriber::{EnvFilter, fmt, prelude::*};

/// The header (HTTP), metadata key (gRPC), AMQP header and Kafka header carrying a request id.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// Installs the global subscriber: compact text on a terminal, JSON lines otherwise, or as
/// `HUBBUB_LOG_FORMAT` (`json` or `text`) asks; `RUST_LOG` wins over the default level `info`.
/// Calling it twice is harmless (tests do).
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let registry = tracing_subscriber::registry().with(filter);
    let text = match std::env::var("HUBBUB_LOG_FORMAT").as_deref() {
        Ok("json") => false,
        Ok("text") => true,
        _ => std::io::stdout().is_terminal(),
    };
    let result = if text {
        registry.with(fmt::layer().compact()).try_init()
    } else {
        registry.with(fmt::layer().json().flatten_event(true)).try_init()
    };
    // A second init (a test binary with several tests) keeps the first subscriber.
    drop(result);
}

/// A fresh request id.
pub fn new_request_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// Whether a request id from a client is short and plain (1–64 of `[A-Za-z0-9_-]`), so it can
/// be logged and forwarded safely; the gateway replaces any other with a fresh one.
pub fn fit_request_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// One cancellation token for the process, cancelled by SIGTERM or ctrl-c. Every loop stops on
/// it.
pub fn shutdown_on_signal() -> CancellationToken {
    let token = CancellationToken::new();
    let fire = token.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutdown signal received");
        fire.cancel();
    });
    token
}

#[cfg(unix)]
async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for SIGTERM; ctrl-c only");
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

#[cfg(not(unix))]
async fn wait_for_signal() {
    let _ = tokio::signal::ctrl_c().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_request_id_is_fit_and_a_hostile_one_is_not() {
        assert!(fit_request_id("abc-123_x"));
        assert!(fit_request_id(&"a".repeat(64)));
        for bad in ["", "a b", "x\ny", "é", &"a".repeat(65)] {
            assert!(!fit_request_id(bad), "{bad:?}");
        }
        assert_eq!(new_request_id().len(), 32);
        assert!(fit_request_id(&new_request_id()));
    }
}
