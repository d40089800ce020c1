//! The channel generated tonic clients ride on: gRPC or RabbitMQ, chosen at construction.
//! Every call leaves with this process's internal credential for the caller it names.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use tonic::body::Body;
use tower::Service;

use crate::Credentials;
use crate::amqp;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A transport for generated tonic clients: `AuthServiceClient::new(channel)`.
#[derive(Clone, Debug)]
pub struct Channel {
    inner: Inner,
    credentials: Credentials,
}

#[derive(Clone, Debug)]
pub(crate) enum Inner {
    /// HTTP/2 gRPC.
    Grpc(tonic::transport::Channel),
    /// RabbitMQ RPC.
    Amqp(amqp::ClientChannel),
}

impl Channel {
    pub(crate) fn new(inner: Inner, credentials: Credentials) -> Self {
        Self { inner, credentials }
    }
}

impl Service<http::Request<Body>> for Channel {
    type Response = http::Response<Body>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        match &mut self.inner {
            Inner::Grpc(c) => Service::poll_ready(c, cx).map_err(Into::into),
            Inner::Amqp(_) => Poll::Ready(Ok(())),
        }
    }

    fn call(&mut self, mut req: http::Request<Body>) -> Self::Future {
        self.credentials.sign_request(&mut req);
        match &mut self.inner {
            Inner::Grpc(c) => {
                let fut = Service::call(c, req);
                Box::pin(async move { fut.await.map_err(Into::into) })
            }
            Inner::Amqp(c) => {
                let c = c.clone();
                Box::pin(async move { Ok(c.call(req).await) })
            }
        }
    }
}
