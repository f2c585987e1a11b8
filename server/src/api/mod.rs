//! The HTTP API: routes, middleware order, and the server loop.

pub mod auth;
pub mod cache;
pub mod error;
pub mod fast_path;
pub mod handlers;
pub mod ingest;
pub mod jobs;
pub mod timing;

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use tower_http::catch_panic::CatchPanicLayer;

use self::error::ApiError;
use self::fast_path::App;
use crate::state::AppState;

/// The state every handler sees. Behind one `Arc` because axum clones the state for each
/// request (the JWT layer and the handler): a clone of [`AppState`] itself is some twenty
/// reference counts, caches included, which was 8 % of the server's CPU on cached searches.
pub type SharedState = Arc<AppState>;

/// Builds the API: [`fast_path`] for exact repeats of cached answers, then the router.
pub fn app(state: AppState, body_limit: usize) -> App {
    let state: SharedState = Arc::new(state);
    App::new(router(state.clone(), body_limit), state, body_limit)
}

/// The router. Layers run outside-in: panic guard -> request metrics -> body limit ->
/// (for `/v1/*`) JWT -> handler.
fn router(state: SharedState, body_limit: usize) -> Router {
    let v1 = Router::new()
        .route(ROUTE_SEARCH, post(handlers::search))
        .route(ROUTE_QUERY, post(handlers::query))
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
        .layer(middleware::from_fn(record_requests))
        .layer(CatchPanicLayer::custom(|_| {
            ApiError::internal("the request handler panicked; the server keeps running")
                .into_response()
        }))
        .with_state(state)
}

/// `POST /v1/search`'s path.
const ROUTE_SEARCH: &str = "/v1/search";
/// `POST /v1/query`'s path.
const ROUTE_QUERY: &str = "/v1/query";

/// The routes, as the `route` label of the request metrics: a static label costs no
/// allocation (a route missing here is labelled with a copy of its path).
const ROUTES: [&str; 8] = [
    "/health",
    "/metrics",
    ROUTE_SEARCH,
    ROUTE_QUERY,
    "/v1/ingest",
    "/v1/ingest/{id}",
    "/v1/sources",
    "/v1/sources/{name}",
];

/// Middleware: counts requests and records their latency per route and status.
async fn record_requests(request: Request, next: Next) -> Response {
    let route: metrics::SharedString = match request.extensions().get::<MatchedPath>() {
        Some(path) => match ROUTES.iter().find(|r| **r == path.as_str()) {
            Some(route) => (*route).into(),
            None => path.as_str().to_owned().into(),
        },
        None => "unmatched".into(),
    };
    let started = Instant::now();
    let response = next.run(request).await;
    record_request(route, response.status(), started);
    response
}

/// Records one request, begun at `started`, in the request metrics.
fn record_request(route: impl Into<metrics::SharedString>, status: StatusCode, started: Instant) {
    let route = route.into();
    request_duration(route.clone()).record(started.elapsed());
    let status: metrics::SharedString = match status.as_u16() {
        200 => "200".into(),
        code => code.to_string().into(),
    };
    requests_total(route, status).increment(1);
}

/// The request-duration series of `route`.
fn request_duration(route: metrics::SharedString) -> metrics::Histogram {
    metrics::histogram!("ragbench_http_request_duration_seconds", "route" => route)
}

/// The request-count series of `route` and `status`.
fn requests_total(route: metrics::SharedString, status: metrics::SharedString) -> metrics::Counter {
    metrics::counter!("ragbench_http_requests_total", "route" => route, "status" => status)
}

/// One route's series for its 200 answers, looked up once: [`fast_path`] records every hit,
/// and a registry lookup per series was a tenth of its time.
#[derive(Clone)]
struct AnsweredMetrics {
    duration: metrics::Histogram,
    ok: metrics::Counter,
}

impl AnsweredMetrics {
    fn new(route: &'static str) -> Self {
        Self {
            duration: request_duration(route.into()),
            ok: requests_total(route.into(), "200".into()),
        }
    }

    /// Records one 200 answer, begun at `started` (as [`record_request`] does).
    fn record(&self, started: Instant) {
        self.duration.record(started.elapsed());
        self.ok.increment(1);
    }
}
