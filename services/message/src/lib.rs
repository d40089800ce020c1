//! hubbub message service: the only writer of messages. It consumes post commands from Kafka
//! (one partition per group, so one writer per group), assigns each group's next `seq`, stores
//! the message in MongoDB, then publishes the durable event every chat node fans out. History is
//! served over gRPC and RabbitMQ from one implementation.

pub mod config;
mod error;
mod pipeline;
mod rpc;
mod startup;
mod store;

pub use config::MessageSettings;
pub use error::{Error, Result};
pub use startup::{Deps, run};
