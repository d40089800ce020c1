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
}

impl Default for GroupSettings {
    fn default() -> Self {
        Self { name_max: 100, description_max: 1000, initial_members_max: 256 }
    }
}
