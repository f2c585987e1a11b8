//! The endpoints. Each reads top to bottom as the request's path:
//! validate -> cache lookup -> embed -> search -> [generate] -> cache store.

use std::sync::Arc;
use std::time::Instant;

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};

use super::SharedState;
use super::auth::{Claims, INGEST_SCOPE, require_scope};
use super::cache::{AnswerKey, CacheKey, Cacheable, normalize_text};
use super::error::{ApiError, ApiJson};
use super::timing::{SERVER_TIMING, StageTimings};
use crate::backend::{BackendInfo, BackendState};
use crate::ingest::validate_source;
use crate::store::{CollectionStatus, Hit, SearchFilter, SearchMethod, SourceCount};

/// Longest accepted query or question, in characters.
const MAX_QUERY_CHARS: usize = 2_000;

/// `POST /v1/search` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchRequest {
    /// What to look for.
    pub query: String,
    /// How many hits, 1..=50 (default 5).
    #[serde(default = "default_search_k")]
    pub top_k: usize,
    /// Optional restriction.
    #[serde(default)]
    pub filter: SearchFilter,
    /// Only passages of this source (same as `filter.source`).
    #[serde(default)]
    pub source: Option<String>,
    /// Compare every stored vector instead of walking the HNSW index: the true nearest
    /// passages, slower; what `harness eval` measures the index against (default false).
    #[serde(default)]
    pub exact: bool,
}

fn default_search_k() -> usize {
    5
}

/// `POST /v1/search` response.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SearchResponse {
    /// Hits, best first.
    pub hits: Vec<Hit>,
    /// Whether this came from the cache.
    pub cached: bool,
}

/// `POST /v1/query` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueryRequest {
    /// The question.
    pub question: String,
    /// Passages retrieved for the answer, 1..=10 (default 3).
    #[serde(default = "default_query_k")]
    pub top_k: usize,
    /// Only passages of this source.
    #[serde(default)]
    pub source: Option<String>,
}

fn default_query_k() -> usize {
    3
}

/// A passage an answer was written from.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Source {
    /// Similarity to the question.
    pub score: f32,
    /// The documentation set of the document.
    #[serde(default)]
    pub source: String,
    /// Document path.
    pub path: String,
    /// Document title.
    pub title: String,
    /// Section heading trail.
    pub heading: String,
}

/// `POST /v1/query` response.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct QueryResponse {
    /// The generated answer.
    pub answer: String,
    /// Passages given to the model.
    pub sources: Vec<Source>,
    /// Whether this came from the cache.
    pub cached: bool,
    /// Tokens generated.
    pub tokens: u32,
}

impl Cacheable for SearchResponse {
    fn set_cached(&mut self, cached: bool) {
        self.cached = cached;
    }
}

impl Cacheable for QueryResponse {
    fn set_cached(&mut self, cached: bool) {
        self.cached = cached;
    }
}

/// `GET /v1/sources` response.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SourcesResponse {
    /// Every source with its passage count, by name.
    pub sources: Vec<SourceCount>,
}

/// `DELETE /v1/sources/{name}` response.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeleteSourceResponse {
    /// The source deleted.
    pub source: String,
    /// Passages deleted.
    pub deleted: usize,
    /// Vectors left in the collection.
    pub vectors: u64,
}

fn validate_source_field(source: Option<&str>) -> Result<(), ApiError> {
    if let Some(name) = source {
        validate_source(name).map_err(|e| ApiError::bad_request(format!("`source`: {e}")))?;
    }
    Ok(())
}

fn validate_text(field: &str, text: &str) -> Result<(), ApiError> {
    if text.trim().is_empty() {
        return Err(ApiError::bad_request(format!(
            "`{field}` must not be empty"
        )));
    }
    if text.chars().count() > MAX_QUERY_CHARS {
        return Err(ApiError::bad_request(format!(
            "`{field}` is longer than {MAX_QUERY_CHARS} characters"
        )));
    }
    Ok(())
}

fn validate_k(k: usize, max: usize) -> Result<(), ApiError> {
    if !(1..=max).contains(&k) {
        return Err(ApiError::bad_request(format!(
            "`top_k` must be between 1 and {max}, got {k}"
        )));
    }
    Ok(())
}

/// A computed answer, labelled with the key it was filed under.
fn with_timing<T: Serialize>(timings: &StageTimings, key: &CacheKey, body: T) -> Response {
    let mut response = Json(body).into_response();
    response
        .headers_mut()
        .insert(SERVER_TIMING, timings.header());
    labelled(response, key)
}

/// A cache hit: the stored JSON body as it is. [`super::fast_path`] sends its hits with this
/// too, so both paths answer alike.
pub fn cached_with_timing(timings: &StageTimings, body: Bytes) -> Response {
    let mut response = Response::new(Body::from(body));
    let headers = response.headers_mut();
    headers.insert(SERVER_TIMING, timings.header());
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// A cache hit found by the handler, labelled with its key.
fn cache_hit(timings: &StageTimings, key: &CacheKey, body: Bytes) -> Response {
    labelled(cached_with_timing(timings, body), key)
}

/// `response` labelled with the key its answer is filed under, for [`super::fast_path`].
fn labelled(mut response: Response, key: &CacheKey) -> Response {
    response
        .extensions_mut()
        .insert(AnswerKey(key.request().clone()));
    response
}

/// `POST /v1/search`: nearest passages to a query.
pub async fn search(
    State(state): State<SharedState>,
    ApiJson(req): ApiJson<SearchRequest>,
) -> Result<impl IntoResponse, ApiError> {
    validate_text("query", &req.query)?;
    validate_k(req.top_k, 50)?;
    let mut req = req;
    match (req.source.take(), &req.filter.source) {
        (Some(a), Some(b)) if &a != b => {
            return Err(ApiError::bad_request(
                "`source` and `filter.source` differ: give one of them",
            ));
        }
        (Some(a), _) => req.filter.source = Some(a),
        _ => {}
    }
    validate_source_field(req.filter.source.as_deref())?;
    let mut timings = StageTimings::new();
    let method = if req.exact {
        SearchMethod::Exact
    } else {
        SearchMethod::Index
    };
    // The method is part of the key: an exact answer is never served for an index search,
    // nor the other way round (the two can differ, and telling them apart is the point).
    let key = CacheKey::new(
        state.generation(),
        format!(
            "{}\0{}\0{}\0{}\0{}",
            if req.exact { "exact" } else { "index" },
            req.top_k,
            req.filter.source.as_deref().unwrap_or_default(),
            req.filter
                .path_prefix
                .as_deref()
                .map(crate::store::normalize_prefix)
                .unwrap_or_default(),
            normalize_text(&req.query)
        ),
    );

    let t = Instant::now();
    if let Some(hit) = state.search_cache.get(&key) {
        timings.record("cache", t, Some("hit"));
        return Ok(cache_hit(&timings, &key, hit));
    }
    timings.record("cache", t, Some("miss"));

    let t = Instant::now();
    let vector = state.embedder.embed_query(&req.query).await?;
    timings.record("embed", t, None);

    let t = Instant::now();
    let hits = state
        .store
        .search(&req.query, vector, req.top_k, &req.filter, method)
        .await?;
    timings.record("search", t, None);

    let mut response = SearchResponse {
        hits,
        cached: false,
    };
    state.search_cache.insert(key.clone(), &mut response);
    Ok(with_timing(&timings, &key, response))
}

/// `POST /v1/query`: an answer written from the best passages.
pub async fn query(
    State(state): State<SharedState>,
    ApiJson(req): ApiJson<QueryRequest>,
) -> Result<impl IntoResponse, ApiError> {
    validate_text("question", &req.question)?;
    validate_k(req.top_k, 10)?;
    validate_source_field(req.source.as_deref())?;
    let Some(generator) = state.generator.clone() else {
        return Err(ApiError::unavailable(
            "answer generation is disabled on this server ([generator] backend = \"disabled\"); \
             use /v1/search, or start it with a generator",
        ));
    };
    let mut timings = StageTimings::new();
    let key = CacheKey::new(
        state.generation(),
        format!(
            "{}\0{}\0{}",
            req.top_k,
            req.source.as_deref().unwrap_or_default(),
            normalize_text(&req.question)
        ),
    );

    let t = Instant::now();
    if let Some(hit) = state.query_cache.get(&key) {
        timings.record("cache", t, Some("hit"));
        return Ok(cache_hit(&timings, &key, hit));
    }
    timings.record("cache", t, Some("miss"));

    // Take a place in the generator's queue before spending anything: when it is full the
    // client is told at once (429) instead of waiting behind minutes of work.
    let _place = state
        .generate_queue
        .clone()
        .try_acquire_owned()
        .map_err(|_| {
            ApiError::too_many(
                "the answer generator is at capacity ([generator] max_queue requests waiting); \
             retry later",
            )
        })?;
    metrics::gauge!("ragbench_generate_queue_depth").increment(1.0);
    let _depth = scopeguard(|| metrics::gauge!("ragbench_generate_queue_depth").decrement(1.0));

    let t = Instant::now();
    let vector = state.embedder.embed_query(&req.question).await?;
    timings.record("embed", t, None);

    let t = Instant::now();
    let hits = state
        .store
        .search(
            &req.question,
            vector,
            req.top_k,
            &SearchFilter {
                path_prefix: None,
                source: req.source.clone(),
            },
            SearchMethod::Index,
        )
        .await?;
    timings.record("search", t, None);

    let t = Instant::now();
    let generation = generator.generate(&req.question, &hits).await?;
    timings.record("generate", t, None);
    metrics::counter!("ragbench_generated_tokens_total").increment(u64::from(generation.tokens));

    let mut response = QueryResponse {
        answer: generation.text,
        sources: hits
            .into_iter()
            .take(generation.passages_used)
            .map(|h| Source {
                score: h.score,
                source: h.source,
                path: h.path,
                title: h.title,
                heading: h.heading,
            })
            .collect(),
        cached: false,
        tokens: generation.tokens,
    };
    state.query_cache.insert(key.clone(), &mut response);
    Ok(with_timing(&timings, &key, response))
}

/// `GET /v1/sources`: every source with its passage count.
pub async fn sources(State(state): State<SharedState>) -> Result<Json<SourcesResponse>, ApiError> {
    let sources = state.store.sources().await?;
    Ok(Json(SourcesResponse { sources }))
}

/// `DELETE /v1/sources/{name}`: deletes one source's passages. Needs the `ingest` scope;
/// 404 for a source with no passages.
pub async fn delete_source(
    State(state): State<SharedState>,
    Extension(claims): Extension<Arc<Claims>>,
    Path(name): Path<String>,
) -> Result<Json<DeleteSourceResponse>, ApiError> {
    require_scope(&claims, INGEST_SCOPE, "delete a source")?;
    validate_source_field(Some(&name))?;
    let result = state.store.delete_source(&name).await;
    // A failure part-way may have deleted some: a change too.
    if !matches!(result, Ok(0)) {
        state.data_changed();
    }
    let deleted = result?;
    if deleted == 0 {
        return Err(ApiError {
            status: StatusCode::NOT_FOUND,
            code: "not_found",
            message: format!("no source named {name:?}: GET /v1/sources lists them"),
        });
    }
    let vectors = state.store.count().await?;
    metrics::gauge!("ragbench_vectors").set(vectors as f64);
    tracing::info!(source = %name, deleted, "deleted source");
    Ok(Json(DeleteSourceResponse {
        source: name,
        deleted,
        vectors,
    }))
}

/// `GET /health` body.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Health {
    /// green: serving with data; yellow: serving but degraded (the collection is empty or still
    /// being indexed, or the generator is failing: search works, answers do not); red: the
    /// embedder or the store is down (nothing can be served).
    pub status: String,
    /// Whether the collection exists.
    pub collection_exists: bool,
    /// The collection's status where the store reports one (a Qdrant server: green, yellow
    /// while indexing, grey with indexing pending, red on a failure).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub collection_status: Option<CollectionStatus>,
    /// Vectors stored.
    pub vectors: u64,
    /// Each stage's backend.
    pub backends: Backends,
    /// Server version.
    pub version: String,
}

/// The backends behind each stage.
#[derive(Debug, Serialize, Deserialize)]
pub struct Backends {
    /// The embedding stage.
    pub embedder: BackendInfoView,
    /// The vector store.
    pub store: BackendInfoView,
    /// The generator.
    pub generator: BackendInfoView,
}

/// [`BackendInfo`] as JSON.
#[derive(Debug, Serialize, Deserialize)]
pub struct BackendInfoView {
    /// Backend name.
    pub name: String,
    /// up, down or disabled.
    pub state: String,
    /// Model, path or URL.
    pub detail: String,
}

impl From<BackendInfo> for BackendInfoView {
    fn from(b: BackendInfo) -> Self {
        let state = match b.state {
            BackendState::Up => "up",
            BackendState::Down => "down",
            BackendState::Disabled => "disabled",
        };
        Self {
            name: b.name,
            state: state.into(),
            detail: b.detail,
        }
    }
}

/// `GET /health`: 200 when green or yellow, 503 when red. The generator only answers
/// `/v1/query`, so its failure lowers the status to yellow, never red.
pub async fn health(State(state): State<SharedState>) -> impl IntoResponse {
    // Remote backends are asked, all at once: the answer waits for the slowest, not the sum.
    let generator = async {
        match &state.generator {
            Some(g) => g.health().await,
            None => BackendInfo {
                name: "none".into(),
                state: BackendState::Disabled,
                detail: "answer generation disabled by configuration".into(),
            },
        }
    };
    let (store, embedder, generator, count) = tokio::join!(
        state.store.health(),
        state.embedder.health(),
        generator,
        state.store.count()
    );
    let mut store_info = store.info;
    let vectors = match count {
        Ok(n) => n,
        Err(e) => {
            store_info.state = BackendState::Down;
            store_info.detail = e.to_string();
            0
        }
    };
    metrics::gauge!("ragbench_vectors").set(vectors as f64);
    let down = [&embedder, &store_info]
        .iter()
        .any(|b| b.state == BackendState::Down);
    let indexing = matches!(
        store.collection,
        Some(CollectionStatus::Yellow | CollectionStatus::Grey)
    );
    let status = if down {
        "red"
    } else if vectors == 0 || indexing || generator.state == BackendState::Down {
        "yellow"
    } else {
        "green"
    };
    let body = Health {
        status: status.into(),
        collection_exists: state.store.collection_exists(),
        collection_status: store.collection,
        vectors,
        backends: Backends {
            embedder: embedder.into(),
            store: store_info.into(),
            generator: generator.into(),
        },
        version: env!("CARGO_PKG_VERSION").into(),
    };
    let code = if down {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    (code, Json(body))
}

/// `GET /metrics`: Prometheus text format.
pub async fn metrics(State(state): State<SharedState>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4"),
        )],
        state.metrics.render(),
    )
}

/// Runs `f` when dropped (on every exit path of a handler).
fn scopeguard(f: impl FnOnce()) -> impl Drop {
    struct Guard<F: FnOnce()>(Option<F>);
    impl<F: FnOnce()> Drop for Guard<F> {
        fn drop(&mut self) {
            if let Some(f) = self.0.take() {
                f();
            }
        }
    }
    Guard(Some(f))
}
