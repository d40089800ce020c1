//! Deleted accounts leave their groups: the group service consumes `auth.events` (its own
//! consumer group, offsets committed after the work) and has each deleted account leave every
//! group as if it had left by itself, so ownership is handed over and chat nodes are told.
//! Direct chats keep both members: the other party keeps the conversation with a deleted user.

use std::sync::Arc;

use hubbub_events::EventConsumer;
use hubbub_events::rdkafka::Message as _;
use hubbub_events::rdkafka::consumer::{CommitMode, Consumer};
use hubbub_proto::events::{AuthEvent, auth_event::Event};
use prost::Message as _;
use tokio_util::sync::CancellationToken;

use crate::rpc::Groups;
use crate::store::GroupStore;

/// Runs until `shutdown`.
pub async fn run<S: GroupStore>(groups: Arc<Groups<S>>, consumer: EventConsumer, shutdown: CancellationToken) {
    while let Some(record) = hubbub_events::next(&consumer, &shutdown, "auth events").await {
        if let Ok(AuthEvent { user_id, event: Some(Event::AccountDeleted(_)), .. }) =
            AuthEvent::decode(record.payload().unwrap_or_default())
        {
            let request_id = hubbub_events::request_id(&record).unwrap_or_default();
            // Retried in place: committing a later record would skip this one for good.
            let mut backoff = hubbub_events::Backoff::default();
            while let Err(e) = groups.forget_user(&request_id, &user_id).await {
                tracing::error!(error = %e, %user_id, "removing a deleted account from its groups; retrying");
                if !backoff.wait(&shutdown).await {
                    return;
                }
            }
        }
        if let Err(e) = consumer.commit_message(&record, CommitMode::Async) {
            tracing::warn!(error = %e, "committing an auth event offset");
        }
    }
}
