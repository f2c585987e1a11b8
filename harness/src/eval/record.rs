//! The eval section of `summary.json`: the settings the figures were measured with, then
//! per labeled set the quality and search latency of the index and of exact search.

use serde::{Deserialize, Serialize};

use crate::summary::LatencyStats;

/// Retrieval quality, measured once per run (`harness eval`, or a scenario's `[eval]`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct EvalSummary {
    /// The server settings that shape retrieval, as in effect for the run.
    pub settings: EvalSettings,
    /// Passages asked of each search: enough for 10 distinct pages in most rankings.
    pub candidates: usize,
    /// One entry per labeled set, in the order evaluated.
    pub sets: Vec<SetResult>,
    /// Seconds the evaluation took (both methods, every set).
    pub elapsed_s: f64,
}

/// Settings that decide what a search finds. `None`: not known to the harness (an external
/// server), or the engine's own default (`hnsw_ef`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct EvalSettings {
    /// `[store] hnsw_m`: the HNSW graph's degree.
    pub hnsw_m: Option<usize>,
    /// `[store] hnsw_ef_construct`: the build-time beam width.
    pub hnsw_ef_construct: Option<usize>,
    /// `[store] hnsw_ef`: the search-time beam width (`None`: the engine's default).
    pub hnsw_ef: Option<usize>,
    /// `[ingest] chunk_tokens`: passage size in embedding-model tokens.
    pub chunk_tokens: Option<usize>,
    /// `[ingest] overlap_tokens`.
    pub overlap_tokens: Option<usize>,
    /// `[store] hybrid`: dense and BM25 rankings fused (`false`: dense only).
    #[serde(default)]
    pub hybrid: Option<bool>,
    /// The embedder as `/health` names it (backend and model).
    pub embedder: Option<String>,
    /// The vector store as `/health` names it.
    pub store: Option<String>,
    /// Where the `[store]` and `[ingest]` figures came from.
    pub origin: String,
}

/// One labeled set's figures.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SetResult {
    /// `descriptions` or `beir`.
    pub name: String,
    /// Where the set came from.
    pub origin: String,
    /// Queries evaluated.
    pub queries: usize,
    /// Searches through the HNSW index (what users get).
    pub hnsw: MethodResult,
    /// Exact searches over every vector (the index's ground truth).
    pub exact: MethodResult,
    /// Recall@10 of the index's first 10 passages against exact search's first 10, averaged
    /// over the queries: 1 means the index lost nothing.
    pub hnsw_vs_exact_at_10: f64,
}

/// Quality over pages and client-side search latency of one search method on one set.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct MethodResult {
    /// Share of queries whose relevant page ranked first (over pages).
    pub recall_at_1: f64,
    /// Mean share of relevant pages among the first 5 pages.
    pub recall_at_5: f64,
    /// Mean share of relevant pages among the first 10 pages.
    pub recall_at_10: f64,
    /// Mean reciprocal rank of the first relevant page within 10.
    pub mrr_at_10: f64,
    /// Latency of the searches as the harness saw them (request sent to body read),
    /// microseconds; answers served from the response cache are left out.
    pub latency: LatencyStats,
    /// Answers that came from the server's response cache (a query asked twice).
    pub cached: u64,
}
