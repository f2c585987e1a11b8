//! The vector store stage: passages with their vectors, searched by cosine similarity, and
//! with `[store] hybrid` by BM25 keywords too, the two rankings fused ([`sparse`]).

mod edge;
mod qdrant;
pub mod sparse;

use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

pub use self::edge::EdgeStore;
pub use self::qdrant::QdrantStore;
use crate::backend::BackendInfo;
use crate::config::{StoreBackend, StoreConfig};

/// Payload field names. Every backend writes and reads the same payload, so a collection
/// ingested through one reads the same through another.
pub(crate) mod field {
    /// The documentation set.
    pub const SOURCE: &str = "source";
    /// The document's path.
    pub const PATH: &str = "path";
    /// Every folder prefix of the path and the path itself ([`super::path_prefixes`]).
    pub const PREFIXES: &str = "path_prefixes";
    /// The keyword-indexed fields (filters and facets use them).
    pub const INDEXED: [&str; 3] = [PATH, PREFIXES, SOURCE];
}

/// Most sources `GET /v1/sources` lists.
pub(crate) const MAX_SOURCES: usize = 10_000;

/// Below this many KB of vectors in a segment Qdrant scans instead of walking the HNSW graph;
/// a docs corpus is a few MB, so the engine's default (10 MB) would never use the index.
pub(crate) const FULL_SCAN_THRESHOLD_KB: usize = 10;

/// A vector store failure. Every variant means the store is unavailable for this request (503).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The collection could not be opened or created.
    #[error("vector store could not be opened at {path}: {message}")]
    Open {
        /// Where.
        path: String,
        /// Why.
        message: String,
    },
    /// An operation failed inside the engine.
    #[error("vector store {operation} failed: {message}")]
    Operation {
        /// upsert, search, count, ...
        operation: &'static str,
        /// The engine's message.
        message: String,
    },
    /// The collection was built with BM25 sparse vectors and `[store] hybrid` is off, or the
    /// other way round.
    #[error("{}", layout_mismatch(collection, *stored_hybrid))]
    LayoutMismatch {
        /// The collection.
        collection: String,
        /// Whether it holds sparse vectors.
        stored_hybrid: bool,
    },
    /// The collection holds vectors of another size than the embedder makes.
    #[error(
        "collection {collection:?} holds {stored}-dimensional vectors but the embedder makes \
         {embedder}-dimensional ones: use the embedder the collection was built with, or another \
         [store] collection"
    )]
    DimensionMismatch {
        /// The collection.
        collection: String,
        /// Its vectors' size.
        stored: u64,
        /// The embedder's.
        embedder: usize,
    },
}

fn layout_mismatch(collection: &str, stored_hybrid: bool) -> String {
    let (built, setting) = if stored_hybrid {
        ("with BM25 sparse vectors (hybrid search)", "false")
    } else {
        ("without BM25 sparse vectors (dense search only)", "true")
    };
    format!(
        "collection {collection:?} was built {built} but [store] hybrid = {setting}: ingest the \
         corpus again into another [store] collection (or another data_dir) with this setting, \
         or set hybrid back to {stored_hybrid}"
    )
}

/// One passage of a document, as stored beside its vector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Passage {
    /// Deterministic id from (source, path, chunk index, content hash): re-ingesting adds
    /// nothing.
    pub id: uuid::Uuid,
    /// The documentation set (named source) the passage belongs to.
    pub source: String,
    /// Document path relative to the ingested folder, `/`-separated.
    pub path: String,
    /// Document title (front matter `title`, first `#` heading, or file name).
    pub title: String,
    /// The heading trail of the section, e.g. `Install > Linux`.
    pub heading: String,
    /// The passage text.
    pub text: String,
    /// Position of the passage within its document.
    pub chunk_index: u32,
}

impl Passage {
    /// The payload stored beside the passage's vector, the same in every backend.
    pub fn payload(&self) -> Value {
        json!({
            field::SOURCE: self.source,
            field::PATH: self.path,
            field::PREFIXES: path_prefixes(&self.path),
            "title": self.title,
            "heading": self.heading,
            "text": self.text,
            "chunk_index": self.chunk_index,
        })
    }
}

/// A search result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hit {
    /// The passage's point id (deterministic: see [`Passage::id`]).
    #[serde(default)]
    pub id: String,
    /// Cosine similarity; with `[store] hybrid`, the fused rank score (reciprocal rank fusion
    /// of the dense and the BM25 ranking), which orders hits but is no similarity.
    pub score: f32,
    /// The documentation set (named source) of the document.
    #[serde(default)]
    pub source: String,
    /// Document path.
    pub path: String,
    /// Document title.
    pub title: String,
    /// Section heading trail.
    pub heading: String,
    /// Passage text.
    pub text: String,
}

/// `hits` best first, equal scores by point id. Hybrid search's fused scores tie often
/// (ranks 1 and 2 in one list, 2 and 1 in the other), and the engine breaks ties by its
/// internal order, which a restart or a re-layout of segments changes: the same question must
/// get the same answer order.
pub(crate) fn in_rank_order(mut hits: Vec<Hit>) -> Vec<Hit> {
    hits.sort_by(|a, b| b.score.total_cmp(&a.score).then_with(|| a.id.cmp(&b.id)));
    hits
}

impl Hit {
    /// A hit from a stored point: its id, score and [`Passage::payload`].
    pub fn from_payload(id: String, score: f32, payload: &Map<String, Value>) -> Self {
        let text = |key: &str| {
            payload
                .get(key)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        Self {
            id,
            score,
            source: text(field::SOURCE),
            path: text(field::PATH),
            title: text("title"),
            heading: text("heading"),
            text: text("text"),
        }
    }
}

/// Restricts a search.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchFilter {
    /// Only documents under this folder (or exactly this file), e.g. `guides/` or `guides/test`.
    pub path_prefix: Option<String>,
    /// Only passages of this source (documentation set); combined with `path_prefix`.
    pub source: Option<String>,
}

impl SearchFilter {
    /// The keyword matches the filter stands for, as (payload field, value); a passage must
    /// match them all.
    pub fn terms(&self) -> Vec<(&'static str, String)> {
        let mut terms = Vec::new();
        if let Some(prefix) = self
            .path_prefix
            .as_deref()
            .map(normalize_prefix)
            .filter(|p| !p.is_empty())
        {
            terms.push((field::PREFIXES, prefix));
        }
        if let Some(source) = &self.source {
            terms.push((field::SOURCE, source.clone()));
        }
        terms
    }
}

/// How a search finds the nearest passages.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum SearchMethod {
    /// Through the HNSW index: approximate, fast; `[store] hnsw_ef` sets its beam width.
    #[default]
    Index,
    /// Every stored vector compared: the true nearest passages, which the index's answers
    /// are measured against (`harness eval`).
    Exact,
}

/// A collection's state as a Qdrant server reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CollectionStatus {
    /// Every segment indexed and ready.
    Green,
    /// Optimizing (indexing): searches work, some of them without the index.
    Yellow,
    /// Optimizations pending until the next write.
    Grey,
    /// The server failed an operation on the collection.
    Red,
}

/// What `/health` learns from the store.
#[derive(Debug, Clone)]
pub struct StoreHealth {
    /// Name, state and location.
    pub info: BackendInfo,
    /// The collection's status, where the store reports one (a Qdrant server).
    pub collection: Option<CollectionStatus>,
}

/// A named source and how many passages it holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceCount {
    /// The source's name.
    pub name: String,
    /// Passages stored for it.
    pub passages: u64,
}

/// Stores passages and finds the nearest ones to a query vector.
#[async_trait::async_trait]
pub trait VectorStore: Send + Sync {
    /// Inserts or replaces passages (same id = same point).
    async fn upsert(&self, points: Vec<(Passage, Vec<f32>)>) -> Result<(), StoreError>;
    /// Which of `ids` are already stored: ingestion embeds only the others.
    async fn existing(
        &self,
        ids: Vec<uuid::Uuid>,
    ) -> Result<std::collections::HashSet<uuid::Uuid>, StoreError>;
    /// Deletes the passages of `path` in `source` whose ids are not in `keep` (stale chunks
    /// of an edited file); never touches another source. Returns how many were deleted.
    async fn delete_by_path(
        &self,
        source: &str,
        path: &str,
        keep: &[uuid::Uuid],
    ) -> Result<usize, StoreError>;
    /// Every source with its passage count, by name.
    async fn sources(&self) -> Result<Vec<SourceCount>, StoreError>;
    /// Deletes every passage of `source`; returns how many were deleted (0: unknown source).
    async fn delete_source(&self, source: &str) -> Result<usize, StoreError>;
    /// The `top_k` nearest passages to the query `text` embedded as `vector`, found by
    /// `method` (with `[store] hybrid`, `text` is also matched by BM25 and the rankings fused).
    async fn search(
        &self,
        text: &str,
        vector: Vec<f32>,
        top_k: usize,
        filter: &SearchFilter,
        method: SearchMethod,
    ) -> Result<Vec<Hit>, StoreError>;
    /// Exact number of stored passages.
    async fn count(&self) -> Result<u64, StoreError>;
    /// Builds indexes after a bulk load (HNSW, payload indexes).
    async fn optimize(&self) -> Result<(), StoreError>;
    /// Whether the collection exists.
    fn collection_exists(&self) -> bool;
    /// Name, state and location for `/health`.
    fn info(&self) -> BackendInfo;
    /// [`VectorStore::info`] checked with the store itself: a remote store asks its server.
    async fn health(&self) -> StoreHealth {
        StoreHealth {
            info: self.info(),
            collection: None,
        }
    }
}

/// Opens (or creates) the configured store: under `data_dir` (edge) or on a Qdrant server,
/// for vectors of `dimension`.
pub async fn open(
    cfg: &StoreConfig,
    data_dir: &Path,
    dimension: usize,
) -> Result<Arc<dyn VectorStore>, StoreError> {
    match cfg.backend {
        StoreBackend::Edge => Ok(Arc::new(EdgeStore::open(cfg, data_dir, dimension)?)),
        StoreBackend::Qdrant => Ok(Arc::new(QdrantStore::connect(cfg, dimension).await?)),
    }
}

/// Every folder prefix of a path, and the path itself: `a/b/c.md` -> `a`, `a/b`, `a/b/c.md`.
/// Stored as a keyword array so a prefix filter is one exact, indexed match.
pub fn path_prefixes(path: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut end = 0;
    for (i, ch) in path.char_indices() {
        if ch == '/' && i > 0 {
            out.push(path[..i].to_string());
        }
        end = i + ch.len_utf8();
    }
    if end > 0 {
        out.push(path.to_string());
    }
    out
}

/// Normalises a user's prefix to the stored form: no leading `./` or `/`, no trailing `/`.
pub fn normalize_prefix(prefix: &str) -> String {
    prefix
        .trim()
        .trim_start_matches("./")
        .trim_matches('/')
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_scores_are_ordered_by_id() {
        let hit = |id: &str, score: f32| Hit {
            id: id.into(),
            score,
            ..Hit::from_payload(String::new(), 0.0, &Map::new())
        };
        let ranked = in_rank_order(vec![hit("b", 0.5), hit("c", 0.9), hit("a", 0.5)]);
        let ids: Vec<&str> = ranked.iter().map(|h| h.id.as_str()).collect();
        assert_eq!(ids, ["c", "a", "b"]);
    }

    #[test]
    fn prefixes_of_a_path() {
        assert_eq!(
            path_prefixes("guides/test/snapshots.mdx"),
            vec!["guides", "guides/test", "guides/test/snapshots.mdx"]
        );
        assert_eq!(path_prefixes("index.mdx"), vec!["index.mdx"]);
        assert_eq!(normalize_prefix("/guides/test/"), "guides/test");
    }
}
