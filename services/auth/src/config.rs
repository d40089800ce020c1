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
    /// Lifetime of a refresh token, in seconds (each refresh starts a new one).
    pub refresh_ttl_secs: u64,
    /// Failed logins one account may take from one client address in a window before logins
    /// to it from that address are refused (other addresses are not locked out).
    pub login_failures_per_account: u64,
    /// Login attempts one client address may make in a window.
    pub login_attempts_per_ip: u64,
    /// The window of both login limits, in seconds.
    pub login_window_secs: u64,
    /// Password hashes (and verifications) running at once; each holds `argon2_memory_kib`.
    pub hash_concurrency: usize,
    /// Requests that may wait for a hash beyond those running; more are refused with 503.
    pub hash_queue_max: usize,
    /// Registrations one client address may make in `register_window_secs`.
    pub registrations_per_ip: u64,
    /// The window of the registration limit, in seconds.
    pub register_window_secs: u64,
    /// The username of the first administrator. The service creates that account at start
    /// with `bootstrap_admin_password` (and makes an existing one admin); nobody can register
    /// the name. Without a password the name is only kept free, and no one is admin.
    pub bootstrap_admin: Option<String>,
    /// The first administrator's password (from the environment or a secret file).
    pub bootstrap_admin_password: Option<hubbub_config::Secret>,
    /// `[auth.outbox]`: how session and account events stored with their changes are published.
    pub outbox: hubbub_outbox::OutboxSettings,
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
            refresh_ttl_secs: 30 * 24 * 3600,
            login_failures_per_account: 10,
            login_attempts_per_ip: 300,
            login_window_secs: 900,
            hash_concurrency: 2,
            hash_queue_max: 64,
            registrations_per_ip: 20,
            register_window_secs: 3600,
            bootstrap_admin: None,
            bootstrap_admin_password: None,
            outbox: hubbub_outbox::OutboxSettings::default(),
        }
    }
}
