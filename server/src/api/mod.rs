//! The HTTP API: routes, middleware order, and the server loop.

pub mod auth;
pub mod cache;
pub mod error;
pub mod handlers;
pub mod ingest;
pub mod jobs;
pub mod timing;

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use tower_http::catch_panic::CatchPanicLayer;

use self::error::ApiError;
use crate::state::AppState;

/// The state every handler sees. Behind one `Arc` because axum clones the state for each
/// request (the JWT layer and the handler): a clone of [`AppState`] itself is some twenty
/// reference counts, caches included, which was 8 % of the server's CPU on cached searches.
pub type SharedState = Arc<AppState>;

/// Builds the router. Layers run outside-in: panic guard -> request metrics -> body limit ->
/// (for `/v1/*`) JWT -> handler.
pub fn router(state: AppState, body_limit: usize) -> Router {
    let state: SharedState = Arc::new(state);
    let v1 = Router::new()
        .route("/v1/search", post(handlers::search))
        .route("/v1/query", post(handlers::query))
        .route("/v1/ingest", post(ingest::ingest))
        .route("/v1/ingest/{id}", get(ingest::ingest_job))
        .route("/v1/sources", get(handlers::sources))
        .route("/v1/sources/{name}", delete(handlers::delete_source))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            auth::require_jwt,
        ));
    Router::new()
        .route("/health", get(handlers::health))
        .route("/metrics", get(handlers::metrics))
        .merge(v1)
        .fallback(|| async {
            ApiError {
                status: axum::http::StatusCode::NOT_FOUND,
                code: "not_found",
                message:
                    "no such endpoint: see /health, /metrics, /v1/search, /v1/query, /v1/ingest, \
                     /v1/ingest/{id}, /v1/sources"
                        .into(),
            }
        })
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(middleware::from_fn(record_request))
        .layer(CatchPanicLayer::custom(|_| {
            ApiError::internal("the request handler panicked; the server keeps running")
                .into_response()
        }))
        .with_state(state)
}

/// The routes, as the `route` label of the request metrics: a static label costs no
/// allocation (a route missing here is labelled with a copy of its path).
const ROUTES: [&str; 8] = [
    "/health",
    "/metrics",
    "/v1/search",
    "/v1/query",
    "/v1/ingest",
    "/v1/ingest/{id}",
    "/v1/sources",
    "/v1/sources/{name}",
];

/// Counts requests and records their latency per route and status.
async fn record_request(request: Request, next: Next) -> Response {
    let route: metrics::SharedString = match request.extensions().get::<MatchedPath>() {
        Some(path) => match ROUTES.iter().find(|r| **r == path.as_str()) {
            Some(route) => (*route).into(),
            None => path.as_str().to_owned().into(),
        },
        None => "unmatched".into(),
    };
    let started = Instant::now();
    let response = next.run(request).await;
    let secs = started.elapsed().as_secs_f64();
    let status = response.status();
    metrics::histogram!("ragbench_http_request_duration_seconds", "route" => route.clone())
        .record(secs);
    let status: metrics::SharedString = match status.as_u16() {
        200 => "200".into(),
        code => code.to_string().into(),
    };
    metrics::counter!("ragbench_http_requests_total", "route" => route, "status" => status)
        .increment(1);
    response
}
