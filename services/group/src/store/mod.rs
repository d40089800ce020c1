//! Where groups, memberships and invites are kept: a trait, and one file per backend.

mod mongo;

use std::future::Future;

use hubbub_proto::group::{GroupKind, Role, Visibility};
pub use mongo::MongoStore;

use crate::Result;
pub use hubbub_outbox::Outgoing;

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
    /// The current owner (the creator until ownership is handed over).
    pub owner_id: String,
    /// Members right now.
    pub member_count: u32,
    /// Unix ms.
    pub created_at_ms: i64,
    /// Unix ms of the newest message (the creation until there is one).
    pub last_activity_ms: i64,
}

/// A stored membership.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberRecord {
    /// The member.
    pub user_id: String,
    /// Their role.
    pub role: Role,
    /// Unix ms.
    pub joined_at_ms: i64,
}

/// A change to a group; `None` leaves a field as it is.
#[derive(Debug, Default)]
pub struct GroupChange {
    /// New name.
    pub name: Option<String>,
    /// New description (`Some(None)` clears it).
    pub description: Option<Option<String>>,
    /// New visibility.
    pub visibility: Option<Visibility>,
}

/// Group storage. Multi-document changes are atomic.
pub trait GroupStore: Send + Sync + 'static {
    /// Stores a group and its first members, and `events` with them (published once this
    /// commits, however the process fares after it).
    fn create(
        &self,
        group: &GroupRecord,
        members: &[MemberRecord],
        events: &[Outgoing],
    ) -> impl Future<Output = Result<()>> + Send;
    /// Stores a direct chat for the pair `key` unless one exists; returns the id of the one
    /// that exists afterwards and whether it was created now (and `events` with it, if so).
    fn create_direct(
        &self,
        key: &str,
        group: &GroupRecord,
        members: &[MemberRecord],
        events: &[Outgoing],
    ) -> impl Future<Output = Result<(String, bool)>> + Send;
    /// A group by id.
    fn get(&self, id: &str) -> impl Future<Output = Result<Option<GroupRecord>>> + Send;
    /// Applies a change; the updated group, if it exists.
    fn update(&self, id: &str, change: GroupChange) -> impl Future<Output = Result<Option<GroupRecord>>> + Send;
    /// Sets the owner recorded on the group.
    fn set_owner(&self, id: &str, owner_id: &str) -> impl Future<Output = Result<()>> + Send;
    /// Removes a group with its memberships and invites, storing `events` with the change.
    fn delete(&self, id: &str, events: &[Outgoing]) -> impl Future<Output = Result<()>> + Send;
    /// A membership.
    fn member(&self, group_id: &str, user_id: &str) -> impl Future<Output = Result<Option<MemberRecord>>> + Send;
    /// Adds a membership, storing `events` with it; false (and no events) if the user already
    /// was a member.
    fn add_member(
        &self,
        group_id: &str,
        member: &MemberRecord,
        events: &[Outgoing],
    ) -> impl Future<Output = Result<bool>> + Send;
    /// Removes a membership, storing `events` with it; false (and no events) if there was none.
    fn remove_member(
        &self,
        group_id: &str,
        user_id: &str,
        events: &[Outgoing],
    ) -> impl Future<Output = Result<bool>> + Send;
    /// Changes a member's role, storing `events` with it; the membership after, if any (no
    /// events if none).
    fn set_role(
        &self,
        group_id: &str,
        user_id: &str,
        role: Role,
        events: &[Outgoing],
    ) -> impl Future<Output = Result<Option<MemberRecord>>> + Send;
    /// Members with `role`, oldest first, at most `limit`.
    fn with_role(
        &self,
        group_id: &str,
        role: Role,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<MemberRecord>>> + Send;
    /// Members in order of joining, after `(joined_at_ms, user_id)`.
    fn members(
        &self,
        group_id: &str,
        after: Option<(i64, String)>,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<MemberRecord>>> + Send;
    /// Which of `group_ids` `user_id` belongs to now, and which they belonged to once (left,
    /// removed, or deleted while a member): `(member, former)`.
    fn standing(
        &self,
        user_id: &str,
        group_ids: &[String],
    ) -> impl Future<Output = Result<(Vec<String>, Vec<String>)>> + Send;
    /// The ids of the groups `user_id` belongs to.
    fn groups_of(&self, user_id: &str) -> impl Future<Output = Result<Vec<String>>> + Send;
    /// The user's memberships (at most `cap`) with their groups, in no particular order.
    fn memberships(
        &self,
        user_id: &str,
        cap: u32,
    ) -> impl Future<Output = Result<Vec<(GroupRecord, MemberRecord)>>> + Send;
    /// Moves each group's last activity forward to its `at_ms` (never back), in one write.
    fn touch_activity(&self, latest: &[(String, i64)]) -> impl Future<Output = Result<()>> + Send;
    /// Groups whose lowercased name starts with `prefix`, by name, after `(name, id)`: public
    /// ones only, or (for administrators) every group of every kind.
    fn public(
        &self,
        only_public: bool,
        prefix: &str,
        after: Option<(String, String)>,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<GroupRecord>>> + Send;
    /// Stores an invite code.
    fn create_invite(&self, code: &str, group_id: &str, expires_at_ms: i64) -> impl Future<Output = Result<()>> + Send;
    /// An invite's group and expiry.
    fn invite(&self, code: &str) -> impl Future<Output = Result<Option<(String, i64)>>> + Send;
}
