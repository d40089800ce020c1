//! The auth service's errors and their one mapping to gRPC statuses.

use std::time::Duration;

use hubbub_rpc::{coded, rate_limited};
use tonic::{Code, Status};

/// Everything that can go wrong in the auth service.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Input broke a rule; the message says which.
    #[error("{0}")]
    Invalid(String),
    /// The username is taken.
    #[error("username is taken")]
    UsernameTaken,
    /// The email is taken.
    #[error("email is taken")]
    EmailTaken,
    /// Unknown login or wrong password (never says which).
    #[error("invalid login or password")]
    BadCredentials,
    /// The current password given to a password change is wrong.
    #[error("current password is wrong")]
    WrongPassword,
    /// Too many attempts: wait this long.
    #[error("too many attempts")]
    RateLimited(Duration),
    /// The refresh token is unknown, expired or revoked.
    #[error("invalid refresh token")]
    InvalidRefresh,
    /// A spent refresh token was presented again: its whole session is now revoked.
    #[error("refresh token reused")]
    RefreshReused,
    /// The caller is not an administrator.
    #[error("administrators only")]
    NotAdmin,
    /// The caller's account no longer exists.
    #[error("account not found")]
    NoAccount,
    /// Redis failed.
    #[error("redis: {0}")]
    Redis(#[from] hubbub_redis::Error),
    /// The database failed.
    #[error("store: {0}")]
    Store(#[from] mongodb::error::Error),
    /// Another service answered with an error.
    #[error("upstream: {0}")]
    Upstream(#[from] Status),
    /// Tokens could not be issued.
    #[error("token: {0}")]
    Token(#[from] hubbub_token::Error),
    /// Hashing failed.
    #[error("password hashing: {0}")]
    Hash(String),
    /// Too many password hashes are running or waiting: try again in a moment.
    #[error("too busy")]
    Overloaded,
}

/// `Result` with the auth error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<Error> for Status {
    fn from(e: Error) -> Self {
        match e {
            Error::Invalid(m) => coded(Code::InvalidArgument, "VALIDATION_ERROR", m),
            Error::UsernameTaken => coded(Code::AlreadyExists, "USERNAME_TAKEN", "username is taken"),
            Error::Overloaded => hubbub_rpc::retry_in(
                coded(Code::Unavailable, "OVERLOADED", "too many sign-ins at once, try again in a moment"),
                1,
            ),
            Error::EmailTaken => coded(Code::AlreadyExists, "EMAIL_TAKEN", "email is taken"),
            Error::BadCredentials => coded(Code::Unauthenticated, "INVALID_CREDENTIALS", "invalid login or password"),
            Error::WrongPassword => coded(Code::PermissionDenied, "WRONG_PASSWORD", "current password is wrong"),
            Error::RateLimited(wait) => rate_limited(
                "RATE_LIMIT_EXCEEDED",
                "too many attempts, try again later",
                wait.as_secs().saturating_add(u64::from(wait.subsec_nanos() > 0)),
            ),
            Error::InvalidRefresh => {
                coded(Code::Unauthenticated, "INVALID_REFRESH_TOKEN", "refresh token is invalid or expired")
            }
            Error::RefreshReused => coded(
                Code::Unauthenticated,
                "REFRESH_TOKEN_REUSED",
                "refresh token was already used; the session is revoked, log in again",
            ),
            Error::NotAdmin => coded(Code::PermissionDenied, "FORBIDDEN", "administrators only"),
            Error::NoAccount => coded(Code::Unauthenticated, "UNAUTHORIZED", "account not found"),
            Error::Redis(e) => {
                tracing::error!(error = %e, "auth redis");
                Status::unavailable("redis unavailable")
            }
            Error::Upstream(s) => s,
            Error::Store(e) => {
                tracing::error!(error = %e, "auth store");
                Status::unavailable("store unavailable")
            }
            Error::Token(e) => {
                tracing::error!(error = %e, "issuing token");
                Status::internal("internal error")
            }
            Error::Hash(e) => {
                tracing::error!(error = %e, "password hashing");
                Status::internal("internal error")
            }
        }
    }
}
