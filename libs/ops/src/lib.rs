//! Operations endpoints of every hubbub process, on a port of their own (never behind the public
//! nginx): `GET /health` (the process runs), `GET /ready` (each dependency it needs answers
//! within two seconds; 503 with the failing ones otherwise) and `GET /metrics` (everything
//! recorded through the `metrics` facade, in Prometheus text).

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// `[ops]`: where the operations endpoints listen.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default)]
pub struct OpsSettings {
    /// Address to bind.
    pub bind: String,
    /// Port; 0 turns the endpoints off.
    pub port: u16,
}

impl Default for OpsSettings {
    fn default() -> Self {
        Self { bind: "127.0.0.1".into(), port: 0 }
    }
}

/// A dependency check: `Ok` when it answers.
pub type Check = Arc<dyn Fn() -> Pin<Box<dyn Future<Output = Result<(), String>> + Send>> + Send + Sync>;

/// Makes a [`Check`] of an async closure.
pub fn check<F, Fut>(f: F) -> Check
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), String>> + Send + 'static,
{
    Arc::new(move || Box::pin(f()))
}

/// Latency histograms get buckets (seconds) rather than summaries, so they add up across processes.
const SECONDS_BUCKETS: &[f64] = &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// Installs the process's metrics recorder (once; later calls get the same handle).
pub fn metrics() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), SECONDS_BUCKETS)
                .unwrap_or_else(|_| PrometheusBuilder::new());
            match builder.install_recorder() {
                Ok(handle) => handle,
                Err(e) => {
                    // Another recorder is installed (a test harness): render an empty one.
                    tracing::warn!(error = %e, "metrics recorder not installed");
                    PrometheusBuilder::new().build_recorder().handle()
                }
            }
        })
        .clone()
}

/// Serves `/health`, `/ready` and `/metrics` on `listener` until `shutdown`.
pub async fn serve(listener: TcpListener, checks: Vec<(&'static str, Check)>, shutdown: CancellationToken) {
    let handle = metrics();
    let checks = Arc::new(checks);
    let app = axum::Router::new()
        .route("/health", get(|| async { axum::Json(serde_json::json!({ "status": "ok" })) }))
        .route("/ready", get(move || ready(checks.clone())))
        .route("/metrics", get(move || std::future::ready(handle.render())));
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "operations endpoints serving");
    }
    if let Err(e) = axum::serve(listener, app).with_graceful_shutdown(shutdown.cancelled_owned()).await {
        tracing::error!(error = %e, "operations endpoints");
    }
}

async fn ready(checks: Arc<Vec<(&'static str, Check)>>) -> Response {
    let results = futures_util::future::join_all(checks.iter().map(|(name, check)| async move {
        let outcome = match tokio::time::timeout(Duration::from_secs(2), check()).await {
            Ok(r) => r,
            Err(_) => Err("no answer within 2 s".to_owned()),
        };
        (*name, outcome)
    }))
    .await;
    let ready = results.iter().all(|(_, r)| r.is_ok());
    let detail: serde_json::Map<String, serde_json::Value> = results
        .into_iter()
        .map(|(name, r)| (name.to_owned(), serde_json::Value::String(r.err().unwrap_or_else(|| "ok".into()))))
        .collect();
    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    let body = serde_json::json!({ "status": if ready { "ready" } else { "not ready" }, "checks": detail });
    (status, axum::Json(body)).into_response()
}
