//! Exact repeats of a cached search or question, answered in front of the router.
//!
//! A cache hit through the router costs the whole stack for a lookup: the middleware layers
//! (each moves the request and boxes a future), routing, the body's JSON, validation and the
//! key's normalisation. On a 2-core machine that was most of the gap between a cached
//! `/v1/search` and a trivial handler sending the same bytes (0.67 of its rate).
//!
//! This path answers only what the router already answered the same way. It takes a request
//! when it is `POST /v1/search` or `POST /v1/query` with a JSON body of known, small length and
//! a token [`JwtVerifier::remembered`](super::auth::JwtVerifier::remembered) as verified and
//! unexpired; then it looks the raw body up among those the handler turned into a cache key
//! before ([`ResponseCache::get_by_body`]), and that key up in the current data generation.
//! Anything else (a new body, an expired answer, a bad or unknown token, another route) goes
//! to the router unchanged, and every error is the router's. The key is still made in one
//! place, the handler: when it answers, it labels the response with the key
//! ([`AnswerKey`]) and this path remembers the body by it.
//!
//! It relies on the answer depending on the body and the data alone, not on who asks: a
//! route whose answer depended on the token's claims could not be cached here.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{Method, header};
use axum::response::Response;
use tower::{Service, ServiceExt};

use super::SharedState;
use super::auth::bearer_token;
use super::cache::AnswerKey;
use super::handlers::cached_with_timing;
use super::timing::{StageTimings, stage_histogram};
use super::{AnsweredMetrics, ROUTE_QUERY, ROUTE_SEARCH};

/// Longest body this path reads and remembers, in bytes (a 2,000-character ASCII question
/// fits); longer ones take the router.
const MAX_BODY: usize = 4 * 1024;

/// The whole API as one service: the fast path, then the router.
#[derive(Clone)]
pub struct App {
    router: Router,
    state: SharedState,
    body_limit: usize,
    search_metrics: AnsweredMetrics,
    query_metrics: AnsweredMetrics,
    /// The `cache` stage's histogram, looked up once.
    cache_stage: metrics::Histogram,
}

/// The two routes with a response cache.
#[derive(Clone, Copy)]
enum Cached {
    Search,
    Query,
}

impl App {
    pub(super) fn new(router: Router, state: SharedState, body_limit: usize) -> Self {
        Self {
            router,
            state,
            body_limit,
            search_metrics: AnsweredMetrics::new(ROUTE_SEARCH),
            query_metrics: AnsweredMetrics::new(ROUTE_QUERY),
            cache_stage: stage_histogram("cache"),
        }
    }

    async fn handle(self, request: Request) -> Response {
        let Some(route) = self.cached_route(&request) else {
            return self.through_router(request).await;
        };
        let started = Instant::now();
        let (parts, body) = request.into_parts();
        let body = match axum::body::to_bytes(body, self.body_limit.min(MAX_BODY)).await {
            Ok(body) => body,
            // Longer than its `content-length`, or the connection failed: the router's body
            // extractor gives the error its usual answer.
            Err(e) => {
                let failed = Body::from_stream(futures::stream::once(async move {
                    Err::<Bytes, _>(e.into_inner())
                }));
                return self
                    .through_router(Request::from_parts(parts, failed))
                    .await;
            }
        };

        let generation = self.state.generation();
        let lookup = Instant::now();
        let (hit, metrics) = match route {
            Cached::Search => (
                self.state.search_cache.get_by_body(generation, &body),
                &self.search_metrics,
            ),
            Cached::Query => (
                self.state.query_cache.get_by_body(generation, &body),
                &self.query_metrics,
            ),
        };
        if let Some(hit) = hit {
            let mut timings = StageTimings::new_at(started);
            timings.record_in(&self.cache_stage, "cache", lookup, Some("hit"));
            let response = cached_with_timing(&timings, hit);
            metrics.record(started);
            return response;
        }

        let mut response = self
            .through_router(Request::from_parts(parts, Body::from(body.clone())))
            .await;
        if let Some(AnswerKey(key)) = response.extensions_mut().remove::<AnswerKey>() {
            match route {
                Cached::Search => self.state.search_cache.remember_body(&body, key),
                Cached::Query => self.state.query_cache.remember_body(&body, key),
            }
        }
        response
    }

    /// `request` through the router, which answers every request itself (its errors are
    /// responses).
    async fn through_router(&self, request: Request) -> Response {
        let Ok(response) = self.router.clone().oneshot(request).await;
        response
    }

    /// Which cached route `request` is for, when this path may take it.
    fn cached_route(&self, request: &Request) -> Option<Cached> {
        if request.method() != Method::POST {
            return None;
        }
        let route = match request.uri().path() {
            ROUTE_SEARCH => Cached::Search,
            ROUTE_QUERY => Cached::Query,
            _ => return None,
        };
        let headers = request.headers();
        // `application/json` exactly: other spellings the router accepts go to the router.
        if headers.get(header::CONTENT_TYPE)?.as_bytes() != b"application/json" {
            return None;
        }
        let length: usize = headers
            .get(header::CONTENT_LENGTH)?
            .to_str()
            .ok()?
            .parse()
            .ok()?;
        if length > self.body_limit.min(MAX_BODY) {
            return None;
        }
        self.state.auth.remembered(bearer_token(headers).ok()?)?;
        Some(route)
    }
}

impl Service<Request> for App {
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let app = self.clone();
        Box::pin(async move { Ok(app.handle(request).await) })
    }
}
