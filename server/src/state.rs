//! The shared state every handler sees, and how it is built from the configuration.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context;
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::sync::Semaphore;

use crate::api::auth::JwtVerifier;
use crate::api::cache::ResponseCache;
use crate::api::handlers::{QueryResponse, SearchResponse};
use crate::api::jobs::IngestJobs;
use crate::assets::AssetCache;
use crate::config::Config;
use crate::embed::Embedder;
use crate::generate::{Generator, GuardedGenerator};
use crate::ingest::{Chunker, IngestPolicy, Ingestor};
use crate::store::VectorStore;

/// Everything a request needs; cheap to clone (all `Arc`s).
#[derive(Clone)]
pub struct AppState {
    /// Query and passage embeddings.
    pub embedder: Arc<dyn Embedder>,
    /// The passage collection.
    pub store: Arc<dyn VectorStore>,
    /// Answers, behind their deadline ([`GuardedGenerator`]); `None` when disabled.
    pub generator: Option<Arc<dyn Generator>>,
    /// Folder ingestion over the same embedder and store.
    pub ingestor: Ingestor,
    /// What `POST /v1/ingest` may read.
    pub ingest_policy: Arc<IngestPolicy>,
    /// Ingestions over HTTP, running and recently finished.
    pub ingest_jobs: Arc<IngestJobs>,
    /// The collection's data generation: bumped after every write to the store, and part of
    /// every cache key, so cached answers follow the data.
    pub generation: Arc<AtomicU64>,
    /// Cached `/v1/search` responses.
    pub search_cache: ResponseCache<SearchResponse>,
    /// Cached `/v1/query` responses.
    pub query_cache: ResponseCache<QueryResponse>,
    /// Token checks.
    pub auth: Arc<JwtVerifier>,
    /// Renders `/metrics`.
    pub metrics: PrometheusHandle,
    /// Places in line for the generator (queue length + the one running).
    pub generate_queue: Arc<Semaphore>,
}

/// The stages without the HTTP parts: what `ingest` needs.
pub struct Pipeline {
    /// Embedder.
    pub embedder: Arc<dyn Embedder>,
    /// Store.
    pub store: Arc<dyn VectorStore>,
    /// Ingestor over both.
    pub ingestor: Ingestor,
}

impl Pipeline {
    /// Loads the embedder (fetching assets on first use) or connects to it, then opens the
    /// store for the embedder's dimension.
    pub async fn load(cfg: &Config, data_dir: &Path) -> anyhow::Result<Self> {
        let assets = AssetCache::with_dir(cfg.assets.cache_dir.as_deref());
        let embedder = crate::embed::build(&cfg.embedder, &assets).await?;
        let tokenizer_json = match &cfg.embedder.tokenizer_dir {
            Some(dir) => dir.join("tokenizer.json"),
            None => assets.tokenizer_dir()?.join("tokenizer.json"),
        };
        let chunker = Chunker::load(
            &tokenizer_json,
            cfg.ingest.chunk_tokens,
            cfg.ingest.overlap_tokens,
        )
        .map_err(anyhow::Error::msg)
        .context("loading the chunking tokenizer")?;
        let store = crate::store::open(&cfg.store, data_dir, embedder.dimension()).await?;
        let ingestor = Ingestor::new(
            embedder.clone(),
            store.clone(),
            Arc::new(chunker),
            cfg.embedder.batch_size,
        )
        .embed_headings(cfg.ingest.embed_headings);
        Ok(Self {
            embedder,
            store,
            ingestor,
        })
    }
}

impl AppState {
    /// Builds every stage from `cfg`; remote backends are reachable, and their models loaded,
    /// when it returns. `metrics` is the process's Prometheus handle.
    pub async fn build(cfg: &Config, metrics: PrometheusHandle) -> anyhow::Result<Self> {
        let secret = cfg.jwt_secret()?;
        let pipeline = Pipeline::load(cfg, &cfg.server.data_dir).await?;
        let assets = AssetCache::with_dir(cfg.assets.cache_dir.as_deref());
        let generator = crate::generate::build(&cfg.generator, &assets).await?;
        Ok(Self {
            embedder: pipeline.embedder,
            store: pipeline.store,
            generator,
            ingestor: pipeline.ingestor,
            ingest_policy: Arc::new(IngestPolicy::from_config(&cfg.ingest)),
            ingest_jobs: Arc::new(IngestJobs::new()),
            generation: Arc::new(AtomicU64::new(0)),
            search_cache: ResponseCache::new(&cfg.cache, "search"),
            query_cache: ResponseCache::new(&cfg.cache, "query"),
            auth: Arc::new(JwtVerifier::new(secret, &cfg.auth)),
            metrics,
            generate_queue: Arc::new(Semaphore::new(cfg.generator.max_queue + 1)),
        })
    }
}

impl AppState {
    /// Replaces the generator with `generator` behind a `timeout` deadline. For programs that
    /// embed the server with a generator of their own, and for tests that need a backend
    /// that fails in ways the real one cannot on demand (down, slow).
    pub fn with_generator(mut self, generator: Arc<dyn Generator>, timeout: Duration) -> Self {
        self.generator = Some(Arc::new(GuardedGenerator::new(generator, timeout)));
        self
    }

    /// The current data generation, read once at the start of a request: an answer computed
    /// while a write is under way is stored under the old generation and never served after.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Records that the collection changed: cached answers of earlier generations are dead.
    pub fn data_changed(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.search_cache.invalidate_all();
        self.query_cache.invalidate_all();
    }
}
