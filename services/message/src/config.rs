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
    /// Group heads (for group lists and the mark of what was published), read watermarks and
    /// offset commits are written at most once per this many milliseconds per partition (what
    /// arrives meanwhile is folded in): group lists and `readSeq` may lag by this much.
    pub books_window_ms: u64,
    /// How long a REST send, edit or delete waits for the pipeline (its produce included) before
    /// answering 503; below the callers' RPC deadline (`rpc.default_timeout_ms`, 10 s), so the
    /// answer is a retryable 503 and not the caller giving up.
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
    /// Largest attachment, in bytes (the upload's signature pins the exact size).
    pub upload_max_bytes: u64,
    /// Content types an attachment may have, comma-separated.
    pub upload_types: String,
    /// Of those, the ones a browser may show in place; everything else downloads as a file
    /// (so an uploaded SVG or HTML page never runs as a page).
    pub inline_types: String,
    /// Longest attachment file name, in characters.
    pub upload_name_max: usize,
    /// Uploads never attached to a message are removed after this many seconds.
    pub upload_orphan_secs: u64,
    /// How often orphaned and discarded uploads are swept, in seconds.
    pub upload_sweep_secs: u64,
    /// Largest image (width × height) the service decodes; a larger `image` is refused.
    pub image_max_pixels: u64,
    /// Bytes read from the front of an image to measure it when a message is written.
    pub image_probe_bytes: u64,
    /// Longest side of an image preview, in pixels.
    pub thumbnail_max_side: u32,
    /// How often a replica looks for images that want a preview when not told of one, in ms.
    pub thumbnail_poll_ms: u64,
}

impl MessageSettings {
    /// `upload_orphan_secs` in milliseconds.
    pub fn upload_orphan_ms(&self) -> i64 {
        i64::try_from(self.upload_orphan_secs.saturating_mul(1000)).unwrap_or(i64::MAX)
    }

    /// Whether attachments may be of this (lower-case, parameterless) type.
    pub fn upload_allowed(&self, content_type: &str) -> bool {
        listed(&self.upload_types, content_type)
    }

    /// Whether a browser may show this type in place.
    pub fn shown_inline(&self, content_type: &str) -> bool {
        listed(&self.inline_types, content_type)
    }
}

fn listed(list: &str, content_type: &str) -> bool {
    list.split(',').map(str::trim).any(|t| t.eq_ignore_ascii_case(content_type))
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
            books_window_ms: 500,
            request_timeout_ms: 7_000,
            sync_default_limit: 100,
            sync_max_limit: 500,
            sync_groups_max: 500,
            poison_attempts: 6,
            partition_backlog_max: 1024,
            upload_max_bytes: 25 * 1024 * 1024,
            upload_types: [
                "image/png",
                "image/jpeg",
                "image/gif",
                "image/webp",
                "image/svg+xml",
                "application/pdf",
                "text/plain",
                "text/csv",
                "text/markdown",
                "text/html",
                "application/json",
                "application/zip",
                "application/gzip",
                "application/x-tar",
                "application/octet-stream",
                "audio/mpeg",
                "audio/ogg",
                "audio/wav",
                "audio/webm",
                "video/mp4",
                "video/webm",
                "video/quicktime",
                "application/msword",
                "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                "application/vnd.openxmlformats-officedocument.presentationml.presentation",
                "application/vnd.oasis.opendocument.text",
            ]
            .join(","),
            inline_types: [
                "image/png",
                "image/jpeg",
                "image/gif",
                "image/webp",
                "audio/mpeg",
                "audio/ogg",
                "video/mp4",
                "video/webm",
            ]
            .join(","),
            upload_name_max: 255,
            upload_orphan_secs: 24 * 3600,
            upload_sweep_secs: 60,
            image_max_pixels: 40_000_000,
            image_probe_bytes: 1024 * 1024,
            thumbnail_max_side: 320,
            thumbnail_poll_ms: 5000,
        }
    }
}
