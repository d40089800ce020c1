//! Where profiles are kept: a trait, and one file per backend.

mod mongo;

use std::future::Future;

use hubbub_proto::user::User;
pub use mongo::MongoStore;

use crate::Result;

/// A change to a profile; `None` leaves a field as it is.
#[derive(Debug, Default)]
pub struct Change {
    /// New display name.
    pub display_name: Option<String>,
    /// New bio (`Some(None)` clears it).
    pub bio: Option<Option<String>>,
    /// New avatar object key (`Some(None)` clears it).
    pub avatar_key: Option<Option<String>>,
}

/// Profile storage.
pub trait UserStore: Send + Sync + 'static {
    /// Stores a profile; an existing profile with the same id is returned unchanged (a retried
    /// creation is not an error).
    fn create(&self, user: User) -> impl Future<Output = Result<User>> + Send;
    /// A profile by id.
    fn get(&self, id: &str) -> impl Future<Output = Result<Option<User>>> + Send;
    /// Applies a change; the updated profile, if it exists.
    fn update(&self, id: &str, change: Change) -> impl Future<Output = Result<Option<User>>> + Send;
    /// Removes a profile.
    fn delete(&self, id: &str) -> impl Future<Output = Result<()>> + Send;
    /// Profiles whose username or display name starts with `prefix` (lowercase), ordered by
    /// username, after the username `after` (lowercase); at most `limit`.
    fn search(&self, prefix: &str, after: Option<&str>, limit: u32) -> impl Future<Output = Result<Vec<User>>> + Send;
    /// Moves last-seen forward to `at_ms` (never back).
    fn touch_last_seen(&self, id: &str, at_ms: i64) -> impl Future<Output = Result<()>> + Send;
}
