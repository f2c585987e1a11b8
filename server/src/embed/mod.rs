//! The embedding stage: text to a unit-length vector.

mod batch;
mod candle;
mod fastembed;

use std::sync::Arc;

pub use self::batch::{BatchLimits, BatchModel, Batcher};
pub use self::candle::CandleEmbedder;
pub use self::fastembed::FastembedEmbedder;
use crate::assets::AssetCache;
use crate::backend::BackendInfo;
use crate::config::{EmbedderBackend, EmbedderConfig};

/// An embedding failure.
#[derive(Debug, thiserror::Error)]
pub enum EmbedError {
    /// The model or runtime could not be loaded.
    #[error("embedding model could not be loaded: {0}")]
    Load(String),
    /// Inference failed.
    #[error("embedding failed: {0}")]
    Inference(String),
    /// Too many requests are waiting; the client should retry later.
    #[error("embedding queue is full: {0}")]
    Overloaded(String),
}

/// Turns text into vectors. Implementations are cheap to share (`Arc`) and safe to call from
/// many requests at once.
#[async_trait::async_trait]
pub trait Embedder: Send + Sync {
    /// Vector dimension (384 for all-MiniLM-L6-v2).
    fn dimension(&self) -> usize;
    /// Embeds one query.
    async fn embed_query(&self, text: &str) -> Result<Vec<f32>, EmbedError>;
    /// Embeds passages for ingestion, in order.
    async fn embed_batch(&self, texts: Vec<String>) -> Result<Vec<Vec<f32>>, EmbedError>;
    /// Name, state and model for `/health`.
    fn info(&self) -> BackendInfo;
}

/// Builds the configured embedder, fetching its assets if needed.
pub fn build(cfg: &EmbedderConfig, assets: &AssetCache) -> Result<Arc<dyn Embedder>, EmbedError> {
    match cfg.backend {
        EmbedderBackend::Fastembed => Ok(Arc::new(FastembedEmbedder::load(cfg, assets)?)),
        EmbedderBackend::Candle => Ok(Arc::new(CandleEmbedder::load(cfg, assets)?)),
    }
}
