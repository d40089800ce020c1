//! Serving a service over both transports at once.

use std::convert::Infallible;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tokio_util::sync::CancellationToken;
use tonic::body::Body;
use tonic::server::NamedService;
use tonic::service::Routes;

use crate::{CredentialError, Credentials, RpcSettings, amqp};

/// Why serving stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The gRPC server failed.
    #[error("grpc server: {0}")]
    Grpc(#[from] tonic::transport::Error),
    /// The broker connection or a queue consumer failed.
    #[error("amqp server: {0}")]
    Amqp(#[from] lapin::Error),
    /// The internal secret is refused.
    #[error("{0}")]
    Credentials(#[from] CredentialError),
}

/// A set of tonic services served over gRPC and over their RabbitMQ queues.
#[derive(Default)]
pub struct Server {
    routes: Routes,
    names: Vec<&'static str>,
}

impl Server {
    /// An empty server.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a generated tonic server (e.g. `AuthServiceServer::new(impl)`).
    pub fn add_service<S>(mut self, svc: S) -> Self
    where
        S: tower::Service<http::Request<Body>, Response = http::Response<Body>, Error = Infallible>
            + NamedService
            + Clone
            + Send
            + Sync
            + 'static,
        S::Future: Send + 'static,
    {
        self.routes = self.routes.add_service(svc);
        self.names.push(S::NAME);
        self
    }

    /// Serves gRPC on `listener` and every service's queue until `shutdown`. A call without a
    /// valid internal credential for the caller it names is refused (UNAUTHENTICATED) before
    /// it reaches a service, on either transport.
    pub async fn run(
        self,
        listener: TcpListener,
        settings: &RpcSettings,
        shutdown: CancellationToken,
    ) -> Result<(), ServeError> {
        let credentials = Credentials::new(settings)?;
        let Self { routes, names } = self;
        let routes = routes.prepare();
        let queues = async {
            // The broker may go away (a restart, a failover): serve its queues again once it is
            // back, for as long as the process runs. Requests wait in their queues meanwhile.
            let mut pause = Duration::from_millis(100);
            loop {
                // Not raced against the shutdown: each queue stops on it by itself, after
                // finishing the requests in hand.
                let connected = serve_queues(&names, settings, &routes, &credentials, &shutdown).await;
                if shutdown.is_cancelled() {
                    return Ok::<(), ServeError>(());
                }
                match connected {
                    Ok(()) => pause = Duration::from_millis(100),
                    Err(e) => tracing::warn!(error = %e, "rpc broker connection"),
                }
                tracing::warn!(retry_in = ?pause, "rpc queues stopped being served; connecting to the broker again");
                tokio::select! {
                    _ = shutdown.cancelled() => return Ok(()),
                    _ = tokio::time::sleep(pause) => {}
                }
                pause = (pause * 2).min(Duration::from_secs(5));
            }
        };
        let grpc = async {
            let result = tonic::transport::Server::builder()
                .layer(tower::layer::layer_fn(|inner| Verify {
                    inner,
                    credentials: credentials.clone(),
                    transport: "grpc",
                }))
                .add_routes(routes.clone())
                .serve_with_incoming_shutdown(TcpListenerStream::new(listener), shutdown.clone().cancelled_owned())
                .await;
            shutdown.cancel();
            result
        };
        let (grpc, queues) = tokio::join!(grpc, queues);
        grpc?;
        queues?;
        Ok(())
    }
}

/// One connection's worth of serving every queue: until shutdown, the connection drops, or
/// one queue's consumer ends. An error when it could not connect, or a queue failed.
async fn serve_queues(
    names: &[&'static str],
    settings: &RpcSettings,
    routes: &Routes,
    credentials: &Credentials,
    shutdown: &CancellationToken,
) -> Result<(), ServeError> {
    let name = format!("hubbub-rpc-server {}", settings.queue_prefix);
    let properties = lapin::ConnectionProperties::default().with_connection_name(name.into());
    let connection = lapin::Connection::connect(&settings.amqp_url, properties).await?;
    // Whichever queue stops first (an error, a consumer the broker cancelled) stops the
    // others, and the caller connects again.
    let lost = shutdown.child_token();
    let queues = names.iter().map(|name| {
        let queue = amqp::queue_name(&settings.queue_prefix, name);
        let served = Verify { inner: routes.clone(), credentials: credentials.clone(), transport: "amqp" };
        let (connection, lost) = (&connection, lost.clone());
        async move {
            let result = amqp::serve_queue(connection, queue.clone(), settings.prefetch, served, lost.clone()).await;
            if !lost.is_cancelled() {
                tracing::warn!(%queue, error = ?result.as_ref().err(), "rpc queue stopped being served");
                lost.cancel();
            }
            result
        }
    });
    let results = futures_util::future::join_all(queues).await;
    if let Err(e) = connection.close(200, "shutdown".into()).await {
        tracing::debug!(error = %e, "closing amqp connection");
    }
    for r in results {
        r?;
    }
    Ok(())
}

/// Lets through only calls that carry a valid internal credential for the caller they name,
/// runs each in a span with its request id, and counts and times every call by method,
/// transport and status code (`rpc_requests_total`, `rpc_request_duration_seconds`): the one
/// place both transports pass through.
#[derive(Clone)]
pub struct Verify<S> {
    inner: S,
    credentials: Credentials,
    transport: &'static str,
}

/// A call's status: a unary call that fails answers trailers-only, its `grpc-status` in the
/// headers; one that succeeds carries it in the trailers, after the body.
fn status_of(resp: &http::Response<Body>) -> tonic::Code {
    resp.headers()
        .get("grpc-status")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<i32>().ok())
        .map_or(tonic::Code::Ok, tonic::Code::from)
}

fn record(method: String, transport: &'static str, code: tonic::Code, took: Duration) {
    let code = format!("{code:?}");
    metrics::counter!("rpc_requests_total", "method" => method.clone(), "transport" => transport, "code" => code)
        .increment(1);
    metrics::histogram!("rpc_request_duration_seconds", "method" => method, "transport" => transport)
        .record(took.as_secs_f64());
}

impl<S> tower::Service<http::Request<Body>> for Verify<S>
where
    S: tower::Service<http::Request<Body>, Response = http::Response<Body>> + Send,
    S::Future: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = S::Error;
    type Future = std::pin::Pin<Box<dyn std::future::Future<Output = Result<Self::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<Body>) -> Self::Future {
        // A verified caller is one of ours, calling methods of the services we serve: the
        // label's values stay few.
        let method = req.uri().path().to_owned();
        let transport = self.transport;
        let started = std::time::Instant::now();
        if !self.credentials.verify_request(&req) {
            tracing::warn!(path = %method, "refused an internal call without a valid credential");
            // Anyone can send any path: refused calls share one label value.
            record("refused".to_owned(), transport, tonic::Code::Unauthenticated, started.elapsed());
            let refused = tonic::Status::unauthenticated("internal credential missing or invalid").into_http();
            return Box::pin(async move { Ok(refused) });
        }
        // Every call runs in a span naming its request id, whichever transport brought it, so a
        // request's lines in every service's log share the gateway's id.
        let request_id = req.headers().get(crate::REQUEST_ID_HEADER).and_then(|v| v.to_str().ok()).unwrap_or("");
        let span = tracing::info_span!("rpc", request_id, method = %method, transport);
        let answer = span.in_scope(|| self.inner.call(req));
        Box::pin(tracing::Instrument::instrument(
            async move {
                let resp = answer.await?;
                record(method, transport, status_of(&resp), started.elapsed());
                Ok(resp)
            },
            span,
        ))
    }
}
