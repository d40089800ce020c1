//! Kafka producer, consumers and topic creation with hubbub's defaults: acks=all and an
//! idempotent producer, consumers that wait at the broker for records (no polling), topics
//! created at startup, and the request id carried in a header.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock, Weak};
use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::{ClientContext, DefaultClientContext};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance, StreamConsumer};
use rdkafka::message::{Header, Headers, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, ProducerContext};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Message, TopicPartitionList};
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

pub use rdkafka;

/// Header carrying the request id.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// Topic of post commands (key: group id), consumed by the message service.
pub const MESSAGE_COMMANDS: &str = "message.commands";
/// Topic of durable message events (key: group id), consumed by every chat node.
pub const MESSAGE_EVENTS: &str = "message.events";
/// Topic of commands the message service could not do (key: group id), set aside for an
/// operator with why and where from in headers; nothing consumes it.
pub const MESSAGE_DEAD: &str = "message.dead";
/// Topic of group and membership changes (key: group id), consumed by every chat node.
pub const GROUP_EVENTS: &str = "group.events";
/// Topic of ended sessions, deleted accounts and disconnect orders (key: user id), consumed by
/// every chat node and by the group service.
pub const AUTH_EVENTS: &str = "auth.events";

/// Where Kafka is and how we use it.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default)]
pub struct KafkaSettings {
    /// `bootstrap.servers`.
    pub brokers: String,
    /// Prepended to every topic name; tests use a unique one.
    pub topic_prefix: String,
    /// Partitions of topics we create (a group's messages always go to one partition).
    pub partitions: i32,
    /// `fetch.wait.max.ms` for consumers: how long the broker may hold a fetch that found
    /// nothing. Kafka (and the tansu build scripts/tools.sh patches) answers a held fetch the
    /// moment a record arrives, so a long wait costs no latency and saves idle polling; with an
    /// unpatched tansu set it to ~10, or every hop waits it out.
    pub fetch_wait_max_ms: u32,
    /// `linger.ms` for producers.
    pub linger_ms: u32,
    /// How long a produce may wait for the broker before failing.
    pub message_timeout_ms: u32,
    /// Replicas of each topic we create (3 on a production Kafka; the local stand-in has one
    /// broker).
    pub replication_factor: i32,
    /// `min.insync.replicas` of each topic we create: with producers' `acks=all`, a write is
    /// confirmed only once this many replicas have it.
    pub min_insync_replicas: u32,
    /// A name for this process that stays the same across its restarts and differs between
    /// replicas (a pod name, say). When set, consumer groups use static membership
    /// (`group.instance.id` = `<instance_id>-<group>`): a process restarted after a crash takes
    /// its partitions back at once instead of waiting for its dead self to time out (tansu, our
    /// local Kafka stand-in, otherwise never hands a crashed member's partitions on).
    pub instance_id: String,
    /// How often each consumer reports its lag behind the end of every partition it reads
    /// (`kafka_consumer_lag`); 0 turns the reports off.
    pub stats_interval_ms: u32,
    /// `session.timeout.ms` of group consumers: how long the broker waits for a member's
    /// heartbeat before handing its partitions on. Kafka's own default is 45 s. It must outlast
    /// any pause of the broker a consumer should live through: tansu's coordinator measures
    /// silence on its own clock, so a broker frozen or restarting for longer than this expires
    /// every member at once. A crashed process with `instance_id` set takes its partitions back
    /// at once on restart, whatever this is.
    pub session_timeout_ms: u32,
}

impl Default for KafkaSettings {
    fn default() -> Self {
        Self {
            brokers: "127.0.0.1:9092".into(),
            topic_prefix: "hubbub.".into(),
            partitions: 8,
            fetch_wait_max_ms: 500,
            linger_ms: 1,
            message_timeout_ms: 10_000,
            replication_factor: 1,
            min_insync_replicas: 1,
            instance_id: String::new(),
            stats_interval_ms: 5000,
            session_timeout_ms: 30_000,
        }
    }
}

/// A consumer of ours: it reports, every `stats_interval_ms`, how many records of each
/// partition it reads it has yet to get through, as the gauge
/// `kafka_consumer_lag{consumer, topic, partition}`.
pub type EventConsumer = StreamConsumer<Metered>;

/// The consumer context that turns librdkafka's statistics into the lag gauge, and notes when a
/// group consumer is first handed its partitions.
pub struct Metered {
    consumer: String,
    /// Set at the group's first assignment (`None` for a consumer outside any group).
    joined: Option<Arc<AtomicBool>>,
}

/// Every group consumer this process made, with whether it has had its first assignment: a
/// broker may hold a joining member for seconds (Kafka's `group.initial.rebalance.delay.ms`,
/// tansu's 3 s pause for static members), and whatever is produced meanwhile waits.
static GROUPS: Mutex<Vec<(String, Weak<AtomicBool>)>> = Mutex::new(Vec::new());

/// `Err` naming this process's consumer groups (those of consumers still alive) that have not
/// been handed their partitions yet: a process is not ready to do its work before they have.
pub fn groups_joined() -> std::result::Result<(), String> {
    let mut groups = GROUPS.lock().unwrap_or_else(PoisonError::into_inner);
    groups.retain(|(_, joined)| joined.strong_count() > 0);
    let waiting: Vec<&str> = groups
        .iter()
        .filter(|(_, joined)| joined.upgrade().is_some_and(|j| !j.load(Ordering::Relaxed)))
        .map(|(group, _)| group.as_str())
        .collect();
    if waiting.is_empty() {
        Ok(())
    } else {
        Err(format!("waiting for the broker to assign partitions to consumer group(s) {}", waiting.join(", ")))
    }
}

impl ClientContext for Metered {
    fn stats(&self, stats: rdkafka::Statistics) {
        for (topic, t) in &stats.topics {
            for (id, p) in &t.partitions {
                // -1 is librdkafka's internal "unassigned" partition; offsets below 0 are unknown.
                if *id < 0 || p.hi_offset < 0 {
                    continue;
                }
                // A group consumer is behind its committed offset; the chat nodes' tail
                // consumer commits nothing, so it is behind what it handed the application.
                let done = if p.committed_offset >= 0 { p.committed_offset } else { p.app_offset };
                if done < 0 {
                    continue;
                }
                #[allow(clippy::cast_precision_loss)] // a record count fits an f64 exactly
                let lag = (p.hi_offset - done).max(0) as f64;
                metrics::gauge!("kafka_consumer_lag", "consumer" => self.consumer.clone(), "topic" => topic.clone(), "partition" => id.to_string())
                    .set(lag);
            }
        }
    }
}

impl ConsumerContext for Metered {
    fn post_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        // Any assignment counts, an empty one too (more members than partitions).
        if let (Some(joined), Rebalance::Assign(_)) = (&self.joined, rebalance) {
            joined.store(true, Ordering::Relaxed);
        }
    }
}

/// What went wrong talking to Kafka.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The client reported an error.
    #[error("kafka: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    /// The thread that polls a producer for delivery reports could not be started.
    #[error("starting the kafka producer's thread: {0}")]
    Thread(std::io::Error),
    /// Creating a topic failed.
    #[error("creating topic {topic}: {code}")]
    CreateTopic {
        /// The full topic name.
        topic: String,
        /// The broker's answer.
        code: RDKafkaErrorCode,
    },
}

/// `Result` with this crate's error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Where a new consumer starts when it has no committed offset.
#[derive(Clone, Copy, Debug)]
pub enum Start {
    /// From the oldest retained record.
    Earliest,
    /// From records produced after it joins.
    Latest,
}

impl KafkaSettings {
    /// The full name of a topic.
    pub fn topic(&self, name: &str) -> String {
        format!("{}{}", self.topic_prefix, name)
    }

    fn base(&self) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.brokers);
        // Small requests (one post, one fetch) must not wait for Nagle's algorithm.
        c.set("socket.nagle.disable", "true");
        c
    }

    /// A client for [`KafkaSettings::answers`] (made once; it connects as it is used).
    pub fn probe(&self) -> Result<Probe> {
        Ok(Probe { client: Arc::new(self.base().create()?) })
    }

    /// Creates the topics (full names from `topic`) that do not exist yet.
    pub async fn ensure_topics(&self, names: &[&str]) -> Result<()> {
        let admin: AdminClient<DefaultClientContext> = self.base().create()?;
        let full: Vec<String> = names.iter().map(|n| self.topic(n)).collect();
        let min_insync = self.min_insync_replicas.to_string();
        let topics: Vec<NewTopic<'_>> = full
            .iter()
            .map(|t| {
                NewTopic::new(t, self.partitions, TopicReplication::Fixed(self.replication_factor))
                    .set("min.insync.replicas", &min_insync)
            })
            .collect();
        let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
        for result in admin.create_topics(&topics, &opts).await? {
            match result {
                Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((topic, code)) => return Err(Error::CreateTopic { topic, code }),
            }
        }
        Ok(())
    }

    /// An idempotent producer that waits for all in-sync replicas.
    pub fn producer(&self) -> Result<Producer> {
        let mut config = self.base();
        config
            .set("acks", "all")
            .set("enable.idempotence", "true")
            .set("linger.ms", self.linger_ms.to_string())
            .set("message.timeout.ms", self.message_timeout_ms.to_string());
        let producer = Polled::create(&config)?;
        Ok(Producer { inner: Arc::new(RwLock::new((0, producer))), config: Arc::new(config) })
    }

    /// A consumer in `group` subscribed to `topics` (short names; the group id gets the topic
    /// prefix too, so namespaces never share a group). Offsets are committed only when the
    /// caller says so (`commit_message`), so a crash re-delivers what was not done.
    pub fn group_consumer(&self, group: &str, topics: &[&str], start: Start) -> Result<EventConsumer> {
        let mut config = self.base();
        config.set("statistics.interval.ms", self.stats_interval_ms.to_string());
        if !self.instance_id.is_empty() {
            config.set("group.instance.id", format!("{}-{group}", self.instance_id));
        }
        let joined = Arc::new(AtomicBool::new(false));
        GROUPS.lock().unwrap_or_else(PoisonError::into_inner).push((self.topic(group), Arc::downgrade(&joined)));
        let consumer: EventConsumer = config
            .set("group.id", self.topic(group))
            .set("enable.auto.commit", "false")
            .set("auto.offset.reset", start.as_str())
            .set("fetch.wait.max.ms", self.fetch_wait_max_ms.to_string())
            .set("session.timeout.ms", self.session_timeout_ms.to_string())
            .set("heartbeat.interval.ms", "1000")
            .create_with_context(Metered { consumer: group.to_owned(), joined: Some(joined) })?;
        let full: Vec<String> = topics.iter().map(|t| self.topic(t)).collect();
        let refs: Vec<&str> = full.iter().map(String::as_str).collect();
        consumer.subscribe(&refs)?;
        Ok(consumer)
    }

    /// A consumer reading every partition of `topics` from their ends as they are when it is
    /// made (every record produced after this call is seen), with no consumer group:
    /// how each chat node sees all events without rebalances, with one fetch loop.
    pub fn tail_consumer(&self, topics: &[&str]) -> Result<EventConsumer> {
        let consumer: EventConsumer = self
            .base()
            .set("group.id", "hubbub-tail-unused")
            .set("enable.auto.commit", "false")
            .set("fetch.wait.max.ms", self.fetch_wait_max_ms.to_string())
            .set("statistics.interval.ms", self.stats_interval_ms.to_string())
            .create_with_context(Metered { consumer: "tail".to_owned(), joined: None })?;
        let mut list = TopicPartitionList::new();
        for topic in topics {
            let full = self.topic(topic);
            let metadata = consumer.fetch_metadata(Some(&full), Duration::from_secs(10))?;
            for t in metadata.topics() {
                for p in t.partitions() {
                    // The end as it is now, not `Offset::End`: that is resolved only at the
                    // first fetch, and a record produced in between would be skipped.
                    let (_, end) = consumer.fetch_watermarks(t.name(), p.id(), Duration::from_secs(10))?;
                    list.add_partition_offset(t.name(), p.id(), rdkafka::Offset::Offset(end))?;
                }
            }
        }
        consumer.assign(&list)?;
        Ok(consumer)
    }
}

impl Start {
    fn as_str(self) -> &'static str {
        match self {
            Start::Earliest => "earliest",
            Start::Latest => "latest",
        }
    }
}

/// Asks the brokers for their metadata: whether Kafka answers at all (readiness).
#[derive(Clone)]
pub struct Probe {
    client: Arc<rdkafka::producer::BaseProducer>,
}

impl Probe {
    /// `Ok` when a broker answered a metadata request within `timeout`.
    pub async fn answers(&self, timeout: Duration) -> std::result::Result<(), String> {
        use rdkafka::producer::Producer as _;
        let client = self.client.clone();
        tokio::task::spawn_blocking(move || client.client().fetch_metadata(None, timeout).map(|_| ()))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())
    }
}

/// Completes a record's delivery wait when librdkafka reports the broker's answer.
struct Deliveries;

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = Box<tokio::sync::oneshot::Sender<rdkafka::error::KafkaResult<()>>>;

    fn delivery(&self, result: &DeliveryResult<'_>, done: Self::DeliveryOpaque) {
        // The waiter may have gone (its caller gave up): nobody is left to tell.
        let _ = done.send(result.as_ref().map(|_| ()).map_err(|(e, _)| e.clone()));
    }
}

/// How long one poll of the producer's events waits when none come. rdkafka's own polling
/// thread (`ThreadedProducer`, under `FutureProducer`) polls for 100 ms and spins through the
/// last sub-millisecond of each poll (its deadline rounds down to 0 ms, a non-blocking poll, in
/// a loop): about 1% of a core per producer while idle. Polled for a second, the spin costs a
/// tenth of that; a delivery report still wakes the poll the moment it arrives.
const POLL_WAIT: Duration = Duration::from_secs(1);

/// A producer polled for delivery reports by a thread of its own, which ends (within
/// [`POLL_WAIT`]) once the producer is dropped.
struct Polled {
    producer: Arc<BaseProducer<Deliveries>>,
    stop: Arc<AtomicBool>,
}

impl Polled {
    fn create(config: &ClientConfig) -> Result<Arc<Self>> {
        let producer: Arc<BaseProducer<Deliveries>> = Arc::new(config.create_with_context(Deliveries)?);
        let stop = Arc::new(AtomicBool::new(false));
        let (polled, stopped) = (producer.clone(), stop.clone());
        std::thread::Builder::new()
            .name("kafka-producer".into())
            .spawn(move || {
                while !stopped.load(Ordering::Relaxed) {
                    polled.poll(POLL_WAIT);
                }
            })
            .map_err(Error::Thread)?;
        Ok(Arc::new(Self { producer, stop }))
    }
}

impl Drop for Polled {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Produces records and waits for the broker to acknowledge them. An idempotent producer that
/// hits a fatal error (the broker fenced it, as tansu does after deliveries time out while it
/// is unreachable) never sends again; this one is then replaced by a fresh one, so a broker
/// outage ends with the process producing again by itself. The records that failed are the
/// callers' to send again, as for any failure.
#[derive(Clone)]
pub struct Producer {
    /// The producer in use, and how many were replaced before it.
    inner: Arc<RwLock<(u64, Arc<Polled>)>>,
    config: Arc<ClientConfig>,
}

impl Producer {
    fn current(&self) -> (u64, Arc<Polled>) {
        self.inner.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Replaces producer `generation` if it is dead: in a fatal state, or refused by the broker
    /// as a producer (`ProducerFenced` and its kin, which no retry of the same producer cures).
    /// A no-op when another caller replaced it first.
    fn heal(&self, generation: u64, used: &Polled, error: &rdkafka::error::KafkaError) {
        use rdkafka::producer::Producer as _;
        let refused = error.rdkafka_error_code().filter(|c| {
            matches!(
                c,
                RDKafkaErrorCode::ProducerFenced
                    | RDKafkaErrorCode::InvalidProducerEpoch
                    | RDKafkaErrorCode::InvalidProducerIdMapping
                    | RDKafkaErrorCode::OutOfOrderSequenceNumber
                    | RDKafkaErrorCode::UnknownProducerId
            )
        });
        let Some((code, reason)) =
            used.producer.client().fatal_error().or_else(|| refused.map(|c| (c, error.to_string())))
        else {
            return;
        };
        let mut slot = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        if slot.0 != generation {
            return;
        }
        match Polled::create(&self.config) {
            Ok(fresh) => {
                *slot = (generation + 1, fresh);
                tracing::error!(?code, %reason, "the Kafka producer can send no more (fatal, or refused by the broker); replaced by a new one");
            }
            Err(e) => {
                tracing::error!(error = %e, ?code, %reason, "the Kafka producer can send no more; replacing it failed")
            }
        }
    }

    /// Sends `payload` to `topic` (full name) with `key`; returns when the broker has it.
    pub async fn send(&self, topic: &str, key: &str, payload: &[u8], request_id: Option<&str>) -> Result<()> {
        let mut results = self.send_all(topic, &[(key, payload, request_id)]).await;
        results.pop().unwrap_or(Err(Error::Kafka(rdkafka::error::KafkaError::Canceled)))
    }

    /// Sends one record with extra headers; returns when the broker has it.
    pub async fn send_with_headers(
        &self,
        topic: &str,
        key: &str,
        payload: &[u8],
        request_id: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Result<()> {
        let mut all = OwnedHeaders::new();
        for (k, v) in request_id.map(|id| (REQUEST_ID_HEADER, id)).into_iter().chain(headers.iter().copied()) {
            all = all.insert(Header { key: k, value: Some(v) });
        }
        let (generation, producer) = self.current();
        let mut out = Self::send_all_with(&producer, topic, &[(key, payload, Some(all))]).await;
        let result = out.pop().unwrap_or(Err(Error::Kafka(rdkafka::error::KafkaError::Canceled)));
        if let Err(Error::Kafka(e)) = &result {
            self.heal(generation, &producer, e);
        }
        result
    }

    /// Sends records to `topic` as `(key, payload, request id)`: all are queued at once, in this
    /// order (the idempotent producer keeps a key's order through retries), then waited for
    /// together. One result per record; from the first that cannot be queued on, every record
    /// fails without being queued.
    pub async fn send_all(&self, topic: &str, records: &[(&str, &[u8], Option<&str>)]) -> Vec<Result<()>> {
        let (generation, producer) = self.current();
        let records: Vec<(&str, &[u8], Option<OwnedHeaders>)> = records
            .iter()
            .map(|&(key, payload, request_id)| {
                let headers =
                    request_id.map(|id| OwnedHeaders::new().insert(Header { key: REQUEST_ID_HEADER, value: Some(id) }));
                (key, payload, headers)
            })
            .collect();
        let out = Self::send_all_with(&producer, topic, &records).await;
        if let Some(Err(Error::Kafka(e))) = out.iter().find(|r| r.is_err()) {
            self.heal(generation, &producer, e);
        }
        out
    }

    async fn send_all_with(
        producer: &Polled,
        topic: &str,
        records: &[(&str, &[u8], Option<OwnedHeaders>)],
    ) -> Vec<Result<()>> {
        let mut waits = Vec::with_capacity(records.len());
        // A full local queue is waited out, but not for ever.
        let give_up = tokio::time::Instant::now() + Duration::from_secs(30);
        for (key, payload, headers) in records {
            // Once one record could not be queued, none after it is: a later record must never
            // reach the broker ahead of an earlier one that the caller will send again.
            if waits.last().is_some_and(Result::is_err) {
                waits.push(Err(rdkafka::error::KafkaError::Canceled));
                continue;
            }
            let (done, delivered) = tokio::sync::oneshot::channel();
            let mut record = BaseRecord::with_opaque_to(topic, Box::new(done)).key(*key).payload(*payload);
            if let Some(h) = headers {
                record = record.headers(h.clone());
            }
            loop {
                match producer.producer.send(record) {
                    Ok(()) => {
                        waits.push(Ok(delivered));
                        break;
                    }
                    Err((rdkafka::error::KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r))
                        if tokio::time::Instant::now() < give_up =>
                    {
                        record = r;
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    }
                    Err((e, _)) => {
                        waits.push(Err(e));
                        break;
                    }
                }
            }
        }
        let mut out = Vec::with_capacity(waits.len());
        for w in waits {
            out.push(match w {
                Ok(delivery) => match delivery.await {
                    Ok(Ok(())) => Ok(()),
                    Ok(Err(e)) => Err(Error::Kafka(e)),
                    Err(_) => Err(Error::Kafka(rdkafka::error::KafkaError::Canceled)),
                },
                Err(e) => Err(Error::Kafka(e)),
            });
        }
        out
    }

    /// Sends a record that reports a change already made, retrying a few times: when it still
    /// fails, the consumers learn late (at reconnect), so the failure is logged loudly.
    pub async fn publish(&self, topic: &str, key: &str, payload: &[u8], request_id: Option<&str>) -> Result<()> {
        let mut attempt = 0u64;
        loop {
            match self.send(topic, key, payload, request_id).await {
                Ok(()) => return Ok(()),
                Err(e) if attempt < 2 => {
                    tracing::warn!(error = %e, %topic, "publishing an event; retrying");
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(100 * attempt)).await;
                }
                Err(e) => {
                    tracing::error!(error = %e, %topic, %key, "event lost: its consumers learn late");
                    return Err(e);
                }
            }
        }
    }

    /// Waits up to `timeout` for records still in flight (on shutdown).
    pub fn flush(&self, timeout: Duration) {
        use rdkafka::producer::Producer as _;
        if let Err(e) = self.current().1.producer.flush(timeout) {
            tracing::warn!(error = %e, "kafka producer flush");
        }
    }
}

/// The next record of `consumer`, or `None` once `shutdown` fires. A consumer error is logged
/// and retried after a pause: a broker hiccup must not end a service's loop.
pub async fn next<'c>(
    consumer: &'c EventConsumer,
    shutdown: &CancellationToken,
    what: &str,
) -> Option<rdkafka::message::BorrowedMessage<'c>> {
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return None,
            r = consumer.recv() => match r {
                Ok(record) => return Some(record),
                Err(e) => {
                    tracing::warn!(error = %e, consumer = what, "kafka consumer");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            },
        }
    }
}

/// Waits between retries of work a consumer must finish before it may commit past a record:
/// 100 ms, doubling to 5 s, and never past shutdown.
#[derive(Debug, Default)]
pub struct Backoff {
    attempt: u32,
}

impl Backoff {
    /// Sleeps the next interval; false if shutdown came first.
    pub async fn wait(&mut self, shutdown: &CancellationToken) -> bool {
        let ms = (100u64 << self.attempt.min(6)).min(5_000);
        self.attempt += 1;
        tokio::select! {
            _ = shutdown.cancelled() => false,
            _ = tokio::time::sleep(Duration::from_millis(ms)) => true,
        }
    }
}

/// The request id header of a record, if present and UTF-8.
pub fn request_id<M: Message>(msg: &M) -> Option<String> {
    let headers = msg.headers()?;
    headers
        .iter()
        .find(|h| h.key == REQUEST_ID_HEADER)
        .and_then(|h| h.value)
        .and_then(|v| std::str::from_utf8(v).ok())
        .map(str::to_owned)
}

/// Requests waiting for the outcome of a command they produced, by key: whoever reads the
/// outcome event settles every waiter of its key. Keys of requests that gave up are dropped
/// with [`Waiters::abandon`].
pub struct Waiters<T> {
    pending: std::sync::Mutex<std::collections::HashMap<String, Vec<tokio::sync::oneshot::Sender<T>>>>,
}

impl<T> Default for Waiters<T> {
    fn default() -> Self {
        Self { pending: std::sync::Mutex::default() }
    }
}

impl<T: Clone> Waiters<T> {
    /// Registers interest in the outcome of `key`.
    pub fn wait_for(&self, key: &str) -> tokio::sync::oneshot::Receiver<T> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        if let Ok(mut p) = self.pending.lock() {
            p.entry(key.to_owned()).or_default().push(tx);
        }
        rx
    }

    /// Hands the outcome of `key` to everyone waiting for it.
    pub fn settle(&self, key: &str, outcome: &T) {
        let waiters = self.pending.lock().ok().and_then(|mut p| p.remove(key)).unwrap_or_default();
        for tx in waiters {
            let _ = tx.send(outcome.clone());
        }
    }

    /// Forgets waiters of `key` that gave up.
    pub fn abandon(&self, key: &str) {
        if let Ok(mut p) = self.pending.lock()
            && let Some(waiters) = p.get_mut(key)
        {
            waiters.retain(|tx| !tx.is_closed());
            if waiters.is_empty() {
                p.remove(key);
            }
        }
    }
}

/// The key of a post: who sent which client message id to which group.
pub fn post_key(group_id: &str, sender_id: &str, client_msg_id: &str) -> String {
    format!("{group_id}\u{0}{sender_id}\u{0}{client_msg_id}")
}
