//! Settings of the gateway.

use serde::{Deserialize, Serialize};

/// `[gateway]`.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default)]
pub struct GatewaySettings {
    /// Address to bind.
    pub bind: String,
    /// Port to bind.
    pub port: u16,
    /// Largest request body, in bytes.
    pub body_limit_bytes: usize,
}

impl Default for GatewaySettings {
    fn default() -> Self {
        Self { bind: "127.0.0.1".into(), port: 3000, body_limit_bytes: 64 * 1024 }
    }
}
