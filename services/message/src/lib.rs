//! hubbub message service: the only writer of messages and read state. It consumes commands
//! from Kafka (posts, edits, deletes, receipts and membership fences; one partition per group,
//! so one writer per group), assigns each group's next `seq`, stores messages and watermarks in
//! MongoDB, then publishes the durable events every chat node fans out. History, catch-up,
//! attachment uploads and downloads, and requests that wait for the pipeline (REST send, edit,
//! delete) are served over gRPC and RabbitMQ from one implementation.

mod attachments;
pub mod config;
mod error;
mod pipeline;
mod requests;
mod rpc;
mod startup;
mod store;

pub use config::MessageSettings;
pub use error::{Error, Result};
pub use startup::{Deps, run};
