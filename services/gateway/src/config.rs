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
    /// Largest avatar image, in bytes.
    pub avatar_max_bytes: u64,
    /// Content types an avatar may have (comma-separated).
    pub avatar_types: String,
    /// Requests one user may make per minute (a token bucket in Redis, shared by every gateway).
    pub rest_per_minute: u32,
    /// Requests without a token one client address may make per minute (register, login,
    /// refresh, logout; a token bucket in Redis, shared by every gateway).
    pub rest_per_minute_anonymous: u32,
    /// Messages one user may send per `message_limit_secs` (the same bucket as the chat nodes'
    /// `[chat] message_limit`: keep the two equal).
    pub message_limit: u32,
    /// The period of `message_limit`, in seconds.
    pub message_limit_secs: u64,
    /// How long a request may take before it is answered 503 `REQUEST_TIMEOUT` (its work is
    /// dropped; a send already handed to the pipeline still completes, and a retry with its
    /// `clientMsgId` gets the first answer).
    pub request_timeout_ms: u64,
}

impl Default for GatewaySettings {
    fn default() -> Self {
        Self {
            bind: "127.0.0.1".into(),
            port: 3000,
            body_limit_bytes: 64 * 1024,
            avatar_max_bytes: 5 * 1024 * 1024,
            avatar_types: "image/png,image/jpeg,image/webp,image/gif".into(),
            rest_per_minute: 100,
            rest_per_minute_anonymous: 100,
            message_limit: 5,
            message_limit_secs: 10,
            request_timeout_ms: 30_000,
        }
    }
}
