//! The serving side: tonic routes fed from a service's queue. Each request runs under its
//! deadline; the reply (or the status) goes to its `reply_to`; the delivery is acknowledged only
//! after that, so a request held by a replica that dies is delivered again to another.

use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use http_body_util::{BodyExt, Full};
use lapin::message::Delivery;
use lapin::options::{BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Connection};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tonic::Status;
use tonic::body::Body;
use tonic::service::Routes;

use crate::serve::Verify;
use tower::ServiceExt;

use super::{
    DEADLINE, HEADER_PREFIX, PATH, TRAILER_PREFIX, client::status_response, declare_queue, get_i64, get_str, now_ms,
    put_headers, take_headers,
};

/// Serves `routes` from `queue` until `shutdown`; then stops taking requests, finishes the ones
/// in hand, and closes its channel (requests it had not started go back to the queue).
pub async fn serve_queue(
    connection: &Connection,
    queue: String,
    prefetch: u16,
    routes: Verify<Routes>,
    shutdown: CancellationToken,
) -> lapin::Result<()> {
    let channel = connection.create_channel().await?;
    channel.basic_qos(prefetch, BasicQosOptions::default()).await?;
    declare_queue(&channel, &queue).await?;
    let mut consumer = channel
        .basic_consume(queue.as_str().into(), "".into(), BasicConsumeOptions::default(), FieldTable::default())
        .await?;
    tracing::info!(%queue, "serving rpc queue");
    let tracker = TaskTracker::new();
    let result = loop {
        tokio::select! {
            _ = shutdown.cancelled() => break Ok(()),
            next = consumer.next() => match next {
                Some(Ok(delivery)) => {
                    tracker.spawn(handle(channel.clone(), routes.clone(), delivery));
                }
                Some(Err(e)) => break Err(e),
                None => break Ok(()),
            },
        }
    };
    if let Err(e) = channel.basic_cancel(consumer.tag(), BasicCancelOptions::default()).await {
        tracing::debug!(error = %e, %queue, "cancelling consumer");
    }
    tracker.close();
    tracker.wait().await;
    if let Err(e) = channel.close(200, "shutdown".into()).await {
        tracing::debug!(error = %e, %queue, "closing channel");
    }
    result
}

async fn handle(channel: Channel, routes: Verify<Routes>, delivery: Delivery) {
    let props = delivery.properties.clone();
    let table = props.headers().clone().unwrap_or_default();
    let reply = props
        .reply_to()
        .clone()
        .map(|reply_to| (reply_to, props.correlation_id().clone().unwrap_or_else(|| "".into())));
    let remaining = get_i64(&table, DEADLINE).map(|d| d.saturating_sub(now_ms()));
    if remaining.is_some_and(|ms| ms <= 0) {
        // The caller has already given up: doing the work now would only surprise it.
        tracing::debug!("dropping an rpc request past its deadline");
        ack(&delivery).await;
        return;
    }
    let answer = match get_str(&table, PATH).and_then(|p| std::str::from_utf8(p).ok()) {
        Some(path) => call(routes, path, &table, delivery.data.clone(), remaining).await,
        None => Answer::status(&Status::invalid_argument("rpc request without a path")),
    };
    if let Some((reply_to, corr)) = reply {
        let props = BasicProperties::default()
            .with_correlation_id(corr)
            .with_headers(answer.headers)
            .with_content_type("application/grpc".into());
        let published =
            channel.basic_publish("".into(), reply_to, BasicPublishOptions::default(), &answer.body, props).await;
        if let Err(e) = published {
            tracing::warn!(error = %e, "rpc reply could not be published");
        }
    }
    ack(&delivery).await;
}

async fn ack(delivery: &Delivery) {
    if let Err(e) = delivery.ack(BasicAckOptions::default()).await {
        tracing::warn!(error = %e, "rpc request could not be acknowledged");
    }
}

struct Answer {
    headers: FieldTable,
    body: Bytes,
}

impl Answer {
    fn status(status: &Status) -> Self {
        let (parts, _) = status_response(status).into_parts();
        let mut headers = FieldTable::default();
        put_headers(&mut headers, HEADER_PREFIX, &parts.headers);
        Self { headers, body: Bytes::new() }
    }
}

async fn call(
    routes: Verify<Routes>,
    path: &str,
    table: &FieldTable,
    body: Vec<u8>,
    remaining_ms: Option<i64>,
) -> Answer {
    let mut req = http::Request::new(Body::new(Full::new(Bytes::from(body))));
    *req.method_mut() = http::Method::POST;
    match path.parse::<http::Uri>() {
        Ok(uri) => *req.uri_mut() = uri,
        Err(_) => {
            return Answer::status(&Status::invalid_argument("rpc request with an invalid path"));
        }
    }
    *req.headers_mut() = take_headers(table, HEADER_PREFIX);
    let fut = routes.oneshot(req);
    let resp = match remaining_ms {
        Some(ms) => match tokio::time::timeout(Duration::from_millis(ms.unsigned_abs()), fut).await {
            Ok(r) => r,
            Err(_) => {
                return Answer::status(&Status::deadline_exceeded("deadline exceeded while handling"));
            }
        },
        None => fut.await,
    };
    let resp = match resp {
        Ok(resp) => resp,
        Err(never) => match never {},
    };
    let (parts, body) = resp.into_parts();
    let collected = match body.collect().await {
        Ok(c) => c,
        Err(e) => return Answer::status(&Status::internal(format!("reading response body: {e}"))),
    };
    let mut headers = FieldTable::default();
    put_headers(&mut headers, HEADER_PREFIX, &parts.headers);
    if let Some(trailers) = collected.trailers() {
        put_headers(&mut headers, TRAILER_PREFIX, trailers);
    }
    Answer { headers, body: collected.to_bytes() }
}
