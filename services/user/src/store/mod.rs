//! Where profiles are kept: a trait, and one file per backend.

mod mongo;

use std::future::Future;

use hubbub_proto::user::User;
pub use mongo::MongoStore;

use crate::Result;

/// Profile storage.
pub trait UserStore: Send + Sync + 'static {
    /// Stores a profile; an existing profile with the same id is returned unchanged (a retried
    /// creation is not an error).
    fn create(&self, user: User) -> impl Future<Output = Result<User>> + Send;
    /// A profile by id.
    fn get(&self, id: &str) -> impl Future<Output = Result<Option<User>>> + Send;
}
