//! Where accounts and sessions are kept: traits, and one file per backend.

mod mongo;

use std::future::Future;

pub use mongo::MongoStore;

use crate::Result;
pub use hubbub_outbox::Outgoing;

/// A stored account: credentials only (the profile belongs to the user service).
#[derive(Clone, Debug)]
pub struct Account {
    /// The user id (shared with the user service).
    pub id: String,
    /// The username as registered.
    pub username: String,
    /// The email as registered.
    pub email: String,
    /// argon2id PHC string.
    pub password_hash: String,
    /// Whether the account is an administrator.
    pub admin: bool,
    /// Unix ms.
    pub created_at_ms: i64,
}

/// Account storage.
pub trait AccountStore: Send + Sync + 'static {
    /// Stores a new account; `UsernameTaken` / `EmailTaken` when either is in use (case-blind).
    fn insert(&self, account: &Account) -> impl Future<Output = Result<()>> + Send;
    /// Removes an account, storing `events` with the change (published once it commits).
    fn delete(&self, id: &str, events: &[Outgoing]) -> impl Future<Output = Result<()>> + Send;
    /// Stores events that report no stored change (an order to disconnect), to be published.
    fn announce(&self, events: &[Outgoing]) -> impl Future<Output = Result<()>> + Send;
    /// Finds an account by username or email (case-blind).
    fn find_by_login(&self, login: &str) -> impl Future<Output = Result<Option<Account>>> + Send;
    /// Finds an account by id.
    fn find_by_id(&self, id: &str) -> impl Future<Output = Result<Option<Account>>> + Send;
    /// Replaces an account's password hash.
    fn set_password(&self, id: &str, password_hash: &str) -> impl Future<Output = Result<()>> + Send;
    /// Makes an account an administrator.
    fn make_admin(&self, id: &str) -> impl Future<Output = Result<()>> + Send;
}

/// A stored refresh token (by hash).
#[derive(Clone, Debug)]
pub struct RefreshRecord {
    /// SHA-256 of the token.
    pub hash: String,
    /// The session it belongs to.
    pub family: String,
    /// Its user.
    pub user_id: String,
    /// Unix ms after which it is refused.
    pub expires_at_ms: i64,
}

/// What presenting a refresh token found.
#[derive(Debug)]
pub enum Presented {
    /// Unused until now, and now marked used.
    Fresh(RefreshRecord),
    /// Already used: a replay (or a thief).
    Spent(RefreshRecord),
    /// Its session was revoked.
    Revoked,
    /// No such token.
    Unknown,
}

/// Session (refresh-token) storage.
pub trait SessionStore: Send + Sync + 'static {
    /// Stores a new, unused token.
    fn insert_refresh(&self, record: &RefreshRecord) -> impl Future<Output = Result<()>> + Send;
    /// Atomically marks the token used if it was fresh, and says what it was.
    fn present(&self, hash: &str, now_ms: i64) -> impl Future<Output = Result<Presented>> + Send;
    /// The session of a token, whatever its state.
    fn family_of(&self, hash: &str) -> impl Future<Output = Result<Option<RefreshRecord>>> + Send;
    /// Revokes every token of a session, storing `events` with the change.
    fn revoke_family(&self, family: &str, events: &[Outgoing]) -> impl Future<Output = Result<()>> + Send;
    /// The live sessions of a user but `keep`.
    fn live_sessions(&self, user_id: &str, keep: Option<&str>) -> impl Future<Output = Result<Vec<String>>> + Send;
    /// Revokes every live session of a user but `keep`, storing the events `events` makes of
    /// the sessions revoked with the change; returns those sessions.
    fn revoke_user<F>(
        &self,
        user_id: &str,
        keep: Option<&str>,
        events: F,
    ) -> impl Future<Output = Result<Vec<String>>> + Send
    where
        F: FnOnce(&[String]) -> Vec<Outgoing> + Send;
}
