//! Where messages are kept: a trait, and one file per backend.

mod mongo;

use std::future::Future;

use hubbub_proto::message::Message;
pub use mongo::MongoStore;

use crate::Result;

/// What happened to an insert.
#[derive(Debug)]
pub enum Inserted {
    /// Stored as given.
    New,
    /// The sender already posted this client message id: here is the stored message, and
    /// whether its event was published (a crash between the two leaves it unpublished).
    Duplicate(Box<Message>, bool),
    /// The seq is taken (another writer got there): reload the group's last seq and retry.
    SeqTaken,
}

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
    /// Stores a message unless its seq or its (group, sender, client id) is taken.
    fn insert(&self, message: &Message) -> impl Future<Output = Result<Inserted>> + Send;
    /// Records that a message's event is out.
    fn mark_published(&self, id: &str) -> impl Future<Output = Result<()>> + Send;
    /// The newest message of a group, if any.
    fn last(&self, group_id: &str) -> impl Future<Output = Result<Option<Message>>> + Send;
    /// Up to `limit` messages of `page`, in ascending seq, and whether more lie beyond.
    fn list(&self, group_id: &str, page: Page, limit: u32)
    -> impl Future<Output = Result<(Vec<Message>, bool)>> + Send;
}
