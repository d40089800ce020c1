//! The call context that crosses every hop: request id, caller identity, deadline.

use std::time::Duration;

use tonic::metadata::MetadataValue;

/// Metadata key of the request id (same name as the HTTP header).
pub const REQUEST_ID_HEADER: &str = "x-request-id";
/// Metadata key of the authenticated caller's user id, set by the edge (gateway, chat node)
/// after it checked the access token. Services trust it only with a valid internal credential
/// made for it (see [`crate::credential`]), which only hubbub's own processes can make.
pub const CALLER_HEADER: &str = "x-hubbub-user";

/// Who is calling and under which request id, plus an optional deadline.
#[derive(Clone, Debug, Default)]
pub struct Ctx {
    /// The request id, propagated to every service and log line.
    pub request_id: String,
    /// The authenticated user, if any.
    pub caller: Option<String>,
    /// The deadline for the call, if shorter than the channel's default.
    pub timeout: Option<Duration>,
    /// The end client's address, as the edge saw it.
    pub client_ip: Option<String>,
}

impl Ctx {
    /// A context for `request_id` without a caller.
    pub fn new(request_id: impl Into<String>) -> Self {
        Self { request_id: request_id.into(), caller: None, timeout: None, client_ip: None }
    }

    /// The same context, for a request that came from `ip`.
    pub fn from_ip(mut self, ip: impl Into<String>) -> Self {
        self.client_ip = Some(ip.into());
        self
    }

    /// The same context, acting for `user_id`.
    pub fn as_user(mut self, user_id: impl Into<String>) -> Self {
        self.caller = Some(user_id.into());
        self
    }

    /// The same context with a deadline.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Wraps `msg` in a tonic request carrying this context as metadata.
    pub fn request<T>(&self, msg: T) -> tonic::Request<T> {
        let mut req = tonic::Request::new(msg);
        if let Ok(v) = MetadataValue::try_from(self.request_id.as_str()) {
            req.metadata_mut().insert(REQUEST_ID_HEADER, v);
        }
        if let Some(Ok(v)) = self.caller.as_deref().map(MetadataValue::try_from) {
            req.metadata_mut().insert(CALLER_HEADER, v);
        }
        if let Some(Ok(v)) = self.client_ip.as_deref().map(MetadataValue::try_from) {
            req.metadata_mut().insert(CLIENT_IP_HEADER, v);
        }
        if let Some(t) = self.timeout {
            req.set_timeout(t);
        }
        req
    }

    /// Reads the context a caller sent (server side). The deadline is enforced by the transport,
    /// so it is not repeated here.
    pub fn from_request<T>(req: &tonic::Request<T>) -> Self {
        let get = |k: &str| req.metadata().get(k).and_then(|v| v.to_str().ok()).map(str::to_owned);
        Self {
            request_id: get(REQUEST_ID_HEADER).unwrap_or_default(),
            caller: get(CALLER_HEADER),
            timeout: None,
            client_ip: get(CLIENT_IP_HEADER),
        }
    }

    /// The caller, or UNAUTHENTICATED.
    pub fn caller(&self) -> Result<&str, tonic::Status> {
        self.caller
            .as_deref()
            .filter(|c| !c.is_empty())
            .ok_or_else(|| tonic::Status::unauthenticated("no caller identity"))
    }
}

/// Metadata key carrying API.md's error code (`USERNAME_TAKEN`, `NOT_A_MEMBER`, …) on an error
/// status, so the edge can answer clients precisely whatever transport the status crossed.
pub const ERROR_CODE_HEADER: &str = "x-hubbub-error-code";

/// An error status with an API error code attached.
pub fn coded(code: tonic::Code, api_code: &'static str, message: impl Into<String>) -> tonic::Status {
    let mut status = tonic::Status::new(code, message);
    status.metadata_mut().insert(ERROR_CODE_HEADER, MetadataValue::from_static(api_code));
    status
}

/// The API error code a status carries, if any.
pub fn api_code(status: &tonic::Status) -> Option<&str> {
    status.metadata().get(ERROR_CODE_HEADER).and_then(|v| v.to_str().ok())
}

/// Metadata key carrying how many seconds a rate-limited caller should wait.
pub const RETRY_AFTER_HEADER: &str = "x-hubbub-retry-after";

/// RESOURCE_EXHAUSTED with an API code and the seconds to wait before retrying.
pub fn rate_limited(api_code: &'static str, message: impl Into<String>, retry_after_secs: u64) -> tonic::Status {
    retry_in(coded(tonic::Code::ResourceExhausted, api_code, message), retry_after_secs)
}

/// `status` asking the caller to wait this many seconds (at least one) before trying again.
pub fn retry_in(mut status: tonic::Status, retry_after_secs: u64) -> tonic::Status {
    if let Ok(v) = MetadataValue::try_from(retry_after_secs.max(1).to_string()) {
        status.metadata_mut().insert(RETRY_AFTER_HEADER, v);
    }
    status
}

/// The seconds a rate-limited status asks the caller to wait.
pub fn retry_after(status: &tonic::Status) -> Option<u64> {
    status.metadata().get(RETRY_AFTER_HEADER)?.to_str().ok()?.parse().ok()
}

/// Metadata key of the end client's address, as the edge saw it.
pub const CLIENT_IP_HEADER: &str = "x-hubbub-client-ip";
