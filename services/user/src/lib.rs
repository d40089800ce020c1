//! hubbub user service: profiles (username, display name, avatar, bio), search by prefix,
//! presence (from Redis) and last-seen (kept in MongoDB). The auth service creates and deletes
//! profiles. Served over gRPC and RabbitMQ from one implementation.

pub mod config;
mod error;
mod rpc;
mod startup;
mod store;

pub use config::UserSettings;
pub use error::{Error, Result};
pub use startup::{Deps, run};
