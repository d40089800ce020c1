//! The message service's errors and their one mapping to gRPC statuses.

use hubbub_rpc::coded;
use tonic::{Code, Status};

/// Everything that can go wrong in the message service.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Input broke a rule.
    #[error("{0}")]
    Invalid(String),
    /// The caller is not a member of the group.
    #[error("not a member of this group")]
    NotAMember,
    /// The pipeline refused, with an API code.
    #[error("{1}")]
    Refused(String, String),
    /// The pipeline did not confirm in time (it may still do the work).
    #[error("not confirmed in time")]
    NotConfirmed,
    /// No such message (or not one the caller may know of).
    #[error("no such message")]
    MessageNotFound,
    /// No such attachment (or not one the caller may know of).
    #[error("no such attachment")]
    AttachmentNotFound,
    /// An upload outside the policy (type, size or name).
    #[error("{1}")]
    UploadRefused(&'static str, String),
    /// The database failed.
    #[error("store: {0}")]
    Store(#[from] mongodb::error::Error),
    /// Object storage failed.
    #[error("{0}")]
    Storage(#[from] hubbub_storage::Error),
    /// Another dependency (the event bus) failed.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// Another service answered with an error.
    #[error("upstream: {0}")]
    Upstream(#[from] Status),
}

/// `Result` with the message error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<Error> for Status {
    fn from(e: Error) -> Self {
        match e {
            Error::Invalid(m) => coded(Code::InvalidArgument, "INVALID_MESSAGE", m),
            Error::NotAMember => coded(Code::PermissionDenied, "NOT_A_MEMBER", "not a member of this group"),
            Error::Refused(code, m) => match code.as_str() {
                "INVALID_MESSAGE" => coded(Code::InvalidArgument, "INVALID_MESSAGE", m),
                "NOT_A_MEMBER" => coded(Code::PermissionDenied, "NOT_A_MEMBER", m),
                "FORBIDDEN" => coded(Code::PermissionDenied, "FORBIDDEN", m),
                "MESSAGE_NOT_FOUND" => coded(Code::NotFound, "MESSAGE_NOT_FOUND", m),
                "GROUP_NOT_FOUND" => coded(Code::NotFound, "GROUP_NOT_FOUND", m),
                _ => Status::unavailable(m),
            },
            Error::NotConfirmed => Status::unavailable("not confirmed in time; retry (with the same clientMsgId)"),
            Error::MessageNotFound => coded(Code::NotFound, "MESSAGE_NOT_FOUND", "no such message"),
            Error::AttachmentNotFound => coded(Code::NotFound, "NOT_FOUND", "no such attachment"),
            Error::UploadRefused(code, m) => match code {
                "FILE_TOO_LARGE" => coded(Code::OutOfRange, "FILE_TOO_LARGE", m),
                _ => coded(Code::InvalidArgument, "VALIDATION_ERROR", m),
            },
            Error::Upstream(s) => s,
            Error::Store(e) => {
                tracing::error!(error = %e, "message store");
                Status::unavailable("store unavailable")
            }
            Error::Storage(e) => {
                tracing::error!(error = %e, "object storage");
                Status::unavailable("object storage unavailable")
            }
            Error::Unavailable(e) => {
                tracing::error!(error = %e, "a dependency");
                Status::unavailable("a dependency is unavailable")
            }
        }
    }
}
