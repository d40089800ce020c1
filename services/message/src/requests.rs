//! Requests that must wait for the pipeline (a REST send, an edit, a delete): this replica
//! produces the command with itself as origin, follows `message.events` and hands each outcome
//! that names it to the request waiting for it. Whichever replica owns the group's partition
//! does the work; the asker only listens.

use std::sync::Arc;
use std::time::Duration;

use hubbub_events::EventConsumer;
use hubbub_events::rdkafka::Message as _;
use hubbub_events::{Producer, Waiters, post_key};
use hubbub_proto::events::{MessageCommand, MessageEvent, message_event::Event};
use hubbub_proto::message::Message;
use prost::Message as _;
use tokio_util::sync::CancellationToken;

use crate::{Error, Result};

/// How the pipeline settled a request.
#[derive(Clone, Debug)]
pub enum Settled {
    /// Stored (or, with `true`, stored before: a repeated client id).
    Posted(Message, bool),
    /// Edited or deleted.
    Changed(Message),
    /// Refused with an API code.
    Rejected(String, String),
}

/// This replica's waiting requests.
pub struct Requests {
    /// Names this replica in the commands it produces.
    pub node: String,
    producer: Producer,
    commands_topic: String,
    waiters: Waiters<Settled>,
    timeout: Duration,
}

impl Requests {
    /// A replica's requests, under a fresh node name.
    pub fn new(producer: Producer, commands_topic: String, timeout: Duration) -> Self {
        let node = format!("message-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
        Self { node, producer, commands_topic, waiters: Waiters::default(), timeout }
    }

    /// Produces `command` into `group`'s partition and waits for the outcome settled under
    /// `key`. The produce and the wait share one timeout: while the broker is away a produce
    /// can outlast its delivery timeout, and the caller's deadline must not pass first.
    pub async fn ask(&self, group: &str, key: &str, command: &MessageCommand, request_id: &str) -> Result<Settled> {
        let outcome = self.waiters.wait_for(key);
        let asked = async {
            self.send(group, command, request_id).await?;
            outcome.await.map_err(|_| Error::NotConfirmed)
        };
        let settled = tokio::time::timeout(self.timeout, asked).await.unwrap_or(Err(Error::NotConfirmed));
        if settled.is_err() {
            self.waiters.abandon(key);
        }
        settled
    }

    /// Produces `command` into `group`'s partition without waiting for its outcome.
    pub async fn send(&self, group: &str, command: &MessageCommand, request_id: &str) -> Result<()> {
        self.producer.send(&self.commands_topic, group, &command.encode_to_vec(), Some(request_id)).await.map_err(|e| {
            tracing::error!(error = %e, "producing a command");
            Error::NotConfirmed
        })
    }

    fn settle(&self, event: Event) {
        match event {
            Event::Posted(p) if p.origin_node == self.node => {
                if let Some(m) = p.message {
                    let key = post_key(&m.group_id, &m.sender_id, m.client_msg_id.as_deref().unwrap_or(""));
                    self.waiters.settle(&key, &Settled::Posted(m, p.duplicate));
                }
            }
            Event::Changed(c) if c.origin_node == self.node => {
                if let Some(m) = c.message {
                    self.waiters.settle(&c.origin_key, &Settled::Changed(m));
                }
            }
            Event::Rejected(r) if r.origin_node == self.node => {
                let key = if r.origin_key.is_empty() {
                    post_key(&r.group_id, &r.sender_id, &r.client_msg_id)
                } else {
                    r.origin_key
                };
                self.waiters.settle(&key, &Settled::Rejected(r.code, r.message));
            }
            _ => {}
        }
    }
}

/// Follows `message.events` (from its end) until `shutdown`, settling this replica's requests.
pub async fn follow(requests: Arc<Requests>, consumer: EventConsumer, shutdown: CancellationToken) {
    while let Some(record) = hubbub_events::next(&consumer, &shutdown, "message events").await {
        match MessageEvent::decode(record.payload().unwrap_or_default()) {
            Ok(MessageEvent { event: Some(e) }) => requests.settle(e),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "skipping an undecodable message event"),
        }
    }
}
