//! hubbub auth service: credentials, password hashing (argon2id) and access tokens. Served over
//! gRPC and RabbitMQ from one implementation (`rpc.rs`); profiles live in the user service.

pub mod config;
mod domain;
mod error;
mod rpc;
mod startup;
mod store;

pub use config::AuthSettings;
pub use error::{Error, Result};
pub use startup::{Deps, run};
