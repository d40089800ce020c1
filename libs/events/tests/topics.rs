//! Topic creation against a real Kafka-protocol server (scripts/infra.sh up).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::time::Duration;

use hubbub_events::KafkaSettings;
use hubbub_events::rdkafka::admin::{AdminClient, AdminOptions, ResourceSpecifier};
use hubbub_events::rdkafka::client::DefaultClientContext;
use hubbub_events::rdkafka::config::ClientConfig;

// Production Kafka keeps each record on several brokers: the replication factor and
// min.insync.replicas are settings (HUBBUB_KAFKA__REPLICATION_FACTOR, ..._MIN_INSYNC_REPLICAS),
// and the topics we create carry them, so that with the producers' acks=all a write is confirmed
// only once that many replicas hold it. The local broker is a single node: it records what it
// was asked for, which is what this checks.
#[tokio::test]
async fn topics_are_created_with_the_configured_replication_factor_and_min_insync_replicas() {
    let ns = format!("t{}", uuid::Uuid::new_v4().simple());
    let kafka = KafkaSettings {
        topic_prefix: format!("{ns}."),
        partitions: 2,
        replication_factor: 3,
        min_insync_replicas: 2,
        ..KafkaSettings::default()
    };
    kafka.ensure_topics(&["durable"]).await.unwrap();
    let topic = kafka.topic("durable");
    let admin: AdminClient<DefaultClientContext> =
        ClientConfig::new().set("bootstrap.servers", &kafka.brokers).create().unwrap();
    let opts = AdminOptions::new().request_timeout(Some(Duration::from_secs(10)));
    let described = admin.describe_configs(&[ResourceSpecifier::Topic(&topic)], &opts).await.unwrap();
    let config = described.into_iter().next().unwrap().unwrap();
    let min_insync = config.get("min.insync.replicas").and_then(|e| e.value.clone());
    let metadata = admin.inner().fetch_metadata(Some(&topic), Duration::from_secs(10)).unwrap();
    let replicas: Vec<usize> = metadata.topics()[0].partitions().iter().map(|p| p.replicas().len()).collect();
    println!("created {topic}: replicas per partition {replicas:?}, min.insync.replicas {min_insync:?}");
    assert_eq!(replicas, vec![3, 3], "every partition has the configured number of replicas");
    assert_eq!(min_insync.as_deref(), Some("2"));
}
