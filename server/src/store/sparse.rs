//! Hybrid search's keyword side, shared by both backends: BM25 sparse vectors and how the two
//! rankings are fused.
//!
//! A dense embedding knows what a passage is about but blurs rare, exact words (an API name,
//! a flag, an error code); BM25 matches exactly those. With `[store] hybrid = true` every
//! point carries a sparse vector beside its dense one, and a search asks both, each for
//! [`prefetch_limit`] candidates, and fuses the two rankings with reciprocal rank fusion
//! inside the engine. The sparse vectors are computed here, in the server process, with
//! qdrant-edge's BM25 embedder (Qdrant's own tokenizer, English stop words and stemmer), for
//! the embedded engine and a Qdrant server alike, so both store the same vectors. The
//! documents' term frequencies are stored; the inverse document frequencies come from the
//! engine at query time (the vector's `Idf` modifier), so they follow the collection as it
//! grows.

use std::sync::LazyLock;

use qdrant_edge::SparseVector;
use qdrant_edge::bm25_embed::{EdgeBm25, EdgeBm25Config};

use super::{Passage, StoreError};

/// The sparse vector's name in the collection (the dense one is the unnamed vector).
pub const VECTOR_NAME: &str = "bm25";

/// Reciprocal rank fusion's `k`: a passage scores `1 / (k + rank)` in each ranking. 60 is
/// the value of the method's paper; Qdrant's own default (2) lets one ranking's first place
/// outweigh a passage both rankings put second.
pub const RRF_K: usize = 60;

/// Fewest candidates each side of a hybrid search contributes to the fusion.
const MIN_PREFETCH: usize = 100;

/// Candidates each side contributes for a search of `top_k`: enough that a passage one side
/// ranks low can still be lifted by the other. 100 costs the dense side nothing over the
/// index's default beam (`ef` = `hnsw_ef_construct`, 100).
pub fn prefetch_limit(top_k: usize) -> usize {
    top_k.saturating_mul(2).max(MIN_PREFETCH)
}

/// The one BM25 model; its configuration is fixed, as stored vectors depend on it.
static BM25: LazyLock<EdgeBm25> = LazyLock::new(|| {
    EdgeBm25::new(EdgeBm25Config::default()).expect("the default BM25 configuration is valid")
});

/// The sparse vector stored for a passage: BM25 term weights of the text its dense vector
/// was embedded from (title and heading trail, then the passage).
pub fn document(passage: &Passage) -> SparseVector {
    BM25.embed_document(&crate::ingest::embedding_input(passage))
}

/// The sparse vector a search sends for `query`: one entry per distinct term. Empty when the
/// query has no term BM25 keeps (only stop words): the search is then dense only.
pub fn query(query: &str) -> SparseVector {
    BM25.embed_query(query)
}

/// Whether a collection's layout (with a [`VECTOR_NAME`] sparse vector or not) is the one the
/// configuration asks for: mixing the two would leave some points out of one ranking.
pub fn check_layout(collection: &str, stored: bool, configured: bool) -> Result<(), StoreError> {
    if stored == configured {
        Ok(())
    } else {
        Err(StoreError::LayoutMismatch {
            collection: collection.to_string(),
            stored_hybrid: stored,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keywords_become_stemmed_terms_and_stop_words_vanish() {
        let q = query("the installing of bun");
        let d = query("install Bun");
        assert_eq!(q.indices.len(), 2, "{q:?}");
        let (mut a, mut b) = (q.indices.clone(), d.indices.clone());
        a.sort_unstable();
        b.sort_unstable();
        assert_eq!(a, b, "stemmed and lower-cased alike");
        assert!(query("the of and").indices.is_empty());
    }

    #[test]
    fn a_document_is_weighted_by_its_embedded_text() {
        let p = Passage {
            id: uuid::Uuid::nil(),
            source: "s".into(),
            path: "a.md".into(),
            title: "Workspaces".into(),
            heading: String::new(),
            text: "monorepo monorepo packages".into(),
            chunk_index: 0,
        };
        let v = document(&p);
        assert_eq!(v.indices.len(), 3, "the title's term too: {v:?}");
        let title = query("workspaces").indices[0];
        let repeated = query("monorepo").indices[0];
        let weight = |i| v.values[v.indices.iter().position(|x| *x == i).unwrap()];
        assert!(weight(repeated) > weight(title), "term frequency counts");
    }

    #[test]
    fn a_layout_mismatch_is_an_error_both_ways() {
        assert!(check_layout("docs", true, true).is_ok());
        assert!(check_layout("docs", false, false).is_ok());
        let dense_store = check_layout("docs", false, true).unwrap_err().to_string();
        assert!(dense_store.contains("without"), "{dense_store}");
        let hybrid_store = check_layout("docs", true, false).unwrap_err().to_string();
        assert!(hybrid_store.contains("with BM25"), "{hybrid_store}");
    }
}
