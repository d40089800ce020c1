//! The user service's errors and their one mapping to gRPC statuses.

use hubbub_rpc::coded;
use tonic::{Code, Status};

/// Everything that can go wrong in the user service.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No such user.
    #[error("user not found")]
    NotFound,
    /// Input broke a rule.
    #[error("{0}")]
    Invalid(String),
    /// The database failed.
    #[error("store: {0}")]
    Store(#[from] mongodb::error::Error),
    /// Redis failed.
    #[error("redis: {0}")]
    Redis(#[from] hubbub_redis::Error),
    /// The request lacks what the caller must provide.
    #[error("{0}")]
    Caller(#[from] Status),
}

/// `Result` with the user error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<Error> for Status {
    fn from(e: Error) -> Self {
        match e {
            Error::NotFound => coded(Code::NotFound, "USER_NOT_FOUND", "user not found"),
            Error::Invalid(m) => coded(Code::InvalidArgument, "VALIDATION_ERROR", m),
            Error::Caller(s) => s,
            Error::Store(e) => {
                tracing::error!(error = %e, "user store");
                Status::unavailable("store unavailable")
            }
            Error::Redis(e) => {
                tracing::error!(error = %e, "user redis");
                Status::unavailable("redis unavailable")
            }
        }
    }
}
