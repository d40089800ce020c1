//! The write path: commands in, durable messages out.
//!
//! Every group lives in one partition, and each partition is worked by one task of its own, so
//! that task is the single writer of its groups and a slow group holds up only its partition.
//! A task takes every command that is waiting (up to `batch_max`) and handles them as one
//! batch, in order: membership from a cache that the group service's fences keep honest (a
//! fence travels in the group's partition and drops what it names from the cache, so a change
//! is read fresh before any post sent after it is judged), seqs from a cache, one ordered
//! insert (the store sends it with whatever the other partitions have waiting, one command for
//! all, each batch ending as if alone), then every event produced at once (Kafka keeps their
//! order per key); group heads (which also say what was published: a group's events go out in
//! seq order) and the offset commit follow, in batch order, off the path.
//!
//! A post's attachments are checked against their uploads and storage (see `attachments`)
//! before it gets a seq; once stored, they are recorded as attached. Edits, deletes and image
//! previews are applied after the batch's inserts, in command order, and announced in that
//! order among the posts. Receipts are folded per (group, user), clamped to the group's
//! last seq, kept only where they move a watermark forward, announced once per group per batch
//! and written, like heads, off the path (at most once per `books_window_ms`).
//!
//! A crash anywhere re-delivers the uncommitted commands; the unique index on (group, sender,
//! client id) turns a re-delivered post into its first copy, announced again only if it never
//! was. A sender who is no longer a member but repeats an acknowledged post gets the first
//! copy back, not a refusal.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hubbub_events::EventConsumer;
use hubbub_events::rdkafka::consumer::{CommitMode, Consumer};
use hubbub_events::rdkafka::message::OwnedMessage;
use hubbub_events::rdkafka::{Message as _, Offset, TopicPartitionList};
use hubbub_events::{Backoff, Producer};
use hubbub_proto::events::{
    MembershipChanged, MessageChanged, MessageCommand, MessageEvent, MessagePosted, MessageRejected, PostMessage,
    Receipt, ReceiptsMoved, message_command, message_event,
};
use hubbub_proto::group::group_service_client::GroupServiceClient;
use hubbub_proto::group::{GetMembershipRequest, Role};
use hubbub_proto::message::Attachment;
use hubbub_proto::message::{Message, ReadState};
use hubbub_rpc::{Channel, Ctx};
use hubbub_storage::Storage;
use mongodb::bson::oid::ObjectId;
use prost::Message as _;
use tokio::sync::Notify;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::MessageSettings;
use crate::store::MessageStore;

/// Longest client message id we accept.
const CLIENT_MSG_ID_MAX: usize = 128;
/// Header of a set-aside command: why it could not be done.
pub const DEAD_REASON_HEADER: &str = "x-hubbub-dead-reason";
/// Header of a set-aside command: where it came from (`topic/partition/offset`).
pub const DEAD_ORIGIN_HEADER: &str = "x-hubbub-dead-origin";

/// What every partition task shares.
pub struct Pipeline<S> {
    pub(crate) settings: MessageSettings,
    pub(crate) store: S,
    pub(crate) producer: Producer,
    /// Full name of the events topic.
    pub(crate) events_topic: String,
    /// Full name of the dead-letter topic, where commands that cannot be done are set aside.
    pub(crate) dead_topic: String,
    /// Membership on a cache miss, at write time, from the group service's store.
    pub(crate) groups: GroupServiceClient<Channel>,
    /// Where attachments are, checked at write time.
    pub(crate) storage: Storage,
    /// Rung when an image was attached (a preview is wanted).
    pub(crate) previews_wanted: Arc<Notify>,
    /// Rung when a deleted message's uploads were discarded.
    pub(crate) sweep_wanted: Arc<Notify>,
}

impl<S: MessageStore> Pipeline<S> {
    /// Reads commands and hands each partition's to its task until `shutdown`. A task that
    /// falls behind (its dependency is slow, or it is retrying a command) never holds up the
    /// others: its records wait in its own lane, and once the lane is full its partition is
    /// paused at the broker until the task catches up.
    pub async fn run(self, consumer: EventConsumer, shutdown: CancellationToken) {
        let consumer = Arc::new(consumer);
        let shared = Arc::new(self);
        let mut lanes: HashMap<(String, i32), Lane> = HashMap::new();
        let lane_max = shared.settings.partition_backlog_max.max(1);
        let mut tick = tokio::time::interval(Duration::from_millis(10));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let backlog = lanes.values().any(|l| !l.waiting.is_empty() || l.paused);
            tokio::select! {
                record = hubbub_events::next(&consumer, &shutdown, "message commands") => {
                    let Some(record) = record else { break };
                    let key = (record.topic().to_owned(), record.partition());
                    let lane = lanes.entry(key.clone()).or_insert_with(|| Lane::start(&shared, &consumer, &key, &shutdown));
                    lane.waiting.push_back(record.detach());
                    if !lane.hand_over() {
                        break; // the task stopped: shutting down
                    }
                    if lane.waiting.len() >= lane_max && !lane.paused {
                        lane.paused = pause_partition(&consumer, &key, true);
                    }
                }
                _ = tick.tick(), if backlog => {
                    let mut stopped = false;
                    for (key, lane) in &mut lanes {
                        stopped |= !lane.hand_over();
                        if lane.paused && lane.waiting.len() <= lane_max / 2 {
                            lane.paused = !pause_partition(&consumer, key, false);
                        }
                    }
                    if stopped {
                        break;
                    }
                }
            }
        }
        shutdown.cancel();
        for (_, lane) in lanes {
            drop(lane.tx);
            let _ = lane.task.await;
        }
        shared.producer.flush(Duration::from_secs(5));
    }
}

/// One partition's way to its task: a bounded queue, and the records that did not fit yet.
struct Lane {
    tx: mpsc::Sender<OwnedMessage>,
    task: tokio::task::JoinHandle<()>,
    waiting: VecDeque<OwnedMessage>,
    /// Whether the partition is paused at the broker (its lane is full).
    paused: bool,
}

impl Lane {
    fn start<S: MessageStore>(
        shared: &Arc<Pipeline<S>>,
        consumer: &Arc<EventConsumer>,
        key: &(String, i32),
        shutdown: &CancellationToken,
    ) -> Self {
        let (tx, rx) = mpsc::channel(shared.settings.batch_max.max(1) * 4);
        let worker = Worker::new(shared.clone(), consumer.clone(), key.0.clone(), key.1, shutdown.clone());
        let task = tokio::spawn(worker.run(rx, shutdown.clone()));
        Self { tx, task, waiting: VecDeque::new(), paused: false }
    }

    /// Hands the task what it has room for, oldest first; false when the task has stopped.
    fn hand_over(&mut self) -> bool {
        while let Some(record) = self.waiting.pop_front() {
            match self.tx.try_send(record) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(record)) => {
                    self.waiting.push_front(record);
                    return true;
                }
                Err(mpsc::error::TrySendError::Closed(_)) => return false,
            }
        }
        true
    }
}

/// Pauses (or resumes) fetching one partition; true when the broker client took it. On resume
/// fetching goes on after the last record handed to us, so nothing is skipped or repeated.
fn pause_partition(consumer: &EventConsumer, (topic, partition): &(String, i32), pause: bool) -> bool {
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition(topic, *partition);
    let done = if pause { consumer.pause(&tpl) } else { consumer.resume(&tpl) };
    match done {
        Ok(()) => {
            tracing::info!(%topic, partition, paused = pause, "a partition's lane filled up or drained");
            true
        }
        Err(e) => {
            tracing::warn!(error = %e, %topic, partition, "pausing or resuming a partition");
            false
        }
    }
}

/// One group's members as the pipeline knows them.
struct Members {
    loaded: Instant,
    /// The role of each member asked about; `None` for a non-member.
    users: HashMap<String, Option<Role>>,
    /// How many members the group had when last asked.
    count: u32,
}

/// How one post in a batch ends.
enum Outcome {
    /// Stored now (or stored before and never announced): announce it.
    New(Message),
    /// Stored and announced before: acknowledge again, no fan-out.
    Repeat(Message),
    /// Refused with an API code.
    Rejected(&'static str, String),
}

/// What a batch leaves to write once its events are out, off the path to the next batch:
/// each group's newest message (for group lists, and the mark of what was published), read
/// watermarks, and the offset to commit once both are written (so a crash never loses a head).
#[derive(Default)]
struct Books {
    newest: Vec<Message>,
    reads: Vec<ReadState>,
    commit: Option<(String, i32, i64)>,
}

impl Books {
    /// Folds a later batch's books into these: the newest head and highest watermarks win.
    fn merge(&mut self, later: Books) {
        for m in later.newest {
            // The later copy wins at an equal seq: it may be the head as edited or deleted since.
            match self.newest.iter_mut().find(|n| n.group_id == m.group_id) {
                Some(n) if n.seq > m.seq => {}
                Some(n) => *n = m,
                None => self.newest.push(m),
            }
        }
        for r in later.reads {
            match self.reads.iter_mut().find(|x| x.group_id == r.group_id && x.user_id == r.user_id) {
                Some(x) => {
                    x.delivered_seq = x.delivered_seq.max(r.delivered_seq);
                    x.seen_seq = x.seen_seq.max(r.seen_seq);
                }
                None => self.reads.push(r),
            }
        }
        if later.commit.is_some() {
            self.commit = later.commit;
        }
    }
}

/// Batches the bookkeeping task may hold before a worker waits for it.
const BOOKS_QUEUE: usize = 64;

/// What a change does to its message.
#[derive(Clone, Copy)]
enum Change<'a> {
    /// New content (the sender only).
    Edit(&'a str),
    /// Content and attachments go (the sender, or an admin+).
    Delete,
    /// An image attachment's preview is stored (the service itself; nobody is told of a
    /// preview that could not be added).
    Preview { key: &'a str, thumbnail_key: &'a str },
}

/// An edit, delete or preview, as the batch sees it.
struct ChangeCommand<'a> {
    group_id: &'a str,
    message_id: &'a str,
    /// Empty for the service's own changes (previews).
    actor_id: &'a str,
    change: Change<'a>,
    origin_node: &'a str,
    origin_key: &'a str,
}

impl<'a> ChangeCommand<'a> {
    fn of(command: &'a MessageCommand) -> Option<Self> {
        match &command.command {
            Some(message_command::Command::Edit(e)) => Some(Self {
                group_id: &e.group_id,
                message_id: &e.message_id,
                actor_id: &e.actor_id,
                change: Change::Edit(&e.content),
                origin_node: &e.origin_node,
                origin_key: &e.origin_key,
            }),
            Some(message_command::Command::Delete(d)) => Some(Self {
                group_id: &d.group_id,
                message_id: &d.message_id,
                actor_id: &d.actor_id,
                change: Change::Delete,
                origin_node: &d.origin_node,
                origin_key: &d.origin_key,
            }),
            Some(message_command::Command::Thumbnail(t)) => Some(Self {
                group_id: &t.group_id,
                message_id: &t.message_id,
                actor_id: "",
                change: Change::Preview { key: &t.key, thumbnail_key: &t.thumbnail_key },
                origin_node: "",
                origin_key: "",
            }),
            _ => None,
        }
    }
}

/// One partition's single writer.
struct Worker<S> {
    shared: Arc<Pipeline<S>>,
    books: Option<(mpsc::Sender<Books>, tokio::task::JoinHandle<()>)>,
    topic: String,
    partition: i32,
    seqs: HashMap<String, u64>,
    members: HashMap<String, Members>,
    /// (group, user) → (delivered, seen) as last written or read.
    reads: HashMap<(String, String), (u64, u64)>,
    /// Ids announced lately, whose group heads the bookkeeping task may not have written yet: a
    /// repeat in a later batch must not announce them again.
    recent: (VecDeque<String>, HashSet<String>),
    /// The offset of the last command handled; a record that does not follow it means another
    /// writer may have had the partition in between, so the caches are dropped.
    last_offset: Option<i64>,
    /// Why the batch under way cannot be done: a step failed `poison_attempts` times in a row
    /// while its dependency answered (so waiting will not help). Set by the step, taken by
    /// [`Worker::work`], which then tries the batch's commands one by one.
    stuck: std::sync::Mutex<Option<String>>,
    /// The highest seq this task has stored per group, kept when the caches are dropped: a
    /// seq is never handed out twice, even by a store that lost a write it acknowledged (then
    /// the group shows a gap, which clients can see, rather than two messages under one seq,
    /// which clients dropping repeats by seq could not).
    floor: HashMap<String, u64>,
}

impl<S: MessageStore> Worker<S> {
    fn new(
        shared: Arc<Pipeline<S>>,
        consumer: Arc<EventConsumer>,
        topic: String,
        partition: i32,
        shutdown: CancellationToken,
    ) -> Self {
        let (tx, rx) = mpsc::channel(BOOKS_QUEUE);
        let books = tokio::spawn(keep_books(shared.clone(), consumer.clone(), rx, shutdown));
        Self {
            shared,
            books: Some((tx, books)),
            topic,
            partition,
            seqs: HashMap::new(),
            members: HashMap::new(),
            reads: HashMap::new(),
            recent: (VecDeque::new(), HashSet::new()),
            last_offset: None,
            stuck: std::sync::Mutex::new(None),
            floor: HashMap::new(),
        }
    }

    async fn run(mut self, mut rx: mpsc::Receiver<OwnedMessage>, shutdown: CancellationToken) {
        self.work(&mut rx, &shutdown).await;
        if let Some((tx, books)) = self.books.take() {
            drop(tx);
            let _ = books.await;
        }
    }

    async fn work(&mut self, rx: &mut mpsc::Receiver<OwnedMessage>, shutdown: &CancellationToken) {
        let max = self.shared.settings.batch_max.max(1);
        let mut batch = Vec::with_capacity(max);
        loop {
            batch.clear();
            tokio::select! {
                n = rx.recv_many(&mut batch, max) => if n == 0 { return },
                _ = shutdown.cancelled() => return,
            }
            if self.handle(&batch, shutdown).await {
                continue;
            }
            if shutdown.is_cancelled() {
                return; // shutting down mid-batch: left uncommitted for the next owner
            }
            // Stuck: the batch cannot be done as a whole. Each command alone, then, and one
            // that still cannot be done is set aside, so the partition moves on.
            let why = self.take_stuck();
            for (i, record) in batch.iter().enumerate() {
                let alone = std::slice::from_ref(record);
                // A half-done batch may have left the caches ahead of the store.
                self.forget();
                if batch.len() > 1 && self.handle(alone, shutdown).await {
                    continue;
                }
                if shutdown.is_cancelled() {
                    return;
                }
                let why = if batch.len() > 1 { self.take_stuck() } else { why.clone() };
                if !self.set_aside(record, &why, shutdown).await {
                    return;
                }
                tracing::info!(left = batch.len() - i - 1, "after a command set aside, the rest of its batch goes on");
            }
        }
    }

    /// What the step that got stuck said (or a generic reason).
    fn take_stuck(&self) -> String {
        self.stuck.lock().ok().and_then(|mut s| s.take()).unwrap_or_else(|| "the command kept failing".into())
    }

    /// Drops every cache: what they say is read again from the store.
    fn forget(&mut self) {
        self.seqs.clear();
        self.members.clear();
        self.reads.clear();
        self.last_offset = None;
    }

    /// A command that cannot be done, after every retry, while its dependencies answer: it
    /// goes to the dead-letter topic (as it came, with why and where it came from in headers)
    /// for an operator, its sender is refused with SERVER_ERROR, and its offset is committed
    /// in turn. False when shutdown interrupted it.
    async fn set_aside(&mut self, record: &OwnedMessage, why: &str, shutdown: &CancellationToken) -> bool {
        let key = record.key().and_then(|k| std::str::from_utf8(k).ok()).unwrap_or_default().to_owned();
        let payload = record.payload().unwrap_or_default();
        let origin = format!("{}/{}/{}", self.topic, self.partition, record.offset());
        tracing::error!(%origin, reason = %why, "a command cannot be done: set aside in the dead-letter topic");
        metrics::counter!("commands_set_aside_total").increment(1);
        let request_id = hubbub_events::request_id(record);
        let headers = [(DEAD_REASON_HEADER, why), (DEAD_ORIGIN_HEADER, origin.as_str())];
        let mut backoff = Backoff::default();
        while let Err(e) = self
            .shared
            .producer
            .send_with_headers(&self.shared.dead_topic, &key, payload, request_id.as_deref(), &headers)
            .await
        {
            tracing::error!(error = %e, "setting a command aside; retrying");
            if !backoff.wait(shutdown).await {
                return false;
            }
        }
        let refusal = MessageCommand::decode(payload).ok().and_then(|command| {
            let message = "this could not be stored and was set aside for an operator; do not retry".to_owned();
            let event = match &command.command {
                Some(message_command::Command::Post(post)) => {
                    post_event(post, Outcome::Rejected("SERVER_ERROR", message), &mut Vec::new())
                }
                _ => change_event(&ChangeCommand::of(&command)?, Outcome::Rejected("SERVER_ERROR", message))?,
            };
            Some((event_group(&event), MessageEvent { event: Some(event) }.encode_to_vec()))
        });
        if let Some((group, event)) = refusal
            && !self.announce(&[(group, event, request_id.as_deref())], shutdown).await
        {
            return false;
        }
        self.last_offset = Some(record.offset());
        if let Some((books, _)) = &self.books {
            let commit = Some((self.topic.clone(), self.partition, record.offset() + 1));
            let _ = books.send(Books { commit, ..Books::default() }).await;
        }
        true
    }

    /// Counts a failed attempt of a step: after `poison_attempts` in a row, if the store still
    /// answers a ping (so the fault is this work's, not an outage), the batch is stuck and the
    /// step gives up (true). An outage is waited out, however long.
    async fn gives_up<E: std::fmt::Display + Sync + ?Sized>(&self, attempts: &mut u32, error: &E) -> bool {
        *attempts += 1;
        if *attempts < self.shared.settings.poison_attempts.max(1) {
            return false;
        }
        *attempts = 0;
        if let Err(e) = self.shared.store.ping().await {
            tracing::warn!(error = %e, "the message store does not answer: waiting for it");
            return false;
        }
        if let Ok(mut stuck) = self.stuck.lock() {
            *stuck = Some(error.to_string());
        }
        true
    }

    /// Handles a batch to the end (stored and announced); false when shutdown interrupted it.
    async fn handle(&mut self, batch: &[OwnedMessage], shutdown: &CancellationToken) -> bool {
        // Any gap (before the batch or inside it) means another writer may have had the
        // partition meanwhile: what the caches say is no longer known to be true.
        let offsets: Vec<i64> = self.last_offset.into_iter().chain(batch.iter().map(OwnedMessage::offset)).collect();
        if let Some(w) = offsets.windows(2).find(|w| w[1] != w[0] + 1) {
            tracing::info!(
                partition = self.partition,
                after = w[0],
                next = w[1],
                "offsets do not follow on: caches dropped"
            );
            self.seqs.clear();
            self.members.clear();
            self.reads.clear();
        }
        self.last_offset = batch.last().map(OwnedMessage::offset);
        let ttl = Duration::from_secs(self.shared.settings.membership_cache_secs);
        self.members.retain(|_, m| m.loaded.elapsed() < ttl);
        if self.members.len() > self.shared.settings.membership_cache_groups {
            self.members.clear();
        }
        if self.reads.len() > self.shared.settings.read_cache_entries {
            self.reads.clear();
        }

        let commands: Vec<(Option<String>, MessageCommand)> = batch
            .iter()
            .filter_map(|r| match MessageCommand::decode(r.payload().unwrap_or_default()) {
                Ok(c) => Some((hubbub_events::request_id(r), c)),
                Err(e) => {
                    tracing::warn!(error = %e, offset = r.offset(), "skipping an undecodable command");
                    None
                }
            })
            .collect();
        // Fences first: whatever a fence of this batch names is read fresh below. The group
        // service stored each change before sending its fence, so a read now sees them all.
        for (_, command) in &commands {
            if let Some(message_command::Command::Membership(change)) = &command.command {
                self.invalidate(change);
            }
        }
        let Some(()) = self.prefetch_membership(&commands, shutdown).await else { return false };

        // In order: posts are checked against the cache.
        let mut posts: Vec<(&PostMessage, Option<&str>)> = Vec::new();
        let mut outcomes: Vec<Option<Outcome>> = Vec::new();
        for (request_id, command) in &commands {
            if let Some(message_command::Command::Post(post)) = &command.command {
                let verdict = match self.validate(post) {
                    Err((code, why)) => Some(Outcome::Rejected(code, why)),
                    Ok(()) if self.is_member(&post.group_id, &post.sender_id) => None,
                    Ok(()) => Some(Outcome::Rejected("NOT_A_MEMBER", "not a member of this group".into())),
                };
                posts.push((post, request_id.as_deref()));
                outcomes.push(verdict);
            }
        }
        // Attachments, for the posts that pass so far: the sender's own uploads, as stored.
        let mut measured: HashMap<usize, Vec<Attachment>> = HashMap::new();
        let with_files: Vec<usize> =
            (0..posts.len()).filter(|&i| outcomes[i].is_none() && !posts[i].0.attachments.is_empty()).collect();
        if !with_files.is_empty() {
            let subject: Vec<&PostMessage> = with_files.iter().map(|&i| posts[i].0).collect();
            let shared = &self.shared;
            let Some(verdicts) = self
                .retry(shutdown, || {
                    crate::attachments::check(&shared.store, &shared.storage, &shared.settings, &subject)
                })
                .await
            else {
                return false;
            };
            for (i, verdict) in with_files.into_iter().zip(verdicts) {
                match verdict {
                    Ok(stored) => {
                        measured.insert(i, stored);
                    }
                    Err(why) => outcomes[i] = Some(Outcome::Rejected("INVALID_MESSAGE", why)),
                }
            }
        }
        // Idempotency before any refusal: a refused post may repeat one acknowledged before
        // (while its sender was still a member, or under other limits), and gets that answer.
        let mut announcing: HashSet<String> = HashSet::new();
        for (i, (post, _)) in posts.iter().enumerate() {
            let named = !post.group_id.is_empty() && !post.sender_id.is_empty() && !post.client_msg_id.is_empty();
            if named && matches!(outcomes[i], Some(Outcome::Rejected(..))) {
                match self.first_copy(post, &mut announcing, shutdown).await {
                    None => return false,
                    Some(Some(first)) => outcomes[i] = Some(first),
                    Some(None) => {} // refused, as it should be
                }
            }
        }
        if !self.store(&posts, &measured, &mut outcomes, &mut announcing, shutdown).await {
            return false;
        }
        if !self.attach(&outcomes, shutdown).await {
            return false;
        }
        let stored = outcomes.iter().filter(|o| matches!(o, Some(Outcome::New(_)))).count();
        metrics::counter!("messages_stored_total").increment(u64::try_from(stored).unwrap_or(0));
        #[allow(clippy::cast_precision_loss)] // a batch is at most `batch_max` commands
        metrics::histogram!("pipeline_batch_commands").record(batch.len() as f64);
        // Edits, deletes and previews, in order, after the inserts they may refer to.
        let mut changes: Vec<Outcome> = Vec::new();
        for (_, command) in &commands {
            if let Some(change) = ChangeCommand::of(command) {
                let Some(outcome) = self.change(&change, shutdown).await else { return false };
                changes.push(outcome);
            }
        }
        // Each group's newest message, for group lists: one write per group per batch.
        let mut newest: HashMap<&str, &Message> = HashMap::new();
        for o in outcomes.iter().flatten() {
            if let Outcome::New(m) = o {
                let slot = newest.entry(m.group_id.as_str()).or_insert(m);
                if m.seq > slot.seq {
                    *slot = m;
                }
            }
        }
        let mut newest: Vec<Message> = newest.into_values().cloned().collect();
        if self.floor.len() > self.shared.settings.membership_cache_groups {
            self.floor.clear();
        }
        for m in &newest {
            let floor = self.floor.entry(m.group_id.clone()).or_default();
            *floor = (*floor).max(m.seq);
        }
        // A head edited or deleted is recorded again as it now stands, through the same books
        // (so a copy of it still waiting there cannot be written over the change).
        for change in &changes {
            if let Outcome::New(m) = change
                && self.seqs.get(&m.group_id) == Some(&m.seq)
            {
                match newest.iter_mut().find(|n| n.group_id == m.group_id) {
                    Some(head) if head.seq <= m.seq => *head = m.clone(),
                    Some(_) => {}
                    None => newest.push(m.clone()),
                }
            }
        }
        let Some((moved, reads)) = self.receipts(&commands, &outcomes, shutdown).await else { return false };

        // Every outcome's event, in command order, then the moved receipts.
        let mut announced = Vec::new();
        let mut records: Vec<(String, Vec<u8>, Option<&str>)> = Vec::new();
        let (mut posts_seen, mut changes_seen) = (outcomes.into_iter().zip(&posts), changes.into_iter());
        for (request_id, command) in &commands {
            let event = match &command.command {
                Some(message_command::Command::Post(_)) => match posts_seen.next() {
                    Some((Some(outcome), (post, _))) => post_event(post, outcome, &mut announced),
                    _ => continue,
                },
                Some(
                    message_command::Command::Edit(_)
                    | message_command::Command::Delete(_)
                    | message_command::Command::Thumbnail(_),
                ) => match (changes_seen.next(), ChangeCommand::of(command)) {
                    (Some(outcome), Some(change)) => match change_event(&change, outcome) {
                        Some(event) => event,
                        None => continue,
                    },
                    _ => continue,
                },
                _ => continue,
            };
            let group = event_group(&event);
            records.push((group, MessageEvent { event: Some(event) }.encode_to_vec(), request_id.as_deref()));
        }
        for m in moved {
            let group = m.group_id.clone();
            records.push((
                group,
                MessageEvent { event: Some(message_event::Event::Receipts(m)) }.encode_to_vec(),
                None,
            ));
        }
        if !self.announce(&records, shutdown).await {
            return false;
        }
        // Ids announced lately whose group heads the bookkeeping task may not have written yet:
        // remember more than it can hold.
        let keep = self.shared.settings.batch_max.max(1) * BOOKS_QUEUE * 2;
        for id in &announced {
            if self.recent.1.insert(id.clone()) {
                self.recent.0.push_back(id.clone());
            }
        }
        while self.recent.0.len() > keep {
            if let Some(old) = self.recent.0.pop_front() {
                self.recent.1.remove(&old);
            }
        }
        let commit = batch.last().map(|last| (self.topic.clone(), self.partition, last.offset() + 1));
        if let Some((books, _)) = &self.books {
            // A full queue (the store is slow) holds this partition back, as it should.
            let _ = books.send(Books { newest, reads, commit }).await;
        }
        true
    }

    /// Asks the group service, all at once, about every (group, user) of the batch's posts,
    /// changes and receipts that the cache does not know. `None` when shutdown interrupted it.
    async fn prefetch_membership(
        &mut self,
        commands: &[(Option<String>, MessageCommand)],
        shutdown: &CancellationToken,
    ) -> Option<()> {
        let mut missing: HashSet<(String, String)> = HashSet::new();
        let mut want = |group: &str, user: &str| {
            if !group.is_empty() && !user.is_empty() && self.cached(group, user).is_none() {
                missing.insert((group.to_owned(), user.to_owned()));
            }
        };
        for (_, c) in commands {
            match &c.command {
                Some(message_command::Command::Post(p)) => want(&p.group_id, &p.sender_id),
                Some(message_command::Command::Receipts(r)) => {
                    for receipt in &r.receipts {
                        want(&r.group_id, &receipt.user_id);
                    }
                }
                _ => {
                    if let Some(change) = ChangeCommand::of(c) {
                        want(change.group_id, change.actor_id);
                    }
                }
            }
        }
        if missing.is_empty() {
            return Some(());
        }
        let mut backoff = Backoff::default();
        let mut attempts = 0;
        loop {
            let asks = missing.iter().map(|(g, u)| {
                let mut groups = self.shared.groups.clone();
                let req = Ctx::new("").request(GetMembershipRequest { group_id: g.clone(), user_id: u.clone() });
                async move { groups.get_membership(req).await.map(tonic::Response::into_inner) }
            });
            let answers = futures_util::future::join_all(asks).await;
            if answers.iter().all(Result::is_ok) {
                for ((g, u), m) in missing.into_iter().zip(answers.into_iter().flatten()) {
                    let entry = self.members.entry(g).or_insert_with(|| Members {
                        loaded: Instant::now(),
                        users: HashMap::new(),
                        count: m.member_count,
                    });
                    entry.count = m.member_count;
                    entry.users.insert(u, m.member.then(|| m.role()));
                }
                return Some(());
            }
            if let Some(Err(e)) = answers.iter().find(|a| a.is_err()) {
                tracing::error!(error = %e, "checking membership; retrying");
                // The group service down, slow, misconfigured (a wrong internal secret) or
                // failing is waited out; only an answer that faults this very question (its
                // arguments) is not going to change.
                let about_the_question = matches!(
                    e.code(),
                    tonic::Code::InvalidArgument
                        | tonic::Code::NotFound
                        | tonic::Code::FailedPrecondition
                        | tonic::Code::OutOfRange
                );
                if about_the_question && self.gives_up(&mut attempts, e).await {
                    return None;
                }
            }
            if !backoff.wait(shutdown).await {
                return None;
            }
        }
    }

    /// What the cache knows of a user in a group: `Some(None)` not a member, `Some(Some(role))`
    /// a member, `None` unknown.
    fn cached(&self, group: &str, user: &str) -> Option<Option<Role>> {
        self.members.get(group).and_then(|m| m.users.get(user).copied())
    }

    fn is_member(&self, group: &str, user: &str) -> bool {
        matches!(self.cached(group, user), Some(Some(_)))
    }

    /// The group's last seq, from the cache or the store. `None` when shutdown came first.
    async fn last_seq(&mut self, group: &str, shutdown: &CancellationToken) -> Option<u64> {
        if let Some(&seq) = self.seqs.get(group) {
            return Some(seq);
        }
        let stored = self.retry(shutdown, || self.shared.store.last_seq(group)).await?;
        let seq = stored.max(self.floor.get(group).copied().unwrap_or(0));
        self.seqs.insert(group.to_owned(), seq);
        Some(seq)
    }

    /// Applies one edit, delete or preview, or says why not. `None` when shutdown interrupted it.
    async fn change(&mut self, c: &ChangeCommand<'_>, shutdown: &CancellationToken) -> Option<Outcome> {
        // Outsiders learn nothing about the group's messages, not even that one exists.
        let not_found = || Outcome::Rejected("MESSAGE_NOT_FOUND", "no such message".into());
        let role = match c.change {
            Change::Preview { .. } => None,
            Change::Edit(_) | Change::Delete => match self.cached(c.group_id, c.actor_id) {
                Some(Some(role)) => Some(role),
                _ => return Some(not_found()),
            },
        };
        let found = self.retry(shutdown, || self.shared.store.get(c.message_id)).await?;
        let Some(mut m) = found.filter(|m| m.group_id == c.group_id) else { return Some(not_found()) };
        let by_sender = m.sender_id == c.actor_id;
        let mut discarded: Vec<String> = Vec::new();
        match c.change {
            Change::Edit(content) => {
                if !by_sender {
                    return Some(Outcome::Rejected("FORBIDDEN", "only the sender can edit a message".into()));
                }
                if m.deleted {
                    return Some(Outcome::Rejected("INVALID_MESSAGE", "a deleted message cannot be edited".into()));
                }
                let chars = content.chars().count();
                let max = self.shared.settings.content_max;
                if chars == 0 || chars > max {
                    return Some(Outcome::Rejected("INVALID_MESSAGE", format!("content must be 1–{max} characters")));
                }
                m.content = content.to_owned();
                m.edited_at_ms = Some(mongodb::bson::DateTime::now().timestamp_millis());
            }
            Change::Delete => {
                if !by_sender && !matches!(role, Some(Role::Owner | Role::Admin)) {
                    let why = "only the sender or a group admin can delete a message";
                    return Some(Outcome::Rejected("FORBIDDEN", why.into()));
                }
                if m.deleted {
                    return Some(Outcome::Repeat(m)); // deleted already: nothing to write
                }
                m.content.clear();
                discarded = m.attachments.drain(..).map(|a| a.key).collect();
                m.deleted = true;
                m.edited_at_ms = Some(mongodb::bson::DateTime::now().timestamp_millis());
            }
            Change::Preview { key, thumbnail_key } => {
                // A preview is not an edit: the message keeps its editedAt.
                let Some(a) = m.attachments.iter_mut().find(|a| a.key == key).filter(|_| !m.deleted) else {
                    return Some(not_found());
                };
                if a.thumbnail_key == thumbnail_key {
                    return Some(Outcome::Repeat(m));
                }
                a.thumbnail_key = thumbnail_key.to_owned();
            }
        }
        let edit_seq = self.last_seq(c.group_id, shutdown).await?;
        self.retry(shutdown, || self.shared.store.change(&m, edit_seq)).await?;
        if !discarded.is_empty() {
            // The objects go with the message; the sweep removes them.
            self.retry(shutdown, || self.shared.store.discard_uploads(&discarded)).await?;
            self.shared.sweep_wanted.notify_one();
        }
        Some(Outcome::New(m))
    }

    /// Records the uploads of the batch's new messages as attached (so the sweep keeps them,
    /// and images get previews). False when shutdown interrupted it.
    async fn attach(&self, outcomes: &[Option<Outcome>], shutdown: &CancellationToken) -> bool {
        let mut previews = false;
        for o in outcomes.iter().flatten() {
            let Outcome::New(m) = o else { continue };
            if m.attachments.is_empty() {
                continue;
            }
            let keys: Vec<String> = m.attachments.iter().map(|a| a.key.clone()).collect();
            // An image message carries images only (validated): they all get previews.
            let images: &[String] = if m.r#type == "image" { &keys } else { &[] };
            previews |= !images.is_empty();
            if self.retry(shutdown, || self.shared.store.attach_uploads(&m.id, &keys, images)).await.is_none() {
                return false;
            }
        }
        if previews {
            self.shared.previews_wanted.notify_one();
        }
        true
    }

    /// Folds the batch's receipts (and the watermarks its posts and fences imply: a sender has
    /// seen their own message, a new member starts with the history read) per (group, user),
    /// clamped to the group's last seq, and keeps what moves a watermark forward: the events to
    /// announce (one per group) and the states to write. `None` when shutdown interrupted it.
    async fn receipts(
        &mut self,
        commands: &[(Option<String>, MessageCommand)],
        outcomes: &[Option<Outcome>],
        shutdown: &CancellationToken,
    ) -> Option<(Vec<ReceiptsMoved>, Vec<ReadState>)> {
        // (group, user) → (delivered, seen, announce): what a sender's own post or a new
        // membership implies is written but not announced (everyone can tell it already).
        let mut proposed: HashMap<(String, String), (u64, u64, bool)> = HashMap::new();
        let mut propose = |group: &str, user: &str, delivered: u64, seen: u64, announce: bool| {
            let p = proposed.entry((group.to_owned(), user.to_owned())).or_default();
            *p = (p.0.max(delivered), p.1.max(seen), p.2 || announce);
        };
        let mut joined: Vec<(String, String)> = Vec::new();
        for (_, c) in commands {
            match &c.command {
                Some(message_command::Command::Receipts(r)) => {
                    for receipt in r.receipts.iter().filter(|x| self.is_member(&r.group_id, &x.user_id)) {
                        propose(&r.group_id, &receipt.user_id, receipt.delivered_seq, receipt.seen_seq, true);
                    }
                }
                Some(message_command::Command::Membership(change)) if !change.group_deleted => {
                    joined.extend(change.added.iter().map(|u| (change.group_id.clone(), u.clone())));
                }
                _ => {}
            }
        }
        for o in outcomes.iter().flatten() {
            if let Outcome::New(m) = o {
                propose(&m.group_id, &m.sender_id, m.seq, m.seq, false);
            }
        }
        for (group, user) in joined {
            let last = self.last_seq(&group, shutdown).await?;
            propose(&group, &user, last, last, false);
        }
        if proposed.is_empty() {
            return Some((vec![], vec![]));
        }
        let unknown: Vec<(String, String)> =
            proposed.keys().filter(|k| !self.reads.contains_key(*k)).cloned().collect();
        if !unknown.is_empty() {
            let known = self.retry(shutdown, || self.shared.store.reads_of(&unknown)).await?;
            for k in unknown {
                self.reads.insert(k, (0, 0));
            }
            for r in known {
                self.reads.insert((r.group_id, r.user_id), (r.delivered_seq, r.seen_seq));
            }
        }
        let mut moved: HashMap<String, Vec<Receipt>> = HashMap::new();
        let mut writes = Vec::new();
        for ((group, user), (delivered, seen, announce)) in proposed {
            let last = self.last_seq(&group, shutdown).await?;
            let seen = seen.min(last);
            let delivered = delivered.min(last).max(seen);
            let known = self.reads.get(&(group.clone(), user.clone())).copied().unwrap_or_default();
            let receipt = Receipt {
                user_id: user.clone(),
                delivered_seq: if delivered > known.0 { delivered } else { 0 },
                seen_seq: if seen > known.1 { seen } else { 0 },
            };
            if receipt.delivered_seq == 0 && receipt.seen_seq == 0 {
                continue;
            }
            let now = (known.0.max(delivered), known.1.max(seen));
            self.reads.insert((group.clone(), user.clone()), now);
            writes.push(ReadState { group_id: group.clone(), user_id: user, delivered_seq: now.0, seen_seq: now.1 });
            if announce {
                moved.entry(group).or_default().push(receipt);
            }
        }
        let fanout_max = self.shared.settings.receipts_fanout_max;
        let moved = moved
            .into_iter()
            .map(|(group_id, receipts)| {
                let fan_out = self.members.get(&group_id).is_none_or(|m| m.count <= fanout_max);
                ReceiptsMoved { group_id, receipts, fan_out }
            })
            .collect();
        Some((moved, writes))
    }

    /// A fence: forgets what it names, so the next post is judged on a fresh read. Forgetting
    /// (rather than applying the change) stays right when two changes' fences arrive in
    /// another order than the changes were stored.
    fn invalidate(&mut self, change: &MembershipChanged) {
        if change.group_deleted {
            self.seqs.remove(&change.group_id);
            self.members.remove(&change.group_id);
            return;
        }
        if let Some(m) = self.members.get_mut(&change.group_id) {
            for u in change.added.iter().chain(&change.removed).chain(&change.changed) {
                m.users.remove(u);
            }
        }
    }

    fn validate(&self, cmd: &PostMessage) -> std::result::Result<(), (&'static str, String)> {
        let settings = &self.shared.settings;
        let invalid = |m: String| Err(("INVALID_MESSAGE", m));
        if cmd.group_id.is_empty() || cmd.sender_id.is_empty() {
            return invalid("groupId and sender are required".into());
        }
        if cmd.client_msg_id.is_empty() || cmd.client_msg_id.len() > CLIENT_MSG_ID_MAX {
            return invalid(format!("clientMsgId must be 1–{CLIENT_MSG_ID_MAX} bytes"));
        }
        // A caption is optional: a message with attachments may have no text.
        let chars = cmd.content.chars().count();
        if (chars == 0 && cmd.attachments.is_empty()) || chars > settings.content_max {
            return invalid(format!("content must be 1–{} characters", settings.content_max));
        }
        if cmd.attachments.len() > settings.attachments_max {
            return invalid(format!("at most {} attachments", settings.attachments_max));
        }
        match cmd.r#type.as_str() {
            "text" if !cmd.attachments.is_empty() => {
                return invalid("a text message carries no attachments: send it as type image or file".into());
            }
            "text" => {}
            "image" | "file" if cmd.attachments.is_empty() => {
                return invalid(format!("a message of type {} needs attachments", cmd.r#type));
            }
            "image" => {
                let not_image = cmd.attachments.iter().any(|a| {
                    crate::attachments::image_format(&crate::attachments::normalize_type(&a.content_type)).is_none()
                });
                if not_image {
                    return invalid("an image message carries PNG, JPEG, GIF or WebP images only".into());
                }
            }
            "file" => {}
            _ => return invalid("type must be text, image or file".into()),
        }
        Ok(())
    }

    /// Runs `op` until it succeeds; `None` when shutdown came first or the step is stuck
    /// (see [`Worker::gives_up`]).
    async fn retry<T, F, Fut>(&self, shutdown: &CancellationToken, op: F) -> Option<T>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = crate::Result<T>>,
    {
        let mut backoff = Backoff::default();
        let mut attempts = 0;
        loop {
            match op().await {
                Ok(v) => return Some(v),
                Err(e) => {
                    tracing::error!(error = %e, "message store; retrying");
                    if self.gives_up(&mut attempts, &e).await || !backoff.wait(shutdown).await {
                        return None;
                    }
                }
            }
        }
    }

    /// The stored first copy of a post, if any, as a repeat (announced already, or announced
    /// by this batch as `announcing` says) or as new (stored but never announced: this batch
    /// announces it, once). `None` when shutdown interrupted the lookup.
    async fn first_copy(
        &self,
        post: &PostMessage,
        announcing: &mut HashSet<String>,
        shutdown: &CancellationToken,
    ) -> Option<Option<Outcome>> {
        let found = self
            .retry(shutdown, || self.shared.store.find_posted(&post.group_id, &post.sender_id, &post.client_msg_id))
            .await?;
        Some(found.map(|(m, published)| {
            if published || self.recent.1.contains(&m.id) || !announcing.insert(m.id.clone()) {
                Outcome::Repeat(m)
            } else {
                Outcome::New(m)
            }
        }))
    }

    /// Gives every accepted post its seq and stores them with one ordered insert. When the
    /// insert stops at a post (its client id was seen before, or another writer took its seq),
    /// that post is settled alone and the rest are numbered again: no seq is ever skipped.
    async fn store(
        &mut self,
        posts: &[(&PostMessage, Option<&str>)],
        measured: &HashMap<usize, Vec<Attachment>>,
        outcomes: &mut [Option<Outcome>],
        stored_now: &mut HashSet<String>,
        shutdown: &CancellationToken,
    ) -> bool {
        let mut pending: Vec<usize> = (0..posts.len()).filter(|&i| outcomes[i].is_none()).collect();
        let mut attempts = 0;
        // `stored_now`: ids this batch announces; a repeat of one of them inside the batch is a
        // repeat, even though its first copy is not announced yet.
        while !pending.is_empty() {
            let mut messages = Vec::with_capacity(pending.len());
            for &i in &pending {
                let post = posts[i].0;
                let Some(last) = self.last_seq(&post.group_id, shutdown).await else { return false };
                let seq = last + 1;
                self.seqs.insert(post.group_id.clone(), seq);
                messages.push(message(post, seq, measured.get(&i)));
            }
            match self.shared.store.insert_many(&messages).await {
                Ok(()) => {
                    for (&i, m) in pending.iter().zip(messages) {
                        stored_now.insert(m.id.clone());
                        outcomes[i] = Some(Outcome::New(m));
                    }
                    return true;
                }
                Err(e) => {
                    let conflict = matches!(&e, crate::Error::Store(m) if hubbub_mongo::is_duplicate_key(m));
                    tracing::debug!(error = %e, "an ordered insert stopped; settling the post it stopped at");
                    let ids: Vec<String> = messages.iter().map(|m| m.id.clone()).collect();
                    let Some(stored) = self.retry(shutdown, || self.shared.store.stored_ids(&ids)).await else {
                        return false;
                    };
                    let stored: HashSet<String> = stored.into_iter().collect();
                    let mut rest = Vec::new();
                    let mut stopped_at = None;
                    for (&i, m) in pending.iter().zip(messages) {
                        if stored.contains(&m.id) {
                            stored_now.insert(m.id.clone());
                            outcomes[i] = Some(Outcome::New(m));
                        } else {
                            stopped_at.get_or_insert(i);
                            rest.push(i);
                        }
                    }
                    // Unstored posts gave back their seqs: numbers restart from the store.
                    for &i in &rest {
                        self.seqs.remove(&posts[i].0.group_id);
                    }
                    if let Some(i) = stopped_at {
                        // No first copy: its seq was taken by another writer; it goes round again.
                        match self.first_copy(posts[i].0, stored_now, shutdown).await {
                            None => return false,
                            Some(found) => outcomes[i] = found,
                        }
                        if outcomes[i].is_none() && rest.len() == pending.len() {
                            // Nothing went in. A taken seq is another writer's doing and is
                            // numbered round; any other refusal is counted towards giving up.
                            if !conflict && self.gives_up(&mut attempts, &e).await {
                                return false;
                            }
                            if !pause(shutdown).await {
                                return false;
                            }
                        }
                    }
                    pending = rest.into_iter().filter(|&i| outcomes[i].is_none()).collect();
                }
            }
        }
        true
    }

    /// Produces every event at once (in order: Kafka keeps a key's order) and waits for all of
    /// them; false when shutdown interrupted it.
    async fn announce(&self, records: &[(String, Vec<u8>, Option<&str>)], shutdown: &CancellationToken) -> bool {
        let mut backoff = Backoff::default();
        let mut unsent: Vec<usize> = (0..records.len()).collect();
        while !unsent.is_empty() {
            let batch: Vec<(&str, &[u8], Option<&str>)> =
                unsent.iter().map(|&i| (records[i].0.as_str(), records[i].1.as_slice(), records[i].2)).collect();
            let results = self.shared.producer.send_all(&self.shared.events_topic, &batch).await;
            // From the first failure on, everything goes again: a later event must never
            // arrive before an earlier one of its group (a repeat is dropped by seq instead).
            match results.iter().position(Result::is_err) {
                Some(first) => unsent.drain(..first).for_each(drop),
                None => unsent.clear(),
            }
            if !unsent.is_empty() {
                tracing::error!(failed = unsent.len(), "publishing message events; retrying");
                if !backoff.wait(shutdown).await {
                    return false;
                }
            }
        }
        true
    }
}

/// Writes what batches leave behind, in batch order, until the worker stops: group heads and
/// read watermarks (retried until written), then the offset commit. Whatever arrives within
/// `books_window_ms` of the first is folded into one round of writes, so a busy partition costs
/// a few writes per window, not a few per batch.
async fn keep_books<S: MessageStore>(
    shared: Arc<Pipeline<S>>,
    consumer: Arc<EventConsumer>,
    mut rx: mpsc::Receiver<Books>,
    shutdown: CancellationToken,
) {
    let window = Duration::from_millis(shared.settings.books_window_ms);
    while let Some(mut books) = rx.recv().await {
        let until = tokio::time::Instant::now() + window;
        loop {
            tokio::select! {
                more = rx.recv() => match more {
                    Some(more) => books.merge(more),
                    None => break,
                },
                _ = tokio::time::sleep_until(until) => break,
            }
        }
        // Retried until written: nothing is committed before its heads and watermarks are (a
        // full queue holds the worker back meanwhile). At shutdown the rest is left uncommitted,
        // so the next owner of the partition handles those commands, and writes them, again.
        let mut backoff = Backoff::default();
        loop {
            let written = futures_util::future::try_join(
                shared.store.set_heads(&books.newest),
                shared.store.move_reads(&books.reads),
            )
            .await;
            match written {
                Ok(_) => break,
                Err(e) => tracing::error!(error = %e, "recording heads and read marks; retrying"),
            }
            if !backoff.wait(&shutdown).await {
                return;
            }
        }
        let mut tpl = TopicPartitionList::new();
        if let Some((topic, partition, next)) = books.commit
            && tpl.add_partition_offset(&topic, partition, Offset::Offset(next)).is_ok()
            && let Err(e) = consumer.commit(&tpl, CommitMode::Async)
        {
            tracing::warn!(error = %e, "committing command offsets");
        }
    }
}

/// A pause before numbering again after a seq conflict with another writer.
async fn pause(shutdown: &CancellationToken) -> bool {
    tokio::select! {
        _ = shutdown.cancelled() => false,
        _ = tokio::time::sleep(Duration::from_millis(50)) => true,
    }
}

/// A new message of a post, with its attachments as checked and measured (`stored`).
fn message(cmd: &PostMessage, seq: u64, stored: Option<&Vec<Attachment>>) -> Message {
    Message {
        id: ObjectId::new().to_hex(),
        group_id: cmd.group_id.clone(),
        seq,
        sender_id: cmd.sender_id.clone(),
        content: cmd.content.clone(),
        r#type: cmd.r#type.clone(),
        attachments: stored.cloned().unwrap_or_default(),
        client_msg_id: Some(cmd.client_msg_id.clone()),
        created_at_ms: mongodb::bson::DateTime::now().timestamp_millis(),
        edited_at_ms: None,
        deleted: false,
    }
}

/// The event of a post's outcome; a first announcement adds its id to `announced`.
fn post_event(post: &PostMessage, outcome: Outcome, announced: &mut Vec<String>) -> message_event::Event {
    let posted = |message: Message, duplicate| {
        message_event::Event::Posted(MessagePosted {
            message: Some(message),
            duplicate,
            origin_node: post.origin_node.clone(),
            origin_socket: post.origin_socket.clone(),
        })
    };
    match outcome {
        Outcome::New(m) => {
            announced.push(m.id.clone());
            posted(m, false)
        }
        Outcome::Repeat(m) => posted(m, true),
        Outcome::Rejected(code, message) => message_event::Event::Rejected(MessageRejected {
            group_id: post.group_id.clone(),
            sender_id: post.sender_id.clone(),
            client_msg_id: post.client_msg_id.clone(),
            code: code.into(),
            message,
            origin_node: post.origin_node.clone(),
            origin_key: String::new(),
        }),
    }
}

/// The event of an edit's, delete's or preview's outcome; none for a preview that changed
/// nothing (it has nobody to tell).
fn change_event(c: &ChangeCommand<'_>, outcome: Outcome) -> Option<message_event::Event> {
    if matches!(c.change, Change::Preview { .. }) && !matches!(outcome, Outcome::New(_)) {
        return None;
    }
    Some(match outcome {
        Outcome::New(m) | Outcome::Repeat(m) => message_event::Event::Changed(MessageChanged {
            message: Some(m),
            origin_node: c.origin_node.to_owned(),
            origin_key: c.origin_key.to_owned(),
        }),
        Outcome::Rejected(code, message) => message_event::Event::Rejected(MessageRejected {
            group_id: c.group_id.to_owned(),
            sender_id: c.actor_id.to_owned(),
            code: code.into(),
            message,
            origin_node: c.origin_node.to_owned(),
            origin_key: c.origin_key.to_owned(),
            ..Default::default()
        }),
    })
}

/// The key (group) an event is published under.
fn event_group(e: &message_event::Event) -> String {
    match e {
        message_event::Event::Posted(p) => p.message.as_ref().map(|m| m.group_id.clone()).unwrap_or_default(),
        message_event::Event::Rejected(r) => r.group_id.clone(),
        message_event::Event::Changed(c) => c.message.as_ref().map(|m| m.group_id.clone()).unwrap_or_default(),
        message_event::Event::Receipts(r) => r.group_id.clone(),
    }
}
