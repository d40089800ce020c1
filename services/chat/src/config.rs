//! Settings of a chat node.

use serde::{Deserialize, Serialize};

/// `[chat]`.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default)]
pub struct ChatSettings {
    /// This node's name (logs, admin views; must be unique among running nodes).
    pub node_id: String,
    /// Address to bind.
    pub bind: String,
    /// Port to bind (the `--port` flag overrides it).
    pub port: u16,
    /// How long a send waits for the message service before answering SERVER_ERROR.
    pub ack_timeout_ms: u64,
    /// Largest Socket.IO packet a client may send, in bytes.
    pub max_payload_bytes: u64,
    /// Longest client message id.
    pub client_msg_id_max: usize,
    /// How often the node renews its sockets' presence leases and its own report, in seconds.
    pub presence_refresh_secs: u64,
    /// How long a presence lease lasts without renewal (a crashed node's sockets go offline
    /// after this), in seconds.
    pub presence_ttl_secs: u64,
    /// Read buffer of each websocket, in bytes: held by every idle connection, so it sets much
    /// of the memory per connection. A larger frame costs one more read: once its header is in,
    /// the buffer grows to the frame's length (and keeps that capacity while the socket lives).
    pub ws_read_buffer_bytes: usize,
    /// Packets queued to one socket before it counts as a client that does not read: the next
    /// emit to it closes it, so it reconnects and catches up with `chat.sync` instead of
    /// missing a message unawares. Slots are taken only while packets wait, so an idle socket
    /// costs nothing for a large value; a socket that fills it holds this many packets.
    pub max_buffer_packets: usize,
    /// How often the node pings each socket (Engine.IO heartbeat), in milliseconds.
    pub ping_interval_ms: u64,
    /// How long a socket has to answer a ping before it is closed, in milliseconds. A client
    /// also closes its connection when no ping comes within interval + timeout.
    pub ping_timeout_ms: u64,
    /// How often the node sends the delivered and seen receipts it noted (folded per group and
    /// user), in milliseconds.
    pub receipt_flush_ms: u64,
    /// How long a typist who stops refreshing counts as typing, in milliseconds.
    pub typing_ttl_ms: u64,
    /// Messages one user may send per `message_limit_secs`, over all their sockets and nodes
    /// (a token bucket in Redis; REST sends count too).
    pub message_limit: u32,
    /// The period of `message_limit`, in seconds.
    pub message_limit_secs: u64,
    /// Events one socket may send per second, of any kind (a token bucket in the node).
    pub socket_events_per_sec: u32,
}

impl Default for ChatSettings {
    fn default() -> Self {
        Self {
            node_id: "chat-1".into(),
            bind: "127.0.0.1".into(),
            port: 4001,
            ack_timeout_ms: 10_000,
            max_payload_bytes: 64 * 1024,
            client_msg_id_max: 128,
            presence_refresh_secs: 20,
            presence_ttl_secs: 60,
            ws_read_buffer_bytes: 1024,
            max_buffer_packets: 1024,
            ping_interval_ms: 25_000,
            ping_timeout_ms: 20_000,
            receipt_flush_ms: 100,
            typing_ttl_ms: 5000,
            message_limit: 5,
            message_limit_secs: 10,
            socket_events_per_sec: 10,
        }
    }
}
