//! The write pipeline against real Kafka, MongoDB, RabbitMQ and Redis (scripts/infra.sh up),
//! with the group and user services running: posts are produced to `message.commands` as chat
//! nodes produce them, and `message.events` is read as chat nodes read it.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::collections::HashMap;
use std::time::Duration;

use hubbub_events::EventConsumer;
use hubbub_events::rdkafka::Message as _;
use hubbub_events::{KafkaSettings, MESSAGE_COMMANDS, MESSAGE_DEAD, MESSAGE_EVENTS, Producer};
use hubbub_message::MessageSettings;
use hubbub_mongo::MongoSettings;
use hubbub_proto::events::{
    MessageCommand, MessageEvent, PostMessage, Receipt, Receipts, message_command, message_event::Event,
};
use hubbub_proto::group::group_service_client::GroupServiceClient;
use hubbub_proto::group::{CreateGroupRequest, RemoveMemberRequest};
use hubbub_proto::message::message_service_client::MessageServiceClient;
use hubbub_proto::message::{LastMessagesRequest, ListMessagesRequest};
use hubbub_proto::user::user_service_client::UserServiceClient;
use hubbub_redis::RedisSettings;
use hubbub_rpc::{Channel, Connector, Ctx, RpcSettings};
use hubbub_testkit::{Running, create_users};
use mongodb::bson::doc;
use prost::Message as _;
use tokio::net::TcpListener;

struct Suite {
    groups: GroupServiceClient<Channel>,
    messages: MessageServiceClient<Channel>,
    producer: Producer,
    commands: String,
    events: EventConsumer,
    /// The dead-letter topic, read from its end as the suite starts.
    dead: EventConsumer,
    mongo: MongoSettings,
    /// What a further replica of the message service needs.
    replica_deps: (MessageSettings, RpcSettings, KafkaSettings),
    running: Running,
    /// Held for the suite's life (dropped last): see [`TURNS`].
    _turn: Turn,
}

/// The tests of this file run in parallel, except the replica test, which runs alone: a
/// consumer-group rebalance on tansu (the Kafka stand-in) can stall past the test's patience
/// when the other tests load the broker at the same moment.
static TURNS: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

enum Turn {
    Shared(#[allow(dead_code)] tokio::sync::RwLockReadGuard<'static, ()>),
    Alone(#[allow(dead_code)] tokio::sync::RwLockWriteGuard<'static, ()>),
}

const USERS: [&str; 4] = ["ann", "bob", "cat", "dan"];

impl Suite {
    async fn start(settings: MessageSettings) -> Self {
        Self::start_on(settings, 4).await
    }

    /// The suite, with no other test of this file running meanwhile.
    async fn start_alone(settings: MessageSettings) -> Self {
        Self::start_with(settings, 4, Turn::Alone(TURNS.write().await)).await
    }

    /// The suite with topics of `partitions` partitions.
    async fn start_on(settings: MessageSettings, partitions: i32) -> Self {
        Self::start_with(settings, partitions, Turn::Shared(TURNS.read().await)).await
    }

    async fn start_with(settings: MessageSettings, partitions: i32, turn: Turn) -> Self {
        let ns = format!("t{}", uuid::Uuid::new_v4().simple());
        let listen = async || TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (group_l, user_l, message_l) = (listen().await, listen().await, listen().await);
        let mut rpc = RpcSettings { queue_prefix: format!("{ns}."), ..RpcSettings::development() };
        rpc.group.grpc_addr = group_l.local_addr().unwrap().to_string();
        rpc.user.grpc_addr = user_l.local_addr().unwrap().to_string();
        rpc.message.grpc_addr = message_l.local_addr().unwrap().to_string();
        let mongo = MongoSettings { database_prefix: format!("{ns}_"), ..MongoSettings::default() };
        let redis = RedisSettings { key_prefix: format!("{ns}:"), ..RedisSettings::default() };
        // A 10 s session (not the 30 s default): the replica test waits on rebalances, and
        // nothing here pauses the broker.
        let kafka = KafkaSettings {
            topic_prefix: format!("{ns}."),
            partitions,
            session_timeout_ms: 10_000,
            ..KafkaSettings::default()
        };
        kafka.ensure_topics(&[MESSAGE_COMMANDS, MESSAGE_EVENTS, MESSAGE_DEAD]).await.unwrap();
        let events = kafka.tail_consumer(&[MESSAGE_EVENTS]).unwrap();
        let dead = kafka.tail_consumer(&[MESSAGE_DEAD]).unwrap();
        let mut running = Running::new();
        let (r, m, k, stop) = (rpc.clone(), mongo.clone(), kafka.clone(), running.shutdown());
        running.spawn(async move {
            hubbub_user::run(
                hubbub_user::Deps { user: &Default::default(), rpc: &r, mongo: &m, redis: &redis },
                user_l,
                stop,
            )
            .await
        });
        let (r, m, stop) = (rpc.clone(), mongo.clone(), running.shutdown());
        running.spawn(async move {
            hubbub_group::run(
                hubbub_group::Deps { group: &Default::default(), rpc: &r, mongo: &m, kafka: &k },
                group_l,
                stop,
            )
            .await
        });
        let replica_deps = (settings.clone(), rpc.clone(), kafka.clone());
        let (r, k, m, stop) = (rpc.clone(), kafka.clone(), mongo.clone(), running.shutdown());
        running.spawn(async move {
            hubbub_message::run(
                hubbub_message::Deps {
                    message: &settings,
                    rpc: &r,
                    mongo: &m,
                    kafka: &k,
                    storage: &Default::default(),
                },
                message_l,
                stop,
            )
            .await
        });
        let connector = Connector::new(rpc.clone());
        let mut users = UserServiceClient::new(connector.channel(&rpc.user).await.unwrap());
        create_users(&mut users, &USERS).await;
        Suite {
            groups: GroupServiceClient::new(connector.channel(&rpc.group).await.unwrap()),
            messages: MessageServiceClient::new(connector.channel(&rpc.message).await.unwrap()),
            producer: kafka.producer().unwrap(),
            commands: kafka.topic(MESSAGE_COMMANDS),
            events,
            dead,
            mongo,
            replica_deps,
            running,
            _turn: turn,
        }
    }

    /// Another replica of the message service, in the same consumer group (so the partitions
    /// are shared out again), stopped with its own token.
    async fn replica(&self) -> (tokio_util::sync::CancellationToken, tokio::task::JoinHandle<anyhow::Result<()>>) {
        let (settings, rpc, kafka) = self.replica_deps.clone();
        let mongo = self.mongo.clone();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let stop = tokio_util::sync::CancellationToken::new();
        let token = stop.clone();
        let task = tokio::spawn(async move {
            let deps = hubbub_message::Deps {
                message: &settings,
                rpc: &rpc,
                mongo: &mongo,
                kafka: &kafka,
                storage: &Default::default(),
            };
            hubbub_message::run(deps, listener, token).await
        });
        (stop, task)
    }

    async fn stop(self) {
        self.running.stop().await;
    }

    async fn group(&self, name: &str) -> String {
        let req = CreateGroupRequest {
            name: name.into(),
            member_ids: vec!["bob".into(), "cat".into(), "dan".into()],
            ..Default::default()
        };
        self.groups.clone().create_group(who("ann").request(req)).await.unwrap().into_inner().id
    }

    /// Produces posts as chat nodes do: all queued at once, in order.
    async fn post(&self, posts: &[(&str, &str, String)]) {
        let payloads: Vec<(String, Vec<u8>)> = posts
            .iter()
            .map(|(group, sender, client_id)| {
                let post = PostMessage {
                    group_id: (*group).into(),
                    sender_id: (*sender).into(),
                    client_msg_id: client_id.clone(),
                    content: format!("hello from {sender}"),
                    r#type: "text".into(),
                    origin_node: "test".into(),
                    ..Default::default()
                };
                let c = MessageCommand { command: Some(message_command::Command::Post(post)) };
                ((*group).to_owned(), c.encode_to_vec())
            })
            .collect();
        let records: Vec<(&str, &[u8], Option<&str>)> =
            payloads.iter().map(|(k, p)| (k.as_str(), p.as_slice(), None)).collect();
        for r in self.producer.send_all(&self.commands, &records).await {
            r.unwrap();
        }
    }

    /// The next `n` events other than receipts, in the order they were published.
    async fn events(&self, n: usize) -> Vec<Event> {
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            let record = tokio::time::timeout(Duration::from_secs(20), self.events.recv()).await.unwrap().unwrap();
            match MessageEvent::decode(record.payload().unwrap()).unwrap().event {
                Some(Event::Receipts(_)) | None => {}
                Some(e) => out.push(e),
            }
        }
        out
    }

    /// The next event other than receipts, with the partition it came on. A rebalance (a
    /// replica joining or leaving) may hold events back for a consumer session or two; these
    /// tests check what arrives and in which order, not how fast.
    async fn event_on(&self) -> (i32, Event) {
        loop {
            let record = tokio::time::timeout(Duration::from_secs(45), self.events.recv()).await.unwrap().unwrap();
            if let Some(e @ (Event::Posted(_) | Event::Rejected(_) | Event::Changed(_))) =
                MessageEvent::decode(record.payload().unwrap()).unwrap().event
            {
                return (record.partition(), e);
            }
        }
    }

    /// Writes a record into a group's history that no reader can parse (a number where the
    /// content belongs, no sender), at `seq`: whatever reads the group's last seq fails on it,
    /// every time, while the store itself answers.
    async fn corrupt(&self, group: &str, seq: i64) {
        let db = self.mongo.database("message").await.unwrap();
        let record = doc! { "_id": format!("corrupt-{group}"), "groupId": group, "seq": seq, "content": 12345 };
        db.collection::<mongodb::bson::Document>("messages").insert_one(record).await.unwrap();
    }

    /// Produces one command and waits for Kafka to take it, as a chat node's flush does.
    async fn command(&self, group: &str, command: message_command::Command) {
        let c = MessageCommand { command: Some(command) };
        self.producer.send(&self.commands, group, &c.encode_to_vec(), None).await.unwrap();
    }

    /// A user's read-state document, as the store keeps it.
    async fn read_state(&self, group: &str, user: &str) -> Option<mongodb::bson::Document> {
        let db = self.mongo.database("message").await.unwrap();
        db.collection::<mongodb::bson::Document>("reads")
            .find_one(doc! { "groupId": group, "userId": user })
            .await
            .unwrap()
    }
}

fn who(user: &str) -> Ctx {
    Ctx::new(format!("req-{user}")).as_user(user)
}

#[tokio::test]
async fn a_burst_into_many_groups_is_numbered_without_gaps_in_send_order_and_repeats_are_not_stored_twice() {
    let s = Suite::start(MessageSettings::default()).await;
    let groups = [s.group("one").await, s.group("two").await, s.group("three").await];
    // 300 posts across three groups and four senders, and every tenth post sent twice in the
    // same burst (a client retrying before its ack), so repeats land in the same batches.
    let mut posts = Vec::new();
    for k in 0..300usize {
        let post = (groups[k % 3].as_str(), USERS[k % 4], format!("m{k}"));
        if k % 10 == 0 {
            posts.push(post.clone());
        }
        posts.push(post);
    }
    s.post(&posts).await;
    let events = s.events(posts.len()).await;

    // Per group: (seq, client id) in announcement order; per client id: the first copy's id.
    let mut seqs: HashMap<String, Vec<(u64, String)>> = HashMap::new();
    let mut firsts: HashMap<String, String> = HashMap::new();
    let mut repeats = 0usize;
    for e in events {
        let Event::Posted(p) = e else { panic!("rejected: {e:?}") };
        let m = p.message.unwrap();
        let client_id = m.client_msg_id.clone().unwrap();
        if p.duplicate {
            repeats += 1;
            assert_eq!(firsts.get(&client_id), Some(&m.id), "a repeat acknowledges the first copy");
        } else {
            assert!(firsts.insert(client_id.clone(), m.id).is_none(), "{client_id} announced twice");
            seqs.entry(m.group_id).or_default().push((m.seq, client_id));
        }
    }
    println!("announced {} messages, {repeats} repeats acknowledged without a second copy", firsts.len());
    assert_eq!((firsts.len(), repeats), (300, 30));
    for (g, list) in &seqs {
        let numbers: Vec<u64> = list.iter().map(|(seq, _)| *seq).collect();
        assert_eq!(numbers, (1..=100).collect::<Vec<_>>(), "group {g}: seqs in announcement order");
        // Numbered in the order they were sent.
        let sent: Vec<usize> = list.iter().map(|(_, c)| c[1..].parse().unwrap()).collect();
        assert!(sent.windows(2).all(|w| w[0] < w[1]), "group {g}: seq order is send order");
    }
    let history = s
        .messages
        .clone()
        .list_messages(who("bob").request(ListMessagesRequest {
            group_id: groups[0].clone(),
            after: Some(0),
            limit: 200,
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(history.messages.iter().map(|m| m.seq).collect::<Vec<_>>(), (1..=100).collect::<Vec<_>>());
    // Each group's newest message, for group lists, in one call: recorded off the path, within
    // a books window or so of the events.
    let mut want: Vec<(String, u64)> = groups.iter().map(|g| (g.clone(), 100)).collect();
    want.sort();
    let mut heads = Vec::new();
    for _ in 0..50 {
        let last = s
            .messages
            .clone()
            .last_messages(who("bob").request(LastMessagesRequest { group_ids: groups.to_vec() }))
            .await
            .unwrap()
            .into_inner();
        heads = last.messages.into_iter().map(|m| (m.group_id, m.seq)).collect();
        heads.sort();
        if heads == want {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(heads, want);
    s.stop().await;
}

#[tokio::test]
async fn a_removal_is_never_outrun_even_while_the_membership_is_cached() {
    // A day-long cache: only the fence can tell the pipeline about the removal.
    let s = Suite::start(MessageSettings { membership_cache_secs: 86_400, ..MessageSettings::default() }).await;
    let group = s.group("crew").await;
    s.post(&[(group.as_str(), "dan", "before".into())]).await;
    let Event::Posted(first) = s.events(1).await.remove(0) else { panic!("dan is a member") };

    let remove = RemoveMemberRequest { group_id: group.clone(), user_id: "dan".into() };
    s.groups.clone().remove_member(who("ann").request(remove)).await.unwrap();
    // Sent after the removal returned: refused. A repeat of the post acknowledged before the
    // removal gets that message back, not a refusal.
    s.post(&[(group.as_str(), "dan", "after".into()), (group.as_str(), "dan", "before".into())]).await;
    let events = s.events(2).await;
    println!("after the removal: {events:?}");
    assert!(matches!(&events[0], Event::Rejected(r) if r.code == "NOT_A_MEMBER" && r.client_msg_id == "after"));
    assert!(
        matches!(&events[1], Event::Posted(p) if p.duplicate && p.message.as_ref().map(|m| &m.id) == first.message.as_ref().map(|m| &m.id))
    );
    s.stop().await;
}

#[tokio::test]
async fn a_thousand_seen_receipts_for_one_member_cost_a_bounded_number_of_writes() {
    // A long window makes the difference plain: one write per window, not one per receipt.
    let window_ms = 1000;
    let s = Suite::start(MessageSettings { books_window_ms: window_ms, ..MessageSettings::default() }).await;
    let group = s.group("chatty").await;
    let posts: Vec<(&str, &str, String)> = (0..100).map(|k| (group.as_str(), "ann", format!("p{k}"))).collect();
    s.post(&posts).await;
    s.events(100).await;
    // Bob's client reports seen for every message it shows, ten times each, one at a time,
    // and overshoots at the end: 1,000 receipts, each sent alone as a flush would send it.
    let started = std::time::Instant::now();
    for i in 0..1000u64 {
        let seq = if i == 999 { 5_000 } else { 1 + i / 10 };
        let receipts = Receipts {
            group_id: group.clone(),
            receipts: vec![Receipt { user_id: "bob".into(), delivered_seq: 0, seen_seq: seq }],
        };
        s.command(&group, message_command::Command::Receipts(receipts)).await;
    }
    let elapsed = started.elapsed();
    let state = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            if let Some(d) = s.read_state(&group, "bob").await
                && d.get_i64("seenSeq").unwrap_or(0) == 100
            {
                return d;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .expect("the watermark reached the last seq");
    let writes = state.get_i32("writes").map(i64::from).or_else(|_| state.get_i64("writes")).unwrap();
    let bound = i64::try_from(elapsed.as_millis() / u128::from(window_ms)).unwrap() + 3;
    println!(
        "1000 seen receipts for one member over {} ms: {writes} writes of its read state (bound {bound}), \
         seen clamped to {} of 100, delivered {}",
        elapsed.as_millis(),
        state.get_i64("seenSeq").unwrap(),
        state.get_i64("deliveredSeq").unwrap()
    );
    assert_eq!(state.get_i64("deliveredSeq").unwrap(), 100, "seen implies delivered");
    assert!(writes <= bound, "{writes} writes for 1000 receipts: not coalesced");
    s.stop().await;
}

#[tokio::test]
async fn a_command_that_always_fails_is_set_aside_and_the_commands_after_it_go_on() {
    // One partition: every group shares it, so a stuck command would hold up all of them.
    let s = Suite::start_on(MessageSettings { poison_attempts: 3, ..MessageSettings::default() }, 1).await;
    let (bad, good) = (s.group("bad").await, s.group("good").await);
    s.corrupt(&bad, 1).await;
    let started = std::time::Instant::now();
    s.post(&[
        (good.as_str(), "bob", "before".into()),
        (bad.as_str(), "ann", "doomed".into()),
        (good.as_str(), "cat", "after".into()),
    ])
    .await;
    let events = s.events(3).await;
    let elapsed = started.elapsed();
    let mut posted = Vec::new();
    let mut refused = Vec::new();
    for e in &events {
        match e {
            Event::Posted(p) => {
                posted.push(p.message.as_ref().map(|m| (m.client_msg_id.clone().unwrap(), m.seq)).unwrap())
            }
            Event::Rejected(r) => refused.push((r.client_msg_id.clone(), r.code.clone())),
            Event::Changed(_) | Event::Receipts(_) => {}
        }
    }
    // Detached: a message still borrowed from its consumer keeps librdkafka from closing it.
    let dead =
        tokio::time::timeout(Duration::from_secs(10), s.dead.recv()).await.expect("a dead letter").unwrap().detach();
    let header = |name: &str| {
        use hubbub_events::rdkafka::message::Headers as _;
        dead.headers().and_then(|h| {
            h.iter().find(|x| x.key == name).and_then(|x| x.value.map(|v| String::from_utf8_lossy(v).into_owned()))
        })
    };
    let set_aside = MessageCommand::decode(dead.payload().unwrap()).unwrap();
    let Some(message_command::Command::Post(set_aside)) = set_aside.command else { panic!("the post is set aside") };
    println!(
        "posted {posted:?}, refused {refused:?} within {} ms; set aside: {} from {:?} because {:?}",
        elapsed.as_millis(),
        set_aside.client_msg_id,
        header("x-hubbub-dead-origin"),
        header("x-hubbub-dead-reason"),
    );
    assert_eq!(posted, vec![("before".to_owned(), 1), ("after".to_owned(), 2)], "the good group goes on, gapless");
    assert_eq!(refused, vec![("doomed".to_owned(), "SERVER_ERROR".to_owned())], "the sender is told");
    assert_eq!((set_aside.client_msg_id.as_str(), set_aside.group_id.as_str()), ("doomed", bad.as_str()));
    assert!(header("x-hubbub-dead-reason").is_some_and(|r| !r.is_empty()));
    // And the partition keeps going.
    s.post(&[(good.as_str(), "dan", "later".into())]).await;
    let Event::Posted(later) = s.events(1).await.remove(0) else { panic!("posted") };
    assert_eq!(later.message.unwrap().seq, 3);
    s.stop().await;
}

#[tokio::test]
async fn a_partition_whose_task_is_stuck_holds_up_no_other_partition() {
    // A step that never gives up, small batches and a short lane: a stuck partition's backlog
    // fills its lane at once.
    let settings = MessageSettings {
        poison_attempts: 1_000_000,
        batch_max: 2,
        partition_backlog_max: 4,
        ..MessageSettings::default()
    };
    let s = Suite::start_on(settings, 2).await;
    // Two groups on different partitions, found by posting to new groups until both are seen.
    let mut on: HashMap<i32, String> = HashMap::new();
    for k in 0..40 {
        let g = s.group(&format!("g{k}")).await;
        s.post(&[(g.as_str(), "ann", format!("probe{k}"))]).await;
        let (partition, _) = s.event_on().await;
        on.entry(partition).or_insert(g);
        if on.len() == 2 {
            break;
        }
    }
    let (stuck, free) = (on[&0].clone(), on[&1].clone());
    // The stuck group's next seq is taken by a record nobody can read: its task retries for
    // ever. Then far more posts than its queue holds.
    s.corrupt(&stuck, 2).await;
    let flood: Vec<(&str, &str, String)> = (0..40).map(|k| (stuck.as_str(), "bob", format!("flood{k}"))).collect();
    s.post(&flood).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let started = std::time::Instant::now();
    s.post(&[(free.as_str(), "cat", "unaffected".into())]).await;
    let (partition, event) = s.event_on().await;
    println!(
        "with 40 posts stuck on partition 0, a post on partition 1 was announced after {} ms",
        started.elapsed().as_millis()
    );
    let Event::Posted(p) = event else { panic!("posted: {event:?}") };
    assert_eq!((partition, p.message.unwrap().client_msg_id.unwrap()), (1, "unaffected".to_owned()));
    s.stop().await;
}

#[tokio::test]
async fn a_replica_joining_and_leaving_mid_stream_keeps_every_group_gapless_and_in_send_order() {
    let s = Suite::start_alone(MessageSettings::default()).await;
    let groups = [s.group("east").await, s.group("west").await, s.group("north").await];
    // 800 posts in 40 bursts over about 10 s; a second replica joins the consumer group after
    // the 8th burst (the partitions are shared out again) and leaves after the 28th (and again).
    let (mut joined, mut left) = (0, 0);
    let mut second = None;
    for burst in 0..40usize {
        let posts: Vec<(&str, &str, String)> = (0..20)
            .map(|k| {
                let n = burst * 20 + k;
                (groups[n % 3].as_str(), USERS[n % 4], format!("r{n}"))
            })
            .collect();
        s.post(&posts).await;
        if burst == 8 {
            second = Some(s.replica().await);
            joined = (burst + 1) * 20;
        }
        if burst == 28
            && let Some((stop, task)) = second.take()
        {
            stop.cancel();
            task.await.unwrap().unwrap();
            left = (burst + 1) * 20;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    // Every post announced: by client id the message it became, by (group, seq) the post it is.
    let mut first: HashMap<String, String> = HashMap::new();
    let mut at: HashMap<(String, u64), String> = HashMap::new();
    let (mut repeats, mut conflicts) = (0usize, 0usize);
    let until = std::time::Instant::now() + Duration::from_secs(90);
    while first.len() < 800 && std::time::Instant::now() < until {
        let (_, event) = s.event_on().await;
        let Event::Posted(p) = event else { panic!("refused: {event:?}") };
        let m = p.message.unwrap();
        let client_id = m.client_msg_id.clone().unwrap();
        match first.get(&client_id) {
            Some(id) if *id == m.id => repeats += 1,
            Some(_) => conflicts += 1,
            None => {
                first.insert(client_id.clone(), m.id.clone());
            }
        }
        match at.get(&(m.group_id.clone(), m.seq)) {
            Some(c) if *c != client_id => conflicts += 1,
            Some(_) => {}
            None => {
                at.insert((m.group_id.clone(), m.seq), client_id);
            }
        }
    }
    println!(
        "800 posts; a replica joined after {joined} and left after {left}: announced {} messages (+{repeats} repeats \
         of the same message, dropped by id), {conflicts} conflicts (one post stored twice, or one seq for two posts)",
        first.len()
    );
    assert_eq!((first.len(), conflicts), (800, 0));
    for g in &groups {
        let mut seqs: Vec<(u64, usize)> = at
            .iter()
            .filter(|((group, _), _)| group == g)
            .map(|((_, seq), c)| (*seq, c[1..].parse::<usize>().unwrap()))
            .collect();
        seqs.sort();
        let numbers: Vec<u64> = seqs.iter().map(|(seq, _)| *seq).collect();
        assert_eq!(numbers, (1..=numbers.len() as u64).collect::<Vec<_>>(), "group {g}: gapless");
        assert!(seqs.windows(2).all(|w| w[0].1 < w[1].1), "group {g}: seq order is send order");
    }
    s.stop().await;
}

#[tokio::test]
async fn a_seq_once_stored_is_never_handed_out_again_even_by_a_store_that_lost_it() {
    // One partition and quick giving up: a poison command makes the task drop its caches.
    let s = Suite::start_on(MessageSettings { poison_attempts: 3, ..MessageSettings::default() }, 1).await;
    let (group, bad) = (s.group("kept").await, s.group("bad").await);
    let posts: Vec<(&str, &str, String)> = (1..=3).map(|k| (group.as_str(), "ann", format!("k{k}"))).collect();
    s.post(&posts).await;
    let stored = s.events(3).await;
    let Some(Event::Posted(third)) = stored.last() else { panic!("posted") };
    let third = third.message.clone().unwrap();
    assert_eq!(third.seq, 3);
    // The store loses the acknowledged third message (as a stand-in server killed with SIGKILL
    // was seen to), and the task forgets what it knew (a command set aside drops its caches).
    let db = s.mongo.database("message").await.unwrap();
    db.collection::<mongodb::bson::Document>("messages").delete_one(doc! { "_id": &third.id }).await.unwrap();
    s.corrupt(&bad, 1).await;
    s.post(&[(bad.as_str(), "bob", "doomed".into())]).await;
    assert!(matches!(s.events(1).await.remove(0), Event::Rejected(r) if r.code == "SERVER_ERROR"));
    s.post(&[(group.as_str(), "cat", "next".into())]).await;
    let Event::Posted(next) = s.events(1).await.remove(0) else { panic!("posted") };
    let next = next.message.unwrap();
    println!("the store lost seq 3 and the task forgot its caches: the next post got seq {}", next.seq);
    assert_eq!(next.seq, 4, "a gap clients can see, not two messages under seq 3");
    s.stop().await;
}
