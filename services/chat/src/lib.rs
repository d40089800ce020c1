//! hubbub chat node: Socket.IO sessions. A socket authenticates with its access token, joins a
//! room per group of its user, and sends messages as Kafka post commands; the node acknowledges
//! a send once the message service reports it durable, and fans every durable message out to
//! its own sockets in that group's room. Any number of nodes run side by side: each reads all
//! message events.

mod auth_events;
pub mod config;
mod consume;
mod events;
mod fanout;
mod groups;
mod order;
mod presence;
mod receipts;
mod session;
mod startup;
mod state;
mod typing;

pub use config::ChatSettings;
pub use startup::{Deps, run};
