//! Group activity: the group service follows `message.events` (its own consumer group) and
//! moves each group's last activity to its newest message, so a user's groups list most recent
//! activity first. Records arriving within `activity_window_ms` of a batch's first are folded:
//! one write per group per batch, however many messages the group got, then one commit (a
//! group list may lag a message by that window; without it a busy group cost one write per
//! message).

use std::collections::HashMap;
use std::time::Duration;

use hubbub_events::EventConsumer;
use hubbub_events::rdkafka::consumer::{CommitMode, Consumer};
use hubbub_events::rdkafka::{Message as _, Offset, TopicPartitionList};
use hubbub_proto::events::{MessageEvent, message_event::Event};
use prost::Message as _;
use tokio_util::sync::CancellationToken;

use crate::store::GroupStore;

/// Most records folded into one batch.
const BATCH_MAX: usize = 1000;

/// Runs until `shutdown`, folding what arrives within `window` of a batch's first record.
pub async fn run<S: GroupStore>(store: S, consumer: EventConsumer, window: Duration, shutdown: CancellationToken) {
    while let Some(first) = hubbub_events::next(&consumer, &shutdown, "message events").await {
        let mut latest: HashMap<String, i64> = HashMap::new();
        let mut offsets: HashMap<(String, i32), i64> = HashMap::new();
        let mut fold = |record: &hubbub_events::rdkafka::message::BorrowedMessage<'_>| {
            if let Ok(MessageEvent { event: Some(Event::Posted(posted)) }) =
                MessageEvent::decode(record.payload().unwrap_or_default())
                && let Some(m) = posted.message
            {
                let at = latest.entry(m.group_id).or_insert(m.created_at_ms);
                *at = (*at).max(m.created_at_ms);
            }
            let o = offsets.entry((record.topic().to_owned(), record.partition())).or_insert(record.offset());
            *o = (*o).max(record.offset());
        };
        fold(&first);
        drop(first);
        // Whatever arrives within the window joins the batch.
        let until = tokio::time::Instant::now() + window;
        for _ in 1..BATCH_MAX {
            match tokio::time::timeout_at(until, consumer.recv()).await {
                Ok(Ok(record)) => fold(&record),
                _ => break,
            }
        }
        let latest: Vec<(String, i64)> = latest.into_iter().collect();
        // Retried in place: committing past these records would skip them for good.
        let mut backoff = hubbub_events::Backoff::default();
        while let Err(e) = store.touch_activity(&latest).await {
            tracing::warn!(error = %e, groups = latest.len(), "recording group activity; retrying");
            if !backoff.wait(&shutdown).await {
                return;
            }
        }
        let mut tpl = TopicPartitionList::new();
        for ((topic, partition), offset) in offsets {
            let _ = tpl.add_partition_offset(&topic, partition, Offset::Offset(offset + 1));
        }
        if let Err(e) = consumer.commit(&tpl, CommitMode::Async) {
            tracing::warn!(error = %e, "committing message event offsets");
        }
    }
}
