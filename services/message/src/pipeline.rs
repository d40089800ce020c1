//! The write path: post commands in, durable messages out.
//!
//! One consumer handles its partitions in order, and every group lives in one partition, so it
//! is the single writer of each of its groups: it assigns `seq` = last + 1 from a cache it
//! reloads from the store on a miss or a conflict. A command's offset is committed only after
//! its message is stored and its event published, so a crash re-delivers it; the unique index
//! on (group, sender, client id) turns that re-delivery into a duplicate, never a second message.

use std::collections::HashMap;
use std::time::Duration;

use hubbub_events::rdkafka::Message as _;
use hubbub_events::rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use hubbub_events::{Backoff, Producer};
use hubbub_proto::events::{MessageEvent, MessagePosted, MessageRejected, PostMessage, message_event};
use hubbub_proto::group::GetMembershipRequest;
use hubbub_proto::group::group_service_client::GroupServiceClient;
use hubbub_proto::message::Message;
use hubbub_rpc::{Channel, Ctx};
use mongodb::bson::oid::ObjectId;
use prost::Message as _;
use tokio_util::sync::CancellationToken;

use crate::store::{Inserted, MessageStore};
use crate::{MessageSettings, Result};

/// The pipeline's state: the store, the producer and the seq cache.
pub struct Pipeline<S> {
    pub(crate) settings: MessageSettings,
    pub(crate) store: S,
    pub(crate) producer: Producer,
    /// Full name of the events topic.
    pub(crate) events_topic: String,
    /// Membership is checked here, at write time, against the group service's store: a chat
    /// node's view may lag a removal by milliseconds, this check does not.
    pub(crate) groups: GroupServiceClient<Channel>,
    seqs: HashMap<String, u64>,
}

/// Longest client message id we accept.
const CLIENT_MSG_ID_MAX: usize = 128;

impl<S: MessageStore> Pipeline<S> {
    /// A pipeline with an empty seq cache.
    pub fn new(
        settings: MessageSettings,
        store: S,
        producer: Producer,
        events_topic: String,
        groups: GroupServiceClient<Channel>,
    ) -> Self {
        Self { settings, store, producer, events_topic, groups, seqs: HashMap::new() }
    }

    /// Consumes commands until `shutdown`.
    pub async fn run(mut self, consumer: StreamConsumer, shutdown: CancellationToken) {
        while let Some(record) = hubbub_events::next(&consumer, &shutdown, "post commands").await {
            let request_id = hubbub_events::request_id(&record);
            match PostMessage::decode(record.payload().unwrap_or_default()) {
                Ok(cmd) => {
                    let span = tracing::info_span!("post", request_id = request_id.as_deref().unwrap_or(""), group_id = %cmd.group_id);
                    let done =
                        tracing::Instrument::instrument(self.handle(cmd, request_id.as_deref(), &shutdown), span).await;
                    if !done {
                        break; // shutting down mid-command: leave it uncommitted for the next owner
                    }
                }
                Err(e) => tracing::warn!(error = %e, "skipping an undecodable post command"),
            }
            if let Err(e) = consumer.commit_message(&record, CommitMode::Async) {
                tracing::warn!(error = %e, "committing a post command offset");
            }
        }
        self.producer.flush(Duration::from_secs(5));
    }

    /// Stores and publishes one command, retrying transient failures until done. Returns false
    /// when shutdown interrupted it.
    async fn handle(&mut self, cmd: PostMessage, request_id: Option<&str>, shutdown: &CancellationToken) -> bool {
        // The id of a message this event announces for the first time.
        let mut announced = None;
        let checked = match self.validate(&cmd) {
            Ok(()) => match self.is_member(&cmd, request_id, shutdown).await {
                Some(true) => Ok(()),
                Some(false) => Err(("NOT_A_MEMBER", "not a member of this group".to_owned())),
                None => return false,
            },
            Err(e) => Err(e),
        };
        let event = match checked {
            Err((code, message)) => message_event::Event::Rejected(MessageRejected {
                group_id: cmd.group_id.clone(),
                sender_id: cmd.sender_id.clone(),
                client_msg_id: cmd.client_msg_id.clone(),
                code: code.into(),
                message,
                origin_node: cmd.origin_node.clone(),
            }),
            Ok(()) => {
                let mut backoff = Backoff::default();
                let stored = loop {
                    match self.store_message(&cmd).await {
                        Ok(stored) => break stored,
                        Err(e) => {
                            tracing::error!(error = %e, "storing a message; retrying");
                            if !backoff.wait(shutdown).await {
                                return false;
                            }
                        }
                    }
                };
                let (message, duplicate) = stored;
                if !duplicate {
                    announced = Some(message.id.clone());
                }
                message_event::Event::Posted(MessagePosted {
                    message: Some(message),
                    duplicate,
                    origin_node: cmd.origin_node.clone(),
                    origin_socket: cmd.origin_socket.clone(),
                })
            }
        };
        let payload = MessageEvent { event: Some(event) }.encode_to_vec();
        let mut backoff = Backoff::default();
        loop {
            match self.producer.send(&self.events_topic, &cmd.group_id, &payload, request_id).await {
                Ok(()) => {
                    if let Some(id) = announced
                        && let Err(e) = self.store.mark_published(&id).await
                    {
                        // Only a redelivery of this command could notice: it would announce
                        // the message once more, which clients ignore by id.
                        tracing::warn!(error = %e, message_id = %id, "recording a message as published");
                    }
                    return true;
                }
                Err(e) => {
                    tracing::error!(error = %e, "publishing a message event; retrying");
                    if !backoff.wait(shutdown).await {
                        return false;
                    }
                }
            }
        }
    }

    /// Whether the sender belongs to the group now; retried while the group service is
    /// unreachable. `None` when shutdown interrupted it.
    async fn is_member(
        &self,
        cmd: &PostMessage,
        request_id: Option<&str>,
        shutdown: &CancellationToken,
    ) -> Option<bool> {
        let mut backoff = Backoff::default();
        loop {
            let ctx = Ctx::new(request_id.unwrap_or_default());
            let req = GetMembershipRequest { group_id: cmd.group_id.clone(), user_id: cmd.sender_id.clone() };
            match self.groups.clone().get_membership(ctx.request(req)).await {
                Ok(m) => return Some(m.into_inner().member),
                Err(e) => {
                    tracing::error!(error = %e, "checking membership; retrying");
                    if !backoff.wait(shutdown).await {
                        return None;
                    }
                }
            }
        }
    }

    fn validate(&self, cmd: &PostMessage) -> std::result::Result<(), (&'static str, String)> {
        let invalid = |m: String| Err(("INVALID_MESSAGE", m));
        if cmd.group_id.is_empty() || cmd.sender_id.is_empty() {
            return invalid("groupId and sender are required".into());
        }
        if cmd.client_msg_id.is_empty() || cmd.client_msg_id.len() > CLIENT_MSG_ID_MAX {
            return invalid(format!("clientMsgId must be 1–{CLIENT_MSG_ID_MAX} bytes"));
        }
        let chars = cmd.content.chars().count();
        if chars == 0 || chars > self.settings.content_max {
            return invalid(format!("content must be 1–{} characters", self.settings.content_max));
        }
        if !matches!(cmd.r#type.as_str(), "text" | "image" | "file") {
            return invalid("type must be text, image or file".into());
        }
        if cmd.attachments.len() > self.settings.attachments_max {
            return invalid(format!("at most {} attachments", self.settings.attachments_max));
        }
        Ok(())
    }

    /// Assigns the next seq and stores; `(message, already announced)`.
    async fn store_message(&mut self, cmd: &PostMessage) -> Result<(Message, bool)> {
        loop {
            let seq = match self.seqs.get(&cmd.group_id) {
                Some(last) => last + 1,
                None => self.store.last_seq(&cmd.group_id).await? + 1,
            };
            let message = Message {
                id: ObjectId::new().to_hex(),
                group_id: cmd.group_id.clone(),
                seq,
                sender_id: cmd.sender_id.clone(),
                content: cmd.content.clone(),
                r#type: cmd.r#type.clone(),
                attachments: cmd.attachments.clone(),
                client_msg_id: Some(cmd.client_msg_id.clone()),
                created_at_ms: mongodb::bson::DateTime::now().timestamp_millis(),
                edited_at_ms: None,
                deleted: false,
            };
            match self.store.insert(&message).await? {
                Inserted::New => {
                    self.seqs.insert(cmd.group_id.clone(), seq);
                    return Ok((message, false));
                }
                // Announced already: a retry, acknowledged again but not fanned out again. Never
                // announced (a crash after the insert): announce it now, as new.
                Inserted::Duplicate(existing, published) => return Ok((*existing, published)),
                Inserted::SeqTaken => {
                    // Another writer (an earlier owner of this partition) moved the group on.
                    self.seqs.remove(&cmd.group_id);
                }
            }
        }
    }
}
