//! The embedding stage: text to a unit-length vector.

mod batch;
mod candle;
mod fastembed;
mod http;

use std::sync::Arc;

pub use self::batch::{BatchLimits, BatchModel, Batcher};
pub use self::candle::CandleEmbedder;
pub use self::fastembed::FastembedEmbedder;
pub use self::http::HttpEmbedder;
use crate::assets::AssetCache;
use crate::backend::BackendInfo;
use crate::config::{EmbedderBackend, EmbedderConfig};
use crate::remote::Api;

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
    /// Called after an ingestion: gives back memory that only big batches needed.
    async fn release_memory(&self) {}
    /// Name, state and model for `/health`.
    fn info(&self) -> BackendInfo;
    /// [`Embedder::info`] checked with the backend itself: a remote one asks its server.
    async fn health(&self) -> BackendInfo {
        self.info()
    }
}

/// Builds the configured embedder: loads a local model (fetching its assets if needed) off
/// the async workers, or connects to a remote server.
pub async fn build(
    cfg: &EmbedderConfig,
    assets: &AssetCache,
) -> Result<Arc<dyn Embedder>, EmbedError> {
    match cfg.backend {
        EmbedderBackend::Fastembed => {
            load_local(cfg, assets, |cfg, assets| {
                Ok(Arc::new(FastembedEmbedder::load(cfg, assets)?))
            })
            .await
        }
        EmbedderBackend::Candle => {
            load_local(cfg, assets, |cfg, assets| {
                Ok(Arc::new(CandleEmbedder::load(cfg, assets)?))
            })
            .await
        }
        EmbedderBackend::Openai => Ok(Arc::new(HttpEmbedder::connect(cfg, Api::OpenAi).await?)),
        EmbedderBackend::Ollama => Ok(Arc::new(HttpEmbedder::connect(cfg, Api::Ollama).await?)),
    }
}

/// How a model that runs in this process is loaded (blocking: files, ONNX Runtime, CUDA).
type LocalLoad = fn(&EmbedderConfig, &AssetCache) -> Result<Arc<dyn Embedder>, EmbedError>;

async fn load_local(
    cfg: &EmbedderConfig,
    assets: &AssetCache,
    load: LocalLoad,
) -> Result<Arc<dyn Embedder>, EmbedError> {
    let (cfg, assets) = (cfg.clone(), assets.clone());
    tokio::task::spawn_blocking(move || load(&cfg, &assets))
        .await
        .map_err(|e| EmbedError::Load(format!("the loading thread failed: {e}")))?
}
