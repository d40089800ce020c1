//! The channel generated tonic clients ride on: gRPC or RabbitMQ, chosen at construction.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use tonic::body::Body;
use tower::Service;

use crate::amqp;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A transport for generated tonic clients: `AuthServiceClient::new(channel)`.
#[derive(Clone, Debug)]
pub enum Channel {
    /// HTTP/2 gRPC.
    Grpc(tonic::transport::Channel),
    /// RabbitMQ RPC.
    Amqp(amqp::ClientChannel),
}

impl Service<http::Request<Body>> for Channel {
    type Response = http::Response<Body>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        match self {
            Channel::Grpc(c) => Service::poll_ready(c, cx).map_err(Into::into),
            Channel::Amqp(_) => Poll::Ready(Ok(())),
        }
    }

    fn call(&mut self, req: http::Request<Body>) -> Self::Future {
        match self {
            Channel::Grpc(c) => {
                let fut = Service::call(c, req);
                Box::pin(async move { fut.await.map_err(Into::into) })
            }
            Channel::Amqp(c) => {
                let c = c.clone();
                Box::pin(async move { Ok(c.call(req).await) })
            }
        }
    }
}
