//! hubbub group service: groups, direct chats and rooms, their members and roles. Served over
//! gRPC and RabbitMQ from one implementation.

mod accounts;
mod activity;
pub mod config;
mod error;
mod rpc;
mod startup;
mod store;

pub use config::GroupSettings;
pub use error::{Error, Result};
pub use startup::{Deps, run};
