//! Settings of the auth service.

use serde::{Deserialize, Serialize};

/// `[auth]`: input limits and password hashing cost.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default)]
pub struct AuthSettings {
    /// Shortest username.
    pub username_min: usize,
    /// Longest username.
    pub username_max: usize,
    /// Shortest password (characters).
    pub password_min: usize,
    /// Longest password (characters).
    pub password_max: usize,
    /// Longest display name (characters).
    pub display_name_max: usize,
    /// argon2id memory cost in KiB (OWASP: 19456).
    pub argon2_memory_kib: u32,
    /// argon2id iterations.
    pub argon2_iterations: u32,
    /// argon2id lanes.
    pub argon2_parallelism: u32,
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            username_min: 3,
            username_max: 32,
            password_min: 8,
            password_max: 128,
            display_name_max: 64,
            argon2_memory_kib: 19_456,
            argon2_iterations: 2,
            argon2_parallelism: 1,
        }
    }
}
