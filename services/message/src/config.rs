//! Settings of the message service.

use serde::{Deserialize, Serialize};

/// `[message]`: limits.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default)]
pub struct MessageSettings {
    /// Longest message content (characters).
    pub content_max: usize,
    /// Most attachments on one message.
    pub attachments_max: usize,
    /// History page size when the caller asks for none.
    pub history_default_limit: u32,
    /// Largest history page.
    pub history_max_limit: u32,
    /// Kafka consumer group of the pipeline.
    pub consumer_group: String,
    /// Most commands of one partition handled as one batch (one insert, one commit).
    pub batch_max: usize,
    /// Seconds a cached membership is trusted before it is read again (fences keep it current;
    /// this bounds how long a lost fence could matter).
    pub membership_cache_secs: u64,
    /// Groups one partition task keeps memberships of before it starts afresh.
    pub membership_cache_groups: usize,
}

impl Default for MessageSettings {
    fn default() -> Self {
        Self {
            content_max: 4000,
            attachments_max: 10,
            history_default_limit: 50,
            history_max_limit: 200,
            consumer_group: "message".into(),
            batch_max: 256,
            membership_cache_secs: 60,
            membership_cache_groups: 100_000,
        }
    }
}
