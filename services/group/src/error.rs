//! The group service's errors and their one mapping to gRPC statuses.

use hubbub_rpc::coded;
use tonic::{Code, Status};

/// Everything that can go wrong in the group service.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No such group (or the caller may not know it exists).
    #[error("group not found")]
    NotFound,
    /// Input broke a rule.
    #[error("{0}")]
    Invalid(String),
    /// The caller is not a member.
    #[error("not a member of this group")]
    NotAMember,
    /// The database failed.
    #[error("store: {0}")]
    Store(#[from] mongodb::error::Error),
}

/// `Result` with the group error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<Error> for Status {
    fn from(e: Error) -> Self {
        match e {
            Error::NotFound => coded(Code::NotFound, "GROUP_NOT_FOUND", "group not found"),
            Error::Invalid(m) => coded(Code::InvalidArgument, "VALIDATION_ERROR", m),
            Error::NotAMember => coded(Code::PermissionDenied, "NOT_A_MEMBER", "not a member of this group"),
            Error::Store(e) => {
                tracing::error!(error = %e, "group store");
                Status::unavailable("store unavailable")
            }
        }
    }
}
