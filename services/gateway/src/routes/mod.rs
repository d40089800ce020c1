//! The router: one file per resource.

mod admin;
pub(crate) mod attachments;
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
use axum::routing::get;
use hubbub_telemetry::REQUEST_ID_HEADER;
use utoipa::OpenApi as _;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use utoipa_swagger_ui::SwaggerUi;

use crate::error::{ApiError, REQUEST_ID};
use crate::startup::AppState;

/// Every route of the gateway, each registered together with its OpenAPI operation.
fn api() -> OpenApiRouter<AppState> {
    let v1 = OpenApiRouter::new()
        .routes(routes!(auth::register))
        .routes(routes!(auth::login))
        .routes(routes!(auth::refresh))
        .routes(routes!(auth::logout))
        .routes(routes!(auth::password))
        .routes(routes!(users::search))
        .routes(routes!(users::me, users::update, users::delete))
        .routes(routes!(avatars::upload))
        .routes(routes!(avatars::download))
        .routes(routes!(users::get))
        .routes(routes!(users::presence))
        .routes(routes!(admin::nodes))
        .routes(routes!(admin::disconnect))
        .routes(routes!(admin::connections))
        .routes(routes!(admin::groups))
        .routes(routes!(admin::group, admin::delete_group))
        .routes(routes!(groups::create, groups::mine))
        .routes(routes!(groups::direct))
        .routes(routes!(groups::public))
        .routes(routes!(groups::get, groups::update, groups::delete))
        .routes(routes!(groups::members, groups::add_member))
        .routes(routes!(groups::remove_member))
        .routes(routes!(groups::set_role))
        .routes(routes!(groups::join))
        .routes(routes!(groups::invite))
        .routes(routes!(groups::accept))
        .routes(routes!(messages::list, messages::send))
        .routes(routes!(messages::read))
        .routes(routes!(messages::edit, messages::delete))
        .routes(routes!(attachments::create))
        // A key holds slashes: axum's wildcard, documented as `{key}` in `openapi::ApiDoc`.
        .route("/attachments/{*key}", get(attachments::download));
    OpenApiRouter::with_openapi(crate::openapi::ApiDoc::openapi()).nest("/api/v1", v1).routes(routes!(ops::health))
}

/// The routes and their OpenAPI document, common errors added.
fn parts() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let (router, mut spec) = api().split_for_parts();
    crate::openapi::complete(&mut spec);
    (router, spec)
}

/// The OpenAPI document of every route.
#[cfg(test)]
pub fn openapi() -> utoipa::openapi::OpenApi {
    parts().1
}

/// Every route of the gateway, its OpenAPI document at `/api/v1/openapi.json` and the docs
/// page at `/api/v1/docs`.
pub fn router(state: AppState, body_limit: usize, timeout: std::time::Duration) -> Router {
    let (router, spec) = parts();
    // Serialized once: the document is the same for every request.
    let events = axum::body::Bytes::from(crate::openapi::asyncapi(&spec).to_string());
    let events = move || std::future::ready(([(axum::http::header::CONTENT_TYPE, "application/json")], events.clone()));
    let routes = router
        .route("/api/v1/asyncapi.json", get(events))
        .merge(SwaggerUi::new("/api/v1/docs").url("/api/v1/openapi.json", spec))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::extract::DefaultBodyLimit::max(body_limit));
    bounded(routes, timeout)
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

/// Answers a request still running after `timeout` with 503 REQUEST_TIMEOUT (its work dropped).
fn bounded<S: Clone + Send + Sync + 'static>(router: Router<S>, timeout: std::time::Duration) -> Router<S> {
    router
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(StatusCode::SERVICE_UNAVAILABLE, timeout))
        .layer(middleware::map_response(timed_out))
}

/// tower-http answers a request past its time with an empty 503: give it the API's error shape
/// (every error the API makes itself carries a JSON body).
async fn timed_out(resp: Response) -> Response {
    if resp.status() == StatusCode::SERVICE_UNAVAILABLE
        && !resp.headers().contains_key(axum::http::header::CONTENT_TYPE)
    {
        return ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "REQUEST_TIMEOUT",
            "the request took too long; try again",
        )
        .into_response();
    }
    resp
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "NOT_FOUND", "no such route")
}

async fn method_not_allowed() -> impl IntoResponse {
    ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED", "method not allowed on this route")
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use axum::body::Body;
    use tower::ServiceExt as _;

    use super::*;

    #[tokio::test]
    async fn a_request_past_its_time_is_answered_503_in_the_error_shape() {
        let slow = get(|| async {
            tokio::time::sleep(Duration::from_secs(5)).await;
            "late"
        });
        let app: Router = bounded(Router::new().route("/slow", slow), Duration::from_millis(50));
        let req = Request::get("/slow").body(Body::empty()).unwrap_or_else(|e| panic!("{e}"));
        let resp = app.oneshot(req).await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
        let body = axum::body::to_bytes(resp.into_body(), 4096).await.unwrap_or_else(|e| panic!("{e}"));
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(body["error"]["code"], "REQUEST_TIMEOUT");
    }
}
