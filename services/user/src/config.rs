//! Settings of the user service.

use serde::{Deserialize, Serialize};

/// `[user]`: limits.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default)]
pub struct UserSettings {
    /// Longest display name (characters).
    pub display_name_max: usize,
    /// Longest bio (characters).
    pub bio_max: usize,
    /// Longest search query (characters).
    pub search_query_max: usize,
    /// Search page size when none is asked for.
    pub search_default_limit: u32,
    /// Largest search page.
    pub search_max_limit: u32,
}

impl Default for UserSettings {
    fn default() -> Self {
        Self {
            display_name_max: 64,
            bio_max: 500,
            search_query_max: 64,
            search_default_limit: 20,
            search_max_limit: 50,
        }
    }
}
