//! hubbub API gateway: the public HTTP API of API.md. It checks access tokens, gives every
//! request an id, calls the services over RPC (the transport per service comes from settings)
//! and maps their statuses to API.md's error codes.

pub mod config;
mod error;
mod extract;
mod openapi;
mod routes;
mod startup;

pub use config::GatewaySettings;
pub use startup::{Deps, run};
