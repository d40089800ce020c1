//! The router: one file per resource.

mod admin;
mod attachments;
mod auth;
mod avatars;
mod groups;
mod messages;
mod ops;
mod users;

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, patch, post, put};
use hubbub_telemetry::REQUEST_ID_HEADER;

use crate::error::{ApiError, REQUEST_ID};
use crate::startup::AppState;

/// Every route of the gateway.
pub fn router(state: AppState, body_limit: usize) -> Router {
    let api = Router::new()
        .route("/auth/register", post(auth::register))
        .route("/auth/login", post(auth::login))
        .route("/auth/refresh", post(auth::refresh))
        .route("/auth/logout", post(auth::logout))
        .route("/auth/password", post(auth::password))
        .route("/users", get(users::search))
        .route("/users/me", get(users::me).patch(users::update).delete(users::delete))
        .route("/users/me/avatar", post(avatars::upload))
        .route("/users/{id}/avatar", get(avatars::download))
        .route("/users/{id}", get(users::get))
        .route("/users/{id}/presence", get(users::presence))
        .route("/admin/nodes", get(admin::nodes))
        .route("/admin/users/{id}/connections", delete(admin::disconnect))
        .route("/admin/connections", get(admin::connections))
        .route("/admin/groups", get(admin::groups))
        .route("/admin/groups/{id}", get(admin::group).delete(admin::delete_group))
        .route("/groups", post(groups::create).get(groups::mine))
        .route("/groups/direct", post(groups::direct))
        .route("/groups/public", get(groups::public))
        .route("/groups/{id}", get(groups::get).patch(groups::update).delete(groups::delete))
        .route("/groups/{id}/members", get(groups::members).post(groups::add_member))
        .route("/groups/{id}/members/{user_id}", delete(groups::remove_member))
        .route("/groups/{id}/members/{user_id}/role", put(groups::set_role))
        .route("/groups/{id}/join", post(groups::join))
        .route("/groups/{id}/invites", post(groups::invite))
        .route("/invites/{code}/accept", post(groups::accept))
        .route("/groups/{id}/messages", get(messages::list).post(messages::send))
        .route("/groups/{id}/read", post(messages::read))
        .route("/messages/{id}", patch(messages::edit).delete(messages::delete))
        .route("/uploads", post(attachments::create))
        .route("/attachments/{*key}", get(attachments::download));
    Router::new()
        .nest("/api/v1", api)
        .route("/health", get(ops::health))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::extract::DefaultBodyLimit::max(body_limit))
        .layer(middleware::from_fn(measure))
        .layer(middleware::from_fn(request_id))
        .with_state(state)
}

/// Counts every request and times it, by method, route template (never the raw path: ids
/// would make a series each) and status.
async fn measure(req: Request, next: Next) -> Response {
    let started = std::time::Instant::now();
    let method = req.method().as_str().to_owned();
    let route = req
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |m| m.as_str().to_owned());
    let resp = next.run(req).await;
    let status = resp.status().as_u16().to_string();
    metrics::counter!("http_requests_total", "method" => method.clone(), "route" => route.clone(), "status" => status)
        .increment(1);
    metrics::histogram!("http_request_duration_seconds", "method" => method, "route" => route)
        .record(started.elapsed().as_secs_f64());
    resp
}

/// Takes the client's `x-request-id` (if sane) or makes one, runs the request under it, and
/// returns it on the response.
async fn request_id(req: Request, next: Next) -> Response {
    let given = req.headers().get(REQUEST_ID_HEADER).and_then(|v| v.to_str().ok());
    let id = hubbub_telemetry::accept_request_id(given);
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let span = tracing::info_span!("http", request_id = %id, %method, %path);
    let mut resp = REQUEST_ID.scope(id.clone(), tracing::Instrument::instrument(next.run(req), span)).await;
    if let Ok(v) = HeaderValue::from_str(&id) {
        resp.headers_mut().insert(REQUEST_ID_HEADER, v);
    }
    resp
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "NOT_FOUND", "no such route")
}

async fn method_not_allowed() -> impl IntoResponse {
    ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED", "method not allowed on this route")
}
