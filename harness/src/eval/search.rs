//! One labeled query sent to `/v1/search` with each method, timed from the client as the
//! load is (request sent to body read, the run's JWT, the harness's HTTP client).

use std::time::{Duration, Instant};

use ragbench_server::api::handlers::SearchResponse;
use reqwest::header::AUTHORIZATION;
use serde_json::json;

use crate::load::client::{Api, ClientError, decode, fetch, truncate};

/// Most passages one `/v1/search` returns (the server's `top_k` limit).
pub const MAX_CANDIDATES: usize = 50;

/// How a search finds its passages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// The HNSW index, as users search.
    Hnsw,
    /// Every vector compared (`"exact": true`).
    Exact,
}

/// What one search answered.
#[derive(Debug, Clone)]
pub struct Answer {
    /// Passage ids, best first.
    pub ids: Vec<String>,
    /// The page of each passage, best first.
    pub paths: Vec<String>,
    /// Whether the server answered from its response cache.
    pub cached: bool,
    /// Request sent to body read.
    pub elapsed: Duration,
}

/// Sends searches with one token, asking for `candidates` passages each.
#[derive(Debug, Clone)]
pub struct Searcher {
    api: Api,
    token: String,
    candidates: usize,
}

impl Searcher {
    /// A searcher against `api`'s server; `candidates` is capped at [`MAX_CANDIDATES`].
    pub fn new(api: Api, token: String, candidates: usize) -> Searcher {
        Searcher {
            api,
            token,
            candidates: candidates.clamp(1, MAX_CANDIDATES),
        }
    }

    /// Passages asked of each search.
    pub fn candidates(&self) -> usize {
        self.candidates
    }

    /// Searches `query` with `method`.
    pub async fn search(&self, query: &str, method: Method) -> Result<Answer, ClientError> {
        let url = format!("{}/v1/search", self.api.base());
        let what = match method {
            Method::Hnsw => "eval search (HNSW)",
            Method::Exact => "eval search (exact)",
        };
        let body = json!({
            "query": query,
            "top_k": self.candidates,
            "exact": method == Method::Exact,
        });
        let req = self
            .api
            .client()
            .post(&url)
            .header(AUTHORIZATION, format!("Bearer {}", self.token))
            .json(&body)
            .timeout(Duration::from_secs(60));
        let started = Instant::now();
        let (status, text) = fetch(req, what, &url).await?;
        let elapsed = started.elapsed();
        if status != 200 {
            return Err(ClientError::Status {
                what,
                url,
                status,
                body: truncate(&text),
            });
        }
        let resp: SearchResponse = decode(&text, what, &url)?;
        let (ids, paths) = resp.hits.into_iter().map(|h| (h.id, h.path)).unzip();
        Ok(Answer {
            ids,
            paths,
            cached: resp.cached,
            elapsed,
        })
    }
}
