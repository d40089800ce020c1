//! A transactional outbox: an event is stored in MongoDB in the same transaction as the change
//! it reports, and a relay publishes stored events to Kafka in the order they were stored,
//! deleting each only once the broker has confirmed it. A crash, or a broker that is down,
//! between the change and its publication delays the event; it never loses it.
//!
//! One relay at a time publishes (a lease in the same database decides which, so replicas do
//! not publish an event twice or out of order); the process that stored an event wakes its
//! relay at once, and the lease holder also looks every `poll_ms` for what others stored.
//! Consumers still see an event at least once: a relay that loses its lease mid-batch (a long
//! pause) may publish again what its successor publishes.

use std::sync::Arc;
use std::time::Duration;

use futures_util::TryStreamExt as _;
use hubbub_events::{Backoff, Producer};
use mongodb::bson::oid::ObjectId;
use mongodb::bson::{Binary, DateTime, doc, spec::BinarySubtype};
use mongodb::{ClientSession, Collection, Database, IndexModel};
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// An event to publish once the change it reports is committed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outgoing {
    /// Full topic name.
    pub topic: String,
    /// Record key (the partition, hence the order, it keeps among its key's events).
    pub key: String,
    /// Record payload.
    pub payload: Vec<u8>,
    /// Request id for the record's header.
    pub request_id: Option<String>,
}

/// How a turn of publishing ended.
enum Turn {
    /// A full batch went out: there may be more.
    More,
    /// Nothing is left to publish.
    Empty,
    /// Another process holds the lease (or it could not be checked).
    NotHolding,
}

/// Events staged in a transaction, named for [`Outbox::delivered`].
#[derive(Debug, Default)]
pub struct Staged(Vec<ObjectId>);

/// How the relay runs.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default)]
pub struct OutboxSettings {
    /// How often the lease holder looks for events stored by other processes (its own wake it
    /// at once).
    pub poll_ms: u64,
    /// How long a relay's lease lasts unless renewed; another process takes over after it.
    pub lease_ms: u64,
    /// Most events published in one round.
    pub batch_max: usize,
    /// How long a change waits for its events to be confirmed by the broker before it
    /// answers anyway (they stay stored and go out as soon as the broker takes them).
    pub deliver_timeout_ms: u64,
}

impl Default for OutboxSettings {
    fn default() -> Self {
        Self { poll_ms: 500, lease_ms: 10_000, batch_max: 256, deliver_timeout_ms: 5_000 }
    }
}

#[derive(Debug, Deserialize, Serialize)]
struct Entry {
    #[serde(rename = "_id")]
    id: ObjectId,
    topic: String,
    key: String,
    payload: Binary,
    #[serde(rename = "requestId", default, skip_serializing_if = "Option::is_none")]
    request_id: Option<String>,
    #[serde(rename = "storedAt")]
    stored_at: DateTime,
}

#[derive(Debug, Deserialize, Serialize)]
struct Lease {
    #[serde(rename = "_id")]
    id: String,
    holder: String,
    until: DateTime,
}

/// The outbox of one service's database.
#[derive(Clone)]
pub struct Outbox {
    entries: Collection<Entry>,
    leases: Collection<Lease>,
    wake: Arc<Notify>,
    /// Fired after every round that published something.
    published: Arc<Notify>,
    settings: OutboxSettings,
}

impl Outbox {
    /// The outbox in `db` (collections `outbox` and `outbox_lease`), with its index.
    pub async fn new(db: &Database, settings: OutboxSettings) -> mongodb::error::Result<Self> {
        let entries: Collection<Entry> = db.collection("outbox");
        entries.create_index(IndexModel::builder().keys(doc! { "storedAt": 1, "_id": 1 }).build()).await?;
        Ok(Self {
            entries,
            leases: db.collection("outbox_lease"),
            wake: Arc::new(Notify::new()),
            published: Arc::new(Notify::new()),
            settings,
        })
    }

    /// Stores `events` as part of the transaction `session` is in: they are published if and
    /// only if it commits. They are published in the order stored: by the storing process's
    /// clock (to the millisecond), then by id (which orders one process's events exactly).
    /// Returns what names them for [`Outbox::delivered`].
    pub async fn stage(&self, session: &mut ClientSession, events: &[Outgoing]) -> mongodb::error::Result<Staged> {
        if events.is_empty() {
            return Ok(Staged(vec![]));
        }
        let stored_at = DateTime::now();
        let docs: Vec<Entry> = events
            .iter()
            .map(|e| Entry {
                id: ObjectId::new(),
                topic: e.topic.clone(),
                key: e.key.clone(),
                payload: Binary { subtype: BinarySubtype::Generic, bytes: e.payload.clone() },
                request_id: e.request_id.clone(),
                stored_at,
            })
            .collect();
        let ids = docs.iter().map(|d| d.id).collect();
        self.entries.insert_many(docs).session(session).await?;
        Ok(Staged(ids))
    }

    /// Tells this process's relay that something was committed.
    pub fn poke(&self) {
        self.wake.notify_one();
    }

    /// Once the transaction that staged them committed: wakes the relay and waits (at most
    /// `deliver_timeout_ms`) until the broker has confirmed these events, so a caller told
    /// "done" knows its consumers can see the change (a membership fence, say) before
    /// anything the caller does next. False when the wait ran out: the events are still
    /// stored and go out as soon as the broker takes them.
    pub async fn delivered(&self, staged: &Staged) -> bool {
        if staged.0.is_empty() {
            return true;
        }
        self.poke();
        let until = tokio::time::Instant::now() + Duration::from_millis(self.settings.deliver_timeout_ms);
        loop {
            let published = self.published.notified();
            tokio::pin!(published);
            published.as_mut().enable();
            match self.entries.count_documents(doc! { "_id": { "$in": &staged.0 } }).await {
                Ok(0) => return true,
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "checking the outbox"),
            }
            tokio::select! {
                _ = published => {}
                _ = tokio::time::sleep(Duration::from_millis(100)) => {}
                _ = tokio::time::sleep_until(until) => {
                    tracing::warn!(events = staged.0.len(), "events not confirmed in time: they stay stored and go out later");
                    return false;
                }
            }
        }
    }

    /// Events stored and not yet published.
    pub async fn pending(&self) -> mongodb::error::Result<u64> {
        self.entries.count_documents(doc! {}).await
    }

    /// Publishes stored events until `shutdown`, while this process holds the lease (given
    /// up at shutdown, so a successor takes over at once; after a crash, once it runs out).
    pub async fn relay(self, producer: Producer, shutdown: CancellationToken) {
        let me = uuid::Uuid::new_v4().simple().to_string();
        self.relay_as(&me, &producer, &shutdown).await;
        let released = self
            .leases
            .update_one(doc! { "_id": "relay", "holder": &me }, doc! { "$set": { "until": DateTime::from_millis(0) } })
            .await;
        if let Err(e) = released {
            tracing::warn!(error = %e, "giving up the outbox lease");
        }
    }

    async fn relay_as(&self, me: &str, producer: &Producer, shutdown: &CancellationToken) {
        let poll = Duration::from_millis(self.settings.poll_ms.max(10));
        let lease = Duration::from_millis(self.settings.lease_ms.max(100));
        loop {
            // Publish until there is nothing left (each turn renews the lease first).
            let holding = loop {
                match self.publish_some(me, lease, producer, shutdown).await {
                    Some(Turn::More) => continue,
                    Some(Turn::Empty) => break true,
                    Some(Turn::NotHolding) => break false,
                    None => return,
                }
            };
            // A holder comes back often enough to renew its lease in time.
            let wait = if holding { poll.min(lease / 3) } else { lease / 3 };
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// Takes or renews the lease; true while this process holds it.
    async fn hold(&self, me: &str, lease: Duration) -> mongodb::error::Result<bool> {
        let now = DateTime::now();
        let until =
            DateTime::from_millis(now.timestamp_millis() + i64::try_from(lease.as_millis()).unwrap_or(i64::MAX));
        let taken = self
            .leases
            .update_one(
                doc! { "_id": "relay", "$or": [ { "holder": me }, { "until": { "$lt": now } } ] },
                doc! { "$set": { "holder": me, "until": until } },
            )
            .upsert(true)
            .await;
        match taken {
            Ok(_) => Ok(true),
            // Someone else holds it: the upsert collided with their document.
            Err(e) if hubbub_mongo::is_duplicate_key(&e) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// One turn of publishing, retried until it is done, the lease is not ours, or shutdown
    /// (`None`). The lease is taken or renewed before every attempt, so a relay that keeps
    /// failing (Kafka down) keeps it, and one that lost it stops instead of publishing beside
    /// its successor.
    async fn publish_some(
        &self,
        me: &str,
        lease: Duration,
        producer: &Producer,
        shutdown: &CancellationToken,
    ) -> Option<Turn> {
        let mut backoff = Backoff::default();
        loop {
            match self.hold(me, lease).await {
                Ok(true) => match self.round(producer).await {
                    Ok(true) => return Some(Turn::More),
                    Ok(false) => return Some(Turn::Empty),
                    Err(e) => tracing::error!(error = %e, "publishing the outbox; retrying"),
                },
                Ok(false) => return Some(Turn::NotHolding),
                Err(e) => {
                    tracing::warn!(error = %e, "outbox lease");
                    return Some(Turn::NotHolding);
                }
            }
            if !backoff.wait(shutdown).await {
                return None;
            }
        }
    }

    /// One round: the oldest stored events, published in order, and those confirmed deleted.
    /// True when there may be more, false when none were left.
    async fn round(&self, producer: &Producer) -> Result<bool, String> {
        let limit = i64::try_from(self.settings.batch_max.max(1)).unwrap_or(256);
        let batch: Vec<Entry> = self
            .entries
            .find(doc! {})
            .sort(doc! { "storedAt": 1, "_id": 1 })
            .limit(limit)
            .await
            .map_err(|e| e.to_string())?
            .try_collect()
            .await
            .map_err(|e| e.to_string())?;
        if batch.is_empty() {
            return Ok(false);
        }
        // One call per topic run, in stored order; a failure ends the round at that event, so
        // nothing after it is published before it.
        let mut confirmed: Vec<ObjectId> = Vec::with_capacity(batch.len());
        let mut failure = None;
        let mut start = 0;
        while start < batch.len() && failure.is_none() {
            let topic = &batch[start].topic;
            let end = batch[start..].iter().position(|e| &e.topic != topic).map_or(batch.len(), |n| start + n);
            let records: Vec<(&str, &[u8], Option<&str>)> = batch[start..end]
                .iter()
                .map(|e| (e.key.as_str(), e.payload.bytes.as_slice(), e.request_id.as_deref()))
                .collect();
            for (entry, result) in batch[start..end].iter().zip(producer.send_all(topic, &records).await) {
                match result {
                    Ok(()) if failure.is_none() => confirmed.push(entry.id),
                    Ok(()) => {}
                    Err(e) => {
                        failure.get_or_insert(e.to_string());
                    }
                }
            }
            start = end;
        }
        if !confirmed.is_empty() {
            self.entries.delete_many(doc! { "_id": { "$in": &confirmed } }).await.map_err(|e| e.to_string())?;
            self.published.notify_waiters();
        }
        match failure {
            Some(e) => Err(e),
            None => Ok(i64::try_from(batch.len()).unwrap_or(0) == limit),
        }
    }
}
