//! Where messages are kept: a trait, and one file per backend.

mod mongo;

use std::future::Future;

use hubbub_proto::message::{Message, ReadState};
pub use mongo::MongoStore;

use crate::Result;

/// Which slice of history.
#[derive(Clone, Copy, Debug)]
pub enum Page {
    /// The newest messages.
    Newest,
    /// Messages with seq below this.
    Before(u64),
    /// Messages with seq above this.
    After(u64),
}

/// An attachment upload a member was allowed to make, and what became of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Upload {
    /// Its object key (`att/{groupId}/{random}`).
    pub key: String,
    pub group_id: String,
    pub uploader_id: String,
    /// The file name, content type and size the uploader declared (and the signature pins).
    pub name: String,
    pub content_type: String,
    pub size: u64,
    pub created_at_ms: i64,
    /// The message it is attached to, once it is.
    pub message_id: Option<String>,
    /// Its preview's key, once made.
    pub thumbnail_key: Option<String>,
}

/// Message storage.
pub trait MessageStore: Send + Sync + 'static {
    /// Whether the store answers at all (an outage, as against a fault of one request).
    fn ping(&self) -> impl Future<Output = Result<()>> + Send;
    /// The highest seq of a group (0 when it has none).
    fn last_seq(&self, group_id: &str) -> impl Future<Output = Result<u64>> + Send;
    /// Stores messages in order, stopping at the first that fails (a taken seq or a repeated
    /// client id): those before it are stored, it and those after it are not.
    fn insert_many(&self, messages: &[Message]) -> impl Future<Output = Result<()>> + Send;
    /// Which of these message ids are stored.
    fn stored_ids(&self, ids: &[String]) -> impl Future<Output = Result<Vec<String>>> + Send;
    /// The message a sender posted with a client id, and whether its event was published: a
    /// group's events go out in seq order, and its head is recorded once they are out, so a
    /// message at or below its group's recorded head was announced (no per-message mark).
    fn find_posted(
        &self,
        group_id: &str,
        sender_id: &str,
        client_msg_id: &str,
    ) -> impl Future<Output = Result<Option<(Message, bool)>>> + Send;
    /// Records each message as its group's newest unless a newer one is recorded already (one
    /// write for them all); only once its event, and so every earlier one of its group, is out.
    fn set_heads(&self, newest: &[Message]) -> impl Future<Output = Result<()>> + Send;
    /// The newest message of each of these groups that has one: one query, however many.
    fn heads(&self, group_ids: &[String]) -> impl Future<Output = Result<Vec<Message>>> + Send;
    /// One message by id.
    fn get(&self, id: &str) -> impl Future<Output = Result<Option<Message>>> + Send;
    /// Stores an edit or deletion: `message`'s content, attachments, `deleted` and `editedAt`
    /// as given, marked as changed when its group's last seq was `edit_seq` (so catch-up finds
    /// changes to messages a client already had); the group's head too when it is that message.
    fn change(&self, message: &Message, edit_seq: u64) -> impl Future<Output = Result<()>> + Send;
    /// Messages of a group with seq ≤ `cursor` changed when the group's last seq was ≥ `cursor`
    /// (what a client whose cursor is `cursor` may have missed), in seq order, at most `limit`.
    fn changed_since(
        &self,
        group_id: &str,
        cursor: u64,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<Message>>> + Send;
    /// The read states that exist among these (group, user) pairs.
    fn reads_of(&self, pairs: &[(String, String)]) -> impl Future<Output = Result<Vec<ReadState>>> + Send;
    /// A user's read states in these groups (those that exist): one query.
    fn user_reads(&self, user_id: &str, group_ids: &[String]) -> impl Future<Output = Result<Vec<ReadState>>> + Send;
    /// Moves each (group, user)'s watermarks forward to at least these (never back), all in
    /// one write.
    fn move_reads(&self, reads: &[ReadState]) -> impl Future<Output = Result<()>> + Send;
    /// Up to `limit` messages of `page`, in ascending seq, and whether more lie beyond.
    fn list(&self, group_id: &str, page: Page, limit: u32)
    -> impl Future<Output = Result<(Vec<Message>, bool)>> + Send;

    /// Records an upload that was signed.
    fn create_upload(&self, upload: &Upload) -> impl Future<Output = Result<()>> + Send;
    /// The uploads among these keys that are not discarded.
    fn uploads(&self, keys: &[String]) -> impl Future<Output = Result<Vec<Upload>>> + Send;
    /// Which of these keys stored messages carry, and the message each is in: (key, message id).
    fn keys_in_messages(&self, keys: &[String]) -> impl Future<Output = Result<Vec<(String, String)>>> + Send;
    /// Records uploads as attached to a message; those in `images` get a preview made.
    fn attach_uploads(
        &self,
        message_id: &str,
        keys: &[String],
        images: &[String],
    ) -> impl Future<Output = Result<()>> + Send;
    /// Marks uploads for removal (their message was deleted): the sweep removes their objects.
    fn discard_uploads(&self, keys: &[String]) -> impl Future<Output = Result<()>> + Send;
    /// Up to `limit` uploads never attached and made before `before_ms`.
    fn stale_uploads(&self, before_ms: i64, limit: u32) -> impl Future<Output = Result<Vec<Upload>>> + Send;
    /// Up to `limit` discarded uploads.
    fn discarded_uploads(&self, limit: u32) -> impl Future<Output = Result<Vec<Upload>>> + Send;
    /// Forgets an upload whose objects are gone.
    fn forget_upload(&self, key: &str) -> impl Future<Output = Result<()>> + Send;
    /// Takes one attached image that still wants a preview, for `lease_ms` (another replica
    /// takes it after that, should this one die).
    fn claim_thumbnail(&self, lease_ms: i64) -> impl Future<Output = Result<Option<Upload>>> + Send;
    /// Records a preview (`None`: none can be made); false when the upload is gone or discarded
    /// meanwhile.
    fn thumbnail_made(&self, key: &str, thumbnail_key: Option<&str>) -> impl Future<Output = Result<bool>> + Send;
}
