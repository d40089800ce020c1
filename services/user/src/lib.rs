//! hubbub user service: profiles (username, display name, avatar, bio). The auth service creates
//! a profile when an account registers. Served over gRPC and RabbitMQ from one implementation.

mod error;
mod rpc;
mod startup;
mod store;

pub use error::{Error, Result};
pub use startup::run;
