//! Settings of the group service.

use serde::{Deserialize, Serialize};

/// `[group]`: limits.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default)]
pub struct GroupSettings {
    /// Longest group name (characters).
    pub name_max: usize,
    /// Longest description (characters).
    pub description_max: usize,
    /// Most members a group may be created with.
    pub initial_members_max: usize,
    /// How long an invite code works, in seconds.
    pub invite_ttl_secs: u64,
    /// Page size of lists when none is asked for.
    pub list_default_limit: u32,
    /// Largest page of a list.
    pub list_max_limit: u32,
    /// Most groups one user's group list considers (it is ordered by activity in memory).
    pub my_groups_max: u32,
    /// How long the activity follower folds message events into one write per group (a
    /// group list may lag a message by this much).
    pub activity_window_ms: u64,
    /// `[group.outbox]`: how membership events stored with their changes are published.
    pub outbox: hubbub_outbox::OutboxSettings,
}

impl Default for GroupSettings {
    fn default() -> Self {
        Self {
            name_max: 100,
            description_max: 1000,
            initial_members_max: 256,
            invite_ttl_secs: 7 * 24 * 3600,
            list_default_limit: 50,
            list_max_limit: 200,
            my_groups_max: 2000,
            activity_window_ms: 250,
            outbox: hubbub_outbox::OutboxSettings::default(),
        }
    }
}
