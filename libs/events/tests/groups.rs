//! Readiness of group consumers against a real Kafka-protocol server (scripts/infra.sh up).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::time::{Duration, Instant};

use hubbub_events::{KafkaSettings, Start};

// A broker may hold a joining member for seconds (tansu pauses a static member 3 s, Kafka delays
// a new group's first rebalance), and a process that took work meanwhile would sit on it: `/ready`
// says "not ready" until every group consumer of the process has had its partitions.
#[tokio::test]
async fn a_process_is_not_ready_until_its_consumer_groups_have_their_partitions() {
    let ns = format!("t{}", uuid::Uuid::new_v4().simple());
    let kafka = KafkaSettings { topic_prefix: format!("{ns}."), partitions: 2, ..KafkaSettings::default() };
    kafka.ensure_topics(&["work"]).await.unwrap();
    let consumer = kafka.group_consumer("workers", &["work"], Start::Earliest).unwrap();
    let waiting = hubbub_events::groups_joined().expect_err("no assignment yet");
    assert!(waiting.contains(&format!("{ns}.workers")), "{waiting}");
    // Assignments are handed over while the consumer is polled.
    let started = Instant::now();
    while hubbub_events::groups_joined().is_err() {
        assert!(started.elapsed() < Duration::from_secs(30), "no assignment within 30 s");
        let _ = tokio::time::timeout(Duration::from_millis(100), consumer.recv()).await;
    }
    println!("consumer group joined after {:?}", started.elapsed());
    // A consumer that is gone (dropped before it joined) never holds readiness back.
    let other = kafka.group_consumer("gone", &["work"], Start::Earliest).unwrap();
    assert!(hubbub_events::groups_joined().is_err());
    drop(other);
    assert_eq!(hubbub_events::groups_joined(), Ok(()));
}
