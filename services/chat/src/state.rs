//! The node's shared state, and the acknowledgements waiting for the message service.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hubbub_events::Producer;
use hubbub_proto::group::group_service_client::GroupServiceClient;
use hubbub_proto::message::Message;
use hubbub_proto::user::user_service_client::UserServiceClient;
use hubbub_redis::Redis;
use hubbub_rpc::Channel;
use hubbub_token::Tokens;
use tokio::sync::oneshot;

use crate::ChatSettings;

/// How the message service settled a post.
#[derive(Clone, Debug)]
pub enum Outcome {
    /// Durable (possibly the first copy of a retried send).
    Posted(Message),
    /// Refused, with an API error code.
    Rejected {
        /// API error code.
        code: String,
        /// Human text.
        message: String,
    },
}

/// Shared by every socket of the node; reads as its [`Parts`].
#[derive(Clone)]
pub struct Chat(Arc<Inner>);

struct Inner {
    parts: Parts,
    pending: Mutex<HashMap<String, Vec<oneshot::Sender<Outcome>>>>,
}

impl std::ops::Deref for Chat {
    type Target = Parts;
    fn deref(&self) -> &Parts {
        &self.0.parts
    }
}

/// The key of a post: who sent which client message id to which group.
pub fn post_key(group_id: &str, sender_id: &str, client_msg_id: &str) -> String {
    format!("{group_id}\u{0}{sender_id}\u{0}{client_msg_id}")
}

/// What a node's state is built from.
pub struct Parts {
    /// `[chat]`.
    pub settings: ChatSettings,
    /// Verifies access tokens.
    pub tokens: Tokens,
    /// Membership questions.
    pub groups: GroupServiceClient<Channel>,
    /// Last-seen reports.
    pub users: UserServiceClient<Channel>,
    /// Revocations and presence.
    pub redis: Redis,
    /// Post commands out.
    pub producer: Producer,
    /// Full name of the commands topic.
    pub commands_topic: String,
}

impl Chat {
    /// Node state.
    pub fn new(parts: Parts) -> Self {
        Self(Arc::new(Inner { parts, pending: Mutex::default() }))
    }

    /// How long a send waits for durability.
    pub fn ack_timeout(&self) -> Duration {
        Duration::from_millis(self.settings.ack_timeout_ms)
    }

    /// Registers interest in the outcome of post `key`.
    pub fn wait_for(&self, key: &str) -> oneshot::Receiver<Outcome> {
        let (tx, rx) = oneshot::channel();
        if let Ok(mut p) = self.0.pending.lock() {
            p.entry(key.to_owned()).or_default().push(tx);
        }
        rx
    }

    /// Delivers the outcome of post `key` to everyone waiting for it.
    pub fn settle(&self, key: &str, outcome: &Outcome) {
        let waiters = self.0.pending.lock().ok().and_then(|mut p| p.remove(key)).unwrap_or_default();
        for tx in waiters {
            let _ = tx.send(outcome.clone());
        }
    }

    /// Forgets waiters that gave up on post `key`.
    pub fn abandon(&self, key: &str) {
        if let Ok(mut p) = self.0.pending.lock()
            && let Some(waiters) = p.get_mut(key)
        {
            waiters.retain(|tx| !tx.is_closed());
            if waiters.is_empty() {
                p.remove(key);
            }
        }
    }
}
