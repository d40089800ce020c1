//! Where groups and memberships are kept: a trait, and one file per backend.

mod mongo;

use std::future::Future;

use hubbub_proto::group::{GroupKind, Role, Visibility};
pub use mongo::MongoStore;

use crate::Result;

/// A stored group.
#[derive(Clone, Debug)]
pub struct GroupRecord {
    /// Group id.
    pub id: String,
    /// group / direct / room.
    pub kind: GroupKind,
    /// Display name.
    pub name: String,
    /// Optional description.
    pub description: Option<String>,
    /// public / private.
    pub visibility: Visibility,
    /// The creator (an owner).
    pub owner_id: String,
    /// Members right now.
    pub member_count: u32,
    /// Unix ms.
    pub created_at_ms: i64,
}

/// Group and membership storage.
pub trait GroupStore: Send + Sync + 'static {
    /// Stores a group and its first members (`(user id, role)`), atomically.
    fn create(&self, group: &GroupRecord, members: &[(String, Role)]) -> impl Future<Output = Result<()>> + Send;
    /// A group by id.
    fn get(&self, id: &str) -> impl Future<Output = Result<Option<GroupRecord>>> + Send;
    /// The role of `user_id` in `group_id`, if a member.
    fn role(&self, group_id: &str, user_id: &str) -> impl Future<Output = Result<Option<Role>>> + Send;
    /// The ids of the groups `user_id` belongs to.
    fn groups_of(&self, user_id: &str) -> impl Future<Output = Result<Vec<String>>> + Send;
}
