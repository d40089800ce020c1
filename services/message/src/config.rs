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
}

impl Default for MessageSettings {
    fn default() -> Self {
        Self {
            content_max: 4000,
            attachments_max: 10,
            history_default_limit: 50,
            history_max_limit: 200,
            consumer_group: "message".into(),
        }
    }
}
