//! The node's shared state, and the acknowledgements waiting for the message service.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

pub use hubbub_events::post_key;
use hubbub_events::{Producer, Waiters};
use hubbub_proto::group::group_service_client::GroupServiceClient;
use hubbub_proto::message::Message;
use hubbub_proto::message::message_service_client::MessageServiceClient;
use hubbub_proto::user::user_service_client::UserServiceClient;
use hubbub_redis::Redis;
use hubbub_rpc::Channel;
use hubbub_token::Tokens;

use crate::ChatSettings;
use crate::receipts::Receipts;

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
    waiters: Waiters<Outcome>,
    receipts: Receipts,
    fanned: Fanned,
}

impl std::ops::Deref for Chat {
    type Target = Parts;
    fn deref(&self) -> &Parts {
        &self.0.parts
    }
}

/// What a node's state is built from.
pub struct Parts {
    /// `[chat]`.
    pub settings: ChatSettings,
    /// Verifies access tokens.
    pub tokens: Tokens,
    /// Membership questions.
    pub groups: GroupServiceClient<Channel>,
    /// Edits, deletes and catch-up.
    pub messages: MessageServiceClient<Channel>,
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
        Self(Arc::new(Inner {
            parts,
            waiters: Waiters::default(),
            receipts: Receipts::default(),
            fanned: Fanned::default(),
        }))
    }

    /// How long a send waits for durability.
    pub fn ack_timeout(&self) -> Duration {
        Duration::from_millis(self.settings.ack_timeout_ms)
    }

    /// Posts waiting for the message service's outcome.
    pub fn waiters(&self) -> &Waiters<Outcome> {
        &self.0.waiters
    }

    /// Receipts noted since the last flush.
    pub fn receipts(&self) -> &Receipts {
        &self.0.receipts
    }

    /// The newest message of each group this node has fanned out.
    pub fn fanned(&self) -> &Fanned {
        &self.0.fanned
    }
}

/// Groups this node remembers the newest fanned-out seq of before it forgets them all (a
/// forgotten group's repeats go out again, which clients drop by seq).
const FANNED_GROUPS_MAX: usize = 100_000;

/// The newest seq of each group that this node has fanned out. A group's events come in order
/// (one partition), so an event at or below it is a repeat: the message service announcing a
/// batch again after a failed publish, or records read twice. Delivery stays at least once
/// across a node restart; in between, each node hands each message out once.
#[derive(Default)]
pub struct Fanned(std::sync::Mutex<HashMap<String, u64>>);

impl Fanned {
    /// Whether `seq` of `group` is new here (and remembers it if so).
    pub fn first(&self, group: &str, seq: u64) -> bool {
        let Ok(mut newest) = self.0.lock() else { return true };
        if let Some(last) = newest.get_mut(group) {
            if seq <= *last {
                return false;
            }
            *last = seq;
            return true;
        }
        if newest.len() >= FANNED_GROUPS_MAX {
            newest.clear();
        }
        newest.insert(group.to_owned(), seq);
        true
    }
}

/// Messages of a Redis pub/sub channel.
pub type Subscription = std::pin::Pin<Box<dyn futures_util::Stream<Item = Vec<u8>> + Send>>;

/// Subscribes to the pub/sub `channel`, trying again each second while Redis cannot be reached;
/// `None` once `shutdown` fires.
pub async fn subscribe(
    chat: &Chat,
    channel: &str,
    shutdown: &tokio_util::sync::CancellationToken,
) -> Option<Subscription> {
    loop {
        if shutdown.is_cancelled() {
            return None;
        }
        match chat.redis.subscribe(channel).await {
            Ok(stream) => return Some(Box::pin(stream)),
            Err(e) => {
                tracing::warn!(error = %e, channel, "subscribing; retrying");
                tokio::select! {
                    _ = shutdown.cancelled() => return None,
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Fanned;

    #[test]
    fn a_groups_repeats_are_not_fanned_out_twice() {
        let fanned = Fanned::default();
        assert!(fanned.first("g", 1));
        assert!(fanned.first("g", 2));
        assert!(!fanned.first("g", 2), "the same seq again");
        assert!(!fanned.first("g", 1), "an older seq announced again");
        assert!(fanned.first("h", 1), "another group has its own seqs");
        assert!(fanned.first("g", 3));
    }
}
