//! API errors: `{ "error": { "code", "message", "requestId" } }` with a fitting status.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use tonic::Code;

tokio::task_local! {
    /// The id of the request being handled (set by the request-id middleware).
    pub static REQUEST_ID: String;
}

/// The current request id, or empty outside a request.
pub fn request_id() -> String {
    REQUEST_ID.try_with(Clone::clone).unwrap_or_default()
}

/// Every error response's body: `{ "error": { "code", "message", "requestId" } }`.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    error: ErrorDetail,
}

/// What went wrong.
#[derive(serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ErrorDetail {
    /// Stable, machine-readable: `VALIDATION_ERROR`, `UNAUTHORIZED`, `NOT_A_MEMBER`, `RATE_LIMIT_EXCEEDED`, …
    #[schema(pattern = "^[A-Z][A-Z0-9_]*$")]
    code: String,
    /// For people; internal failures never carry their details here.
    message: String,
    /// The `x-request-id` of the request, as in every service's logs.
    request_id: String,
}

/// An error as API.md shows it.
#[derive(Debug)]
pub struct ApiError {
    pub(crate) status: StatusCode,
    pub(crate) code: String,
    message: String,
    retry_after: Option<u64>,
}

impl ApiError {
    /// An error with an explicit status, code and message.
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        Self { status, code: code.to_owned(), message: message.into(), retry_after: None }
    }

    /// 429 RATE_LIMIT_EXCEEDED with `Retry-After` (whole seconds, at least one).
    pub fn rate_limited(what: &str, wait: std::time::Duration) -> Self {
        metrics::counter!("rate_limit_refusals_total", "where" => "rest").increment(1);
        let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        let mut e = Self::new(StatusCode::TOO_MANY_REQUESTS, "RATE_LIMIT_EXCEEDED", format!("{what}, try again later"));
        e.retry_after = Some(secs.max(1));
        e
    }

    /// 400 VALIDATION_ERROR.
    pub fn validation(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "VALIDATION_ERROR", message)
    }

    /// 401 UNAUTHORIZED.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", message)
    }
}

impl From<tonic::Status> for ApiError {
    fn from(s: tonic::Status) -> Self {
        // One exhaustive mapping: a new gRPC code must be placed here deliberately.
        let (status, default_code, public) = match s.code() {
            Code::InvalidArgument | Code::OutOfRange => (StatusCode::BAD_REQUEST, "VALIDATION_ERROR", true),
            Code::FailedPrecondition => (StatusCode::UNPROCESSABLE_ENTITY, "UNPROCESSABLE", true),
            Code::Unauthenticated => (StatusCode::UNAUTHORIZED, "UNAUTHORIZED", true),
            Code::PermissionDenied => (StatusCode::FORBIDDEN, "FORBIDDEN", true),
            Code::NotFound => (StatusCode::NOT_FOUND, "NOT_FOUND", true),
            Code::AlreadyExists | Code::Aborted => (StatusCode::CONFLICT, "CONFLICT", true),
            Code::ResourceExhausted => (StatusCode::TOO_MANY_REQUESTS, "RATE_LIMIT_EXCEEDED", true),
            // Cancelled is what a client gives a call it stopped waiting for (tonic's "Timeout
            // expired"): the dependency did not answer in time, which a retry may fix.
            Code::Unavailable | Code::DeadlineExceeded | Code::Cancelled => {
                (StatusCode::SERVICE_UNAVAILABLE, "SERVICE_UNAVAILABLE", false)
            }
            Code::Unimplemented => (StatusCode::NOT_IMPLEMENTED, "NOT_IMPLEMENTED", false),
            Code::Ok | Code::Unknown | Code::Internal | Code::DataLoss => {
                (StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL_ERROR", false)
            }
        };
        let code = hubbub_rpc::api_code(&s).unwrap_or(default_code);
        let message = if public {
            s.message().to_owned()
        } else {
            // Internal details stay in the logs.
            tracing::warn!(code = ?s.code(), message = s.message(), "upstream failure");
            match status {
                StatusCode::SERVICE_UNAVAILABLE => "a dependency is unavailable, try again".to_owned(),
                _ => "internal error".to_owned(),
            }
        };
        let mut e = Self::new(status, code, message);
        e.retry_after = hubbub_rpc::retry_after(&s);
        e
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body =
            ErrorBody { error: ErrorDetail { code: self.code, message: self.message, request_id: request_id() } };
        let mut resp = (self.status, Json(body)).into_response();
        if let Some(secs) = self.retry_after {
            resp.headers_mut().insert(axum::http::header::RETRY_AFTER, axum::http::HeaderValue::from(secs));
        }
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dependency_that_did_not_answer_in_time_is_a_retryable_503_not_an_internal_error() {
        // tonic's own client timeout reports Cancelled("Timeout expired").
        for status in [
            tonic::Status::cancelled("Timeout expired"),
            tonic::Status::deadline_exceeded("deadline"),
            tonic::Status::unavailable("down"),
        ] {
            let e = ApiError::from(status);
            assert_eq!((e.status, e.code.as_str()), (StatusCode::SERVICE_UNAVAILABLE, "SERVICE_UNAVAILABLE"));
        }
        let e = ApiError::from(tonic::Status::internal("bug"));
        assert_eq!((e.status, e.code.as_str()), (StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL_ERROR"));
    }
}
