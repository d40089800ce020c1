//! The node's one Kafka consumer: it tails `message.events`, `group.events` and `auth.events`
//! together (one fetch loop per process, not one per topic) and hands each record to its topic's
//! handler, in the order the node receives them.

use hubbub_events::EventConsumer;
use hubbub_events::rdkafka::Message as _;
use socketioxide::SocketIo;
use tokio_util::sync::CancellationToken;

use crate::state::Chat;

/// Full names of the topics the node follows.
pub struct Topics {
    /// `message.events`.
    pub messages: String,
    /// `group.events`.
    pub groups: String,
    /// `auth.events`.
    pub auth: String,
}

/// Runs until `shutdown`.
pub async fn run(io: SocketIo, chat: Chat, consumer: EventConsumer, topics: Topics, shutdown: CancellationToken) {
    while let Some(record) = hubbub_events::next(&consumer, &shutdown, "node events").await {
        // A backlog is read without waiting: give the sockets' tasks their turn now and then, so
        // a burst is written out as it is emitted rather than filling every queue first.
        tokio::task::consume_budget().await;
        let payload = record.payload().unwrap_or_default();
        let topic = record.topic();
        if topic == topics.messages {
            crate::fanout::handle(&io, &chat, payload).await;
        } else if topic == topics.groups {
            crate::groups::handle(&io, payload).await;
        } else if topic == topics.auth {
            crate::auth_events::handle(&io, payload);
        }
    }
}
