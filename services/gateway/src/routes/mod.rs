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
    traced(bounded(routes, timeout).layer(middleware::from_fn(measure))).with_state(state)
}

/// Request ids and tracing, outermost first: a client's `x-request-id` is kept if it is short
/// and plain (else replaced by a fresh one), set on the request, returned on the response, and
/// named by the request's span; tower-http logs each answer with its status and latency at
/// info; errors and RPC contexts read the id from the task (`error::request_id`).
fn traced<S: Clone + Send + Sync + 'static>(router: Router<S>) -> Router<S> {
    use tower_http::request_id::{PropagateRequestIdLayer, SetRequestIdLayer};
    use tower_http::trace::{DefaultOnResponse, TraceLayer};
    router
        .layer(middleware::from_fn(scope_request_id))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|req: &Request| {
                    let id = req.headers().get(REQUEST_ID_HEADER).and_then(|v| v.to_str().ok()).unwrap_or("");
                    tracing::info_span!("http", request_id = id, method = %req.method(), path = req.uri().path())
                })
                .on_response(DefaultOnResponse::new().level(tracing::Level::INFO)),
        )
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(FreshId))
        .layer(middleware::map_request(drop_unfit_request_id))
}

/// Drops a client's `x-request-id` that is not short and plain, so a fresh one replaces it.
async fn drop_unfit_request_id(mut req: Request) -> Request {
    let fit = req.headers().get(REQUEST_ID_HEADER).map(|v| v.to_str().is_ok_and(hubbub_telemetry::fit_request_id));
    if fit == Some(false) {
        req.headers_mut().remove(REQUEST_ID_HEADER);
    }
    req
}

/// Makes a request id for a request without one.
#[derive(Clone, Copy)]
struct FreshId;

impl tower_http::request_id::MakeRequestId for FreshId {
    fn make_request_id<B>(&mut self, _: &axum::http::Request<B>) -> Option<tower_http::request_id::RequestId> {
        HeaderValue::from_str(&hubbub_telemetry::new_request_id()).ok().map(tower_http::request_id::RequestId::new)
    }
}

/// Runs the request with its id in the task, where errors and RPC contexts read it.
async fn scope_request_id(req: Request, next: Next) -> Response {
    let id = req.headers().get(REQUEST_ID_HEADER).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    REQUEST_ID.scope(id, next.run(req)).await
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

    /// Answers `(status, x-request-id of the response, requestId of the error body)`.
    async fn ids(given: Option<&str>) -> (StatusCode, String, String) {
        let app: Router = traced(Router::new().fallback(not_found));
        let mut req = Request::get("/nowhere");
        if let Some(id) = given {
            req = req.header(REQUEST_ID_HEADER, id);
        }
        let resp = app
            .oneshot(req.body(Body::empty()).unwrap_or_else(|e| panic!("{e}")))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let status = resp.status();
        let header = resp.headers().get(REQUEST_ID_HEADER).map(|v| v.to_str().unwrap_or_default().to_owned());
        let body = axum::body::to_bytes(resp.into_body(), 4096).await.unwrap_or_else(|e| panic!("{e}"));
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap_or_else(|e| panic!("{e}"));
        (status, header.unwrap_or_default(), body["error"]["requestId"].as_str().unwrap_or_default().to_owned())
    }

    #[tokio::test]
    async fn a_plain_client_request_id_is_kept_a_hostile_one_replaced_and_a_missing_one_made() {
        assert_eq!(
            ids(Some("client-42_x")).await,
            (StatusCode::NOT_FOUND, "client-42_x".to_owned(), "client-42_x".to_owned())
        );
        for given in [None, Some("has space"), Some(&*"a".repeat(65))] {
            let (status, header, body) = ids(given).await;
            assert_eq!(status, StatusCode::NOT_FOUND);
            assert!(
                hubbub_telemetry::fit_request_id(&header) && Some(header.as_str()) != given,
                "{given:?} gave {header:?}"
            );
            assert_eq!(body, header, "the error names the id the response carries");
        }
    }
}
