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
    /// The caller's role does not allow this.
    #[error("{0}")]
    Forbidden(String),
    /// The request makes no sense for this group (code, message).
    #[error("{1}")]
    Unprocessable(&'static str, String),
    /// The user to add is already a member.
    #[error("already a member")]
    AlreadyMember,
    /// The user to add does not exist.
    #[error("user not found")]
    UserNotFound,
    /// The user to remove or change is not a member.
    #[error("member not found")]
    MemberNotFound,
    /// The invite code is unknown.
    #[error("invite not found")]
    InviteNotFound,
    /// Racing writers; the caller may retry.
    #[error("{0}")]
    Conflict(String),
    /// The database failed.
    #[error("store: {0}")]
    Store(#[from] mongodb::error::Error),
    /// Another service answered with an error, or the caller sent no identity.
    #[error("upstream: {0}")]
    Upstream(#[from] Status),
}

/// `Result` with the group error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<Error> for Status {
    fn from(e: Error) -> Self {
        match e {
            Error::NotFound => coded(Code::NotFound, "GROUP_NOT_FOUND", "group not found"),
            Error::Invalid(m) => coded(Code::InvalidArgument, "VALIDATION_ERROR", m),
            Error::NotAMember => coded(Code::PermissionDenied, "NOT_A_MEMBER", "not a member of this group"),
            Error::Forbidden(m) => coded(Code::PermissionDenied, "FORBIDDEN", m),
            Error::Unprocessable(code, m) => coded(Code::FailedPrecondition, code, m),
            Error::AlreadyMember => coded(Code::AlreadyExists, "ALREADY_A_MEMBER", "already a member"),
            Error::UserNotFound => coded(Code::NotFound, "USER_NOT_FOUND", "user not found"),
            Error::MemberNotFound => coded(Code::NotFound, "MEMBER_NOT_FOUND", "no such member in this group"),
            Error::InviteNotFound => coded(Code::NotFound, "INVITE_NOT_FOUND", "invite not found or expired"),
            Error::Conflict(m) => coded(Code::Aborted, "CONFLICT", m),
            Error::Upstream(s) => s,
            Error::Store(e) => {
                tracing::error!(error = %e, "group store");
                Status::unavailable("store unavailable")
            }
        }
    }
}
