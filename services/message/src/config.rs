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
    /// (group, user) watermarks one partition task remembers before it starts afresh.
    pub read_cache_entries: usize,
    /// Groups with more members than this keep their receipts but do not fan them out.
    pub receipts_fanout_max: u32,
    /// Group heads, published marks, read watermarks and offset commits are written at most
    /// once per this many milliseconds per partition (what arrives meanwhile is folded in).
    pub books_window_ms: u64,
    /// How long a REST send, edit or delete waits for the pipeline before answering 503.
    pub request_timeout_ms: u64,
    /// Messages in a catch-up answer when the client asks for no number.
    pub sync_default_limit: u32,
    /// Most messages in one catch-up answer.
    pub sync_max_limit: u32,
    /// Most groups in one catch-up request.
    pub sync_groups_max: usize,
    /// Failed attempts in a row (backing off from 100 ms to 5 s) after which a step that fails
    /// while the store still answers gives up: its batch is tried command by command, and a
    /// command that still fails is set aside in the dead-letter topic and refused to its
    /// sender, so one bad command never stalls its partition. An outage is waited out.
    pub poison_attempts: u32,
    /// Commands one partition may have waiting for its task before the partition is paused at
    /// the broker (its task is behind; the other partitions go on).
    pub partition_backlog_max: usize,
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
            read_cache_entries: 200_000,
            receipts_fanout_max: 100,
            books_window_ms: 100,
            request_timeout_ms: 10_000,
            sync_default_limit: 100,
            sync_max_limit: 500,
            sync_groups_max: 500,
            poison_attempts: 6,
            partition_backlog_max: 1024,
        }
    }
}
