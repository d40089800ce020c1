//! The outbox against real MongoDB and Kafka (scripts/infra.sh up): what a committed change
//! stored is published, in order, exactly once, whatever happened to the first publish; what an
//! aborted change stored never is.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::time::Duration;

use hubbub_events::EventConsumer;
use hubbub_events::rdkafka::Message as _;
use hubbub_events::{GROUP_EVENTS, KafkaSettings};
use hubbub_mongo::MongoSettings;
use hubbub_outbox::{Outbox, OutboxSettings, Outgoing};
use mongodb::Database;
use mongodb::bson::{Document, doc};
use tokio_util::sync::CancellationToken;

struct Setup {
    db: Database,
    kafka: KafkaSettings,
    topic: String,
    tail: EventConsumer,
}

async fn setup() -> Setup {
    let ns = format!("t{}", uuid::Uuid::new_v4().simple());
    let mongo = MongoSettings { database_prefix: format!("{ns}_"), ..MongoSettings::default() };
    let db = mongo.database("outbox").await.unwrap();
    let kafka = KafkaSettings { topic_prefix: format!("{ns}."), partitions: 1, ..KafkaSettings::default() };
    kafka.ensure_topics(&[GROUP_EVENTS]).await.unwrap();
    let tail = kafka.tail_consumer(&[GROUP_EVENTS]).unwrap();
    let topic = kafka.topic(GROUP_EVENTS);
    Setup { db, kafka, topic, tail }
}

fn event(topic: &str, name: &str) -> Outgoing {
    Outgoing { topic: topic.into(), key: "g1".into(), payload: name.as_bytes().to_vec(), request_id: None }
}

/// A change (a document) and its events in one transaction, committed or aborted.
async fn change(db: &Database, outbox: &Outbox, events: &[Outgoing], commit: bool) {
    let mut s = db.client().start_session().await.unwrap();
    s.start_transaction().await.unwrap();
    db.collection::<Document>("things").insert_one(doc! { "n": events.len() as i64 }).session(&mut s).await.unwrap();
    outbox.stage(&mut s, events).await.unwrap();
    if commit {
        s.commit_transaction().await.unwrap();
        outbox.poke();
    } else {
        s.abort_transaction().await.unwrap();
    }
}

/// What the topic carries from now on, until it is quiet for `quiet`.
async fn published(tail: &EventConsumer, quiet: Duration) -> Vec<String> {
    let mut out = Vec::new();
    while let Ok(Ok(r)) = tokio::time::timeout(quiet, tail.recv()).await {
        out.push(String::from_utf8(r.payload().unwrap().to_vec()).unwrap());
    }
    out
}

#[tokio::test]
async fn what_a_committed_change_stored_is_published_in_order_even_when_the_first_publish_fails() {
    let s = setup().await;
    // A short lease: a crashed relay's successor takes over after it runs out.
    let settings = OutboxSettings { poll_ms: 100, lease_ms: 1000, ..OutboxSettings::default() };
    let outbox = Outbox::new(&s.db, settings.clone()).await.unwrap();
    // The broker is unreachable for the first relay: every publish fails.
    let down = KafkaSettings { brokers: "127.0.0.1:1".into(), message_timeout_ms: 300, ..s.kafka.clone() };
    let stop = CancellationToken::new();
    let failing = tokio::spawn(outbox.clone().relay(down.producer().unwrap(), stop.clone()));
    change(&s.db, &outbox, &[event(&s.topic, "removed"), event(&s.topic, "fence")], true).await;
    change(&s.db, &outbox, &[event(&s.topic, "aborted")], false).await;
    change(&s.db, &outbox, &[event(&s.topic, "deleted")], true).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let stranded = outbox.pending().await.unwrap();
    // The process dies before anything got out.
    failing.abort();
    let _ = failing.await;
    drop(stop);
    assert!(published(&s.tail, Duration::from_millis(500)).await.is_empty(), "nothing reached the broker");

    // Its successor, with the broker back, publishes what was stored.
    let stop = CancellationToken::new();
    let relay =
        tokio::spawn(Outbox::new(&s.db, settings).await.unwrap().relay(s.kafka.producer().unwrap(), stop.clone()));
    let started = std::time::Instant::now();
    let got = published(&s.tail, Duration::from_secs(3)).await;
    let want = ["removed", "fence", "deleted"];
    // `published` ends after 3 s of quiet: what is left is when the last event came.
    let last_ms = started.elapsed().as_millis().saturating_sub(3000);
    println!(
        "the successor's last event came about {last_ms} ms after it started (the dead relay's lease ran out first)"
    );
    let lost = want.iter().filter(|w| !got.iter().any(|g| g == *w)).count();
    let duplicated = got.len() - got.iter().collect::<std::collections::HashSet<_>>().len();
    println!(
        "stored 3 committed events, {stranded} waited out a dead broker; published {got:?}: lost {lost}, \
         duplicated {duplicated}, from the aborted change {}",
        got.iter().filter(|g| *g == "aborted").count()
    );
    assert_eq!(stranded, 3, "the failed publishes left the events stored");
    assert_eq!(got, want, "every committed event once, in order, and nothing of the aborted change");
    assert_eq!(outbox.pending().await.unwrap(), 0, "published events are removed");
    stop.cancel();
    relay.await.unwrap();
}

#[tokio::test]
async fn two_relays_at_once_publish_each_event_once_and_in_order() {
    let s = setup().await;
    let settings = OutboxSettings { poll_ms: 50, ..OutboxSettings::default() };
    let (a, b) = (Outbox::new(&s.db, settings.clone()).await.unwrap(), Outbox::new(&s.db, settings).await.unwrap());
    let stop = CancellationToken::new();
    let relays = [
        tokio::spawn(a.clone().relay(s.kafka.producer().unwrap(), stop.clone())),
        tokio::spawn(b.clone().relay(s.kafka.producer().unwrap(), stop.clone())),
    ];
    // Both processes store changes, turn about.
    let mut want = Vec::new();
    for k in 0..40 {
        let name = format!("e{k}");
        let outbox = if k % 2 == 0 { &a } else { &b };
        change(&s.db, outbox, &[event(&s.topic, &name)], true).await;
        want.push(name);
    }
    let got = published(&s.tail, Duration::from_secs(3)).await;
    let duplicated = got.len() - got.iter().collect::<std::collections::HashSet<_>>().len();
    println!("two relays, 40 events stored: published {}, duplicated {duplicated}", got.len());
    assert_eq!(got, want);
    stop.cancel();
    for r in relays {
        r.await.unwrap();
    }
}
