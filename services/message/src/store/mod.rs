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
    /// The message a sender posted with a client id, and whether its event was published.
    fn find_posted(
        &self,
        group_id: &str,
        sender_id: &str,
        client_msg_id: &str,
    ) -> impl Future<Output = Result<Option<(Message, bool)>>> + Send;
    /// Records that these messages' events are out (one write).
    fn mark_published_many(&self, ids: &[String]) -> impl Future<Output = Result<()>> + Send;
    /// Records each message as its group's newest unless a newer one is recorded already.
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
    /// Moves each (group, user)'s watermarks forward to at least these (never back): one
    /// write per state.
    fn move_reads(&self, reads: &[ReadState]) -> impl Future<Output = Result<()>> + Send;
    /// Up to `limit` messages of `page`, in ascending seq, and whether more lie beyond.
    fn list(&self, group_id: &str, page: Page, limit: u32)
    -> impl Future<Output = Result<(Vec<Message>, bool)>> + Send;
}
