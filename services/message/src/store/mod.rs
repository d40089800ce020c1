//! Where messages are kept: a trait, and one file per backend.

mod mongo;

use std::future::Future;

use hubbub_proto::message::Message;
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
    /// Up to `limit` messages of `page`, in ascending seq, and whether more lie beyond.
    fn list(&self, group_id: &str, page: Page, limit: u32)
    -> impl Future<Output = Result<(Vec<Message>, bool)>> + Send;
}
