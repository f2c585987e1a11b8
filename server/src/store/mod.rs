//! The vector store stage: passages with their vectors, searched by cosine similarity.

mod edge;

use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

pub use self::edge::EdgeStore;
use crate::backend::BackendInfo;
use crate::config::{StoreBackend, StoreConfig};

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

/// A search result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hit {
    /// The passage's point id (deterministic: see [`Passage::id`]).
    #[serde(default)]
    pub id: String,
    /// Cosine similarity.
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

/// Restricts a search.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchFilter {
    /// Only documents under this folder (or exactly this file), e.g. `guides/` or `guides/test`.
    pub path_prefix: Option<String>,
    /// Only passages of this source (documentation set); combined with `path_prefix`.
    pub source: Option<String>,
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
    /// The `top_k` nearest passages.
    async fn search(
        &self,
        vector: Vec<f32>,
        top_k: usize,
        filter: &SearchFilter,
    ) -> Result<Vec<Hit>, StoreError>;
    /// Exact number of stored passages.
    async fn count(&self) -> Result<u64, StoreError>;
    /// Builds indexes after a bulk load (HNSW, payload indexes).
    async fn optimize(&self) -> Result<(), StoreError>;
    /// Whether the collection exists.
    fn collection_exists(&self) -> bool;
    /// Name, state and location for `/health`.
    fn info(&self) -> BackendInfo;
}

/// Opens (or creates) the configured store under `data_dir`.
pub fn open(
    cfg: &StoreConfig,
    data_dir: &Path,
    dimension: usize,
) -> Result<Arc<dyn VectorStore>, StoreError> {
    match cfg.backend {
        StoreBackend::Edge => Ok(Arc::new(EdgeStore::open(cfg, data_dir, dimension)?)),
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
    fn prefixes_of_a_path() {
        assert_eq!(
            path_prefixes("guides/test/snapshots.mdx"),
            vec!["guides", "guides/test", "guides/test/snapshots.mdx"]
        );
        assert_eq!(path_prefixes("index.mdx"), vec!["index.mdx"]);
        assert_eq!(normalize_prefix("/guides/test/"), "guides/test");
    }
}
