//! Where accounts are kept: a trait, and one file per backend.

mod mongo;

use std::future::Future;

pub use mongo::MongoStore;

use crate::Result;

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
    /// Unix ms.
    pub created_at_ms: i64,
}

/// Account storage.
pub trait AccountStore: Send + Sync + 'static {
    /// Stores a new account; `UsernameTaken` / `EmailTaken` when either is in use (case-blind).
    fn insert(&self, account: &Account) -> impl Future<Output = Result<()>> + Send;
    /// Removes an account (undoing a registration whose profile could not be created).
    fn delete(&self, id: &str) -> impl Future<Output = Result<()>> + Send;
    /// Finds an account by username or email (case-blind).
    fn find_by_login(&self, login: &str) -> impl Future<Output = Result<Option<Account>>> + Send;
}
