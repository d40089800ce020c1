//! Group activity: the group service follows `message.events` (its own consumer group) and
//! moves each group's last activity to its newest message, so a user's groups list most recent
//! activity first.

use hubbub_events::rdkafka::Message as _;
use hubbub_events::rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use hubbub_proto::events::{MessageEvent, message_event::Event};
use prost::Message as _;
use tokio_util::sync::CancellationToken;

use crate::store::GroupStore;

/// Runs until `shutdown`.
pub async fn run<S: GroupStore>(store: S, consumer: StreamConsumer, shutdown: CancellationToken) {
    while let Some(record) = hubbub_events::next(&consumer, &shutdown, "message events").await {
        if let Ok(MessageEvent { event: Some(Event::Posted(posted)) }) =
            MessageEvent::decode(record.payload().unwrap_or_default())
            && let Some(m) = posted.message
        {
            // Retried in place: committing a later record would skip this one for good.
            let mut backoff = hubbub_events::Backoff::default();
            while let Err(e) = store.touch_activity(&m.group_id, m.created_at_ms).await {
                tracing::warn!(error = %e, group_id = %m.group_id, "recording group activity; retrying");
                if !backoff.wait(&shutdown).await {
                    return;
                }
            }
        }
        if let Err(e) = consumer.commit_message(&record, CommitMode::Async) {
            tracing::warn!(error = %e, "committing a message event offset");
        }
    }
}
