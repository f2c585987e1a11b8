//! fastembed on ONNX Runtime (loaded dynamically), all-MiniLM-L6-v2, mean pooling; by default
//! the graph whose matrix products run in int8 (`[embedder] quantized`).

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use fastembed::{
    InitOptionsUserDefined, Pooling, TextEmbedding, TokenizerFiles, UserDefinedEmbeddingModel,
};

use super::{EmbedError, Embedder};
use crate::assets::AssetCache;
use crate::backend::{BackendInfo, BackendState};
use crate::config::EmbedderConfig;

/// The default embedder: CPU inference of an ONNX sentence-transformer.
///
/// Three kinds of sessions, because the workloads want different things:
/// - ingestion embeds big batches, fastest with one single-threaded session per core, each
///   taking a share of every batch (data parallel): the model's element-wise operators and
///   small products split poorly across threads, and two one-thread sessions embedded 10-20 %
///   more passages per second than one two-thread session here (measured, 256-token
///   passages). The sessions are built when an ingestion starts and dropped when it ends
///   ([`Embedder::release_memory`]): each memory arena keeps the high-water mark of every
///   batch shape it saw (2.5 GiB after the whole corpus, measured). Turning the arena off
///   instead made ingestion 1.7x slower (page faults on every large allocation).
/// - concurrent queries (single short texts) are fastest, and steadier beside a load generator
///   on the same cores, with one single-threaded, non-spinning session per core in parallel.
/// - a query that arrives while no other query and no ingestion is in flight runs on one
///   session using every core (`lone_queries_wide`): a single-threaded run would leave the
///   other cores idle, and its latency is what a lightly loaded server shows.
///
/// Each session holds its own copy of the model (~25 MiB for the int8 graph, ~90 MiB for the
/// published one, whose weights ONNX Runtime folds back to f32).
pub struct FastembedEmbedder {
    // fastembed's `embed` takes `&mut self`, hence the mutexes and the pools.
    wide_session: Arc<Mutex<TextEmbedding>>,
    ingest_workers: usize,
    /// Built by the first batch of an ingestion, dropped after it.
    ingest_sessions: Arc<Mutex<Vec<TextEmbedding>>>,
    /// Ingestion batches running: a lone query then takes a single-threaded session, not
    /// every core away from them.
    batches_in_flight: Arc<AtomicUsize>,
    recipe: Arc<SessionRecipe>,
    lone_queries_wide: bool,
    query_sessions: Arc<Mutex<Vec<TextEmbedding>>>,
    query_permits: Arc<tokio::sync::Semaphore>,
    queries_in_flight: Arc<AtomicUsize>,
    batch_size: usize,
    detail: String,
}

impl FastembedEmbedder {
    /// Loads the model named by `cfg`, or the cached default.
    pub fn load(cfg: &EmbedderConfig, assets: &AssetCache) -> Result<Self, EmbedError> {
        let load = |e: &dyn std::fmt::Display| EmbedError::Load(e.to_string());
        let ort_lib = match (&cfg.ort_library, std::env::var_os("ORT_DYLIB_PATH")) {
            (Some(path), _) => path.clone(),
            (None, Some(path)) => PathBuf::from(path),
            (None, None) => assets.onnx_runtime().map_err(|e| load(&e))?,
        };
        // Must precede any other use of ort in the process; it only names the library, and
        // fastembed then builds the environment it needs.
        let _builder = ort::init_from(&ort_lib).map_err(|e| {
            EmbedError::Load(format!(
                "ONNX Runtime library {}: {e}; set ORT_DYLIB_PATH to a libonnxruntime.so 1.2x+",
                ort_lib.display()
            ))
        })?;
        let (onnx, tokenizer_dir) = match (&cfg.model_onnx, &cfg.tokenizer_dir) {
            (Some(onnx), Some(dir)) => (onnx.clone(), dir.clone()),
            (onnx, dir) => {
                let files = assets
                    .embedding_model(cfg.quantized)
                    .map_err(|e| load(&e))?;
                (
                    onnx.clone().unwrap_or(files.onnx),
                    dir.clone().unwrap_or(files.tokenizer_dir),
                )
            }
        };
        if cfg.quantized && cfg.model_onnx.is_none() && !int8_dot_products_exact() {
            tracing::warn!(
                "this CPU has no VNNI instructions: ONNX Runtime's int8 products (u8 x s8) can \
                 saturate on it and move the vectors; check retrieval with `harness eval`, or \
                 set [embedder] quantized = false"
            );
        }
        let read = |name: &str| {
            let path = tokenizer_dir.join(name);
            std::fs::read(&path).map_err(|e| EmbedError::Load(format!("{}: {e}", path.display())))
        };
        let tokenizer_files = TokenizerFiles {
            tokenizer_file: read("tokenizer.json")?,
            config_file: read("config.json")?,
            special_tokens_map_file: read("special_tokens_map.json")?,
            tokenizer_config_file: read("tokenizer_config.json")?,
        };
        let onnx_bytes = std::fs::read(&onnx)
            .map_err(|e| EmbedError::Load(format!("{}: {e}", onnx.display())))?;
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let recipe = SessionRecipe {
            onnx_bytes,
            tokenizer_files,
            max_length: cfg.max_length,
        };
        let ingest_workers = cfg.threads.unwrap_or(cores).max(1);
        let wide_session = recipe.build(ingest_workers, true)?;
        let query_count = cfg.query_sessions.unwrap_or(cores).max(1);
        let query_sessions = (0..query_count)
            .map(|_| recipe.build(1, false))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            wide_session: Arc::new(Mutex::new(wide_session)),
            ingest_workers,
            ingest_sessions: Arc::new(Mutex::new(Vec::new())),
            batches_in_flight: Arc::new(AtomicUsize::new(0)),
            recipe: Arc::new(recipe),
            lone_queries_wide: cfg.lone_queries_wide,
            query_sessions: Arc::new(Mutex::new(query_sessions)),
            query_permits: Arc::new(tokio::sync::Semaphore::new(query_count)),
            queries_in_flight: Arc::new(AtomicUsize::new(0)),
            batch_size: cfg.batch_size.max(1),
            detail: format!(
                "all-MiniLM-L6-v2 ({}), {query_count} query sessions{}",
                // The file's name only: `/health` answers anyone, paths stay in the log.
                onnx.file_name().unwrap_or_default().to_string_lossy(),
                if cfg.lone_queries_wide {
                    ", a lone query on all threads"
                } else {
                    ""
                }
            ),
        })
    }

    /// One ingestion batch, split in contiguous shares over the single-threaded ingestion
    /// sessions running side by side (the batch is sorted by length, so shares are alike).
    async fn run_batch(&self, texts: Vec<String>) -> Result<Vec<Vec<f32>>, EmbedError> {
        let (sessions, recipe) = (Arc::clone(&self.ingest_sessions), Arc::clone(&self.recipe));
        let (workers, batch) = (self.ingest_workers, self.batch_size);
        let (_running, _) = InFlight::enter(&self.batches_in_flight);
        tokio::task::spawn_blocking(move || {
            let mut sessions = sessions.lock().unwrap_or_else(|p| p.into_inner());
            while sessions.len() < workers {
                sessions.push(recipe.build(1, false)?);
            }
            let share = texts.len().div_ceil(workers).max(1);
            std::thread::scope(|scope| {
                let runs: Vec<_> = texts
                    .chunks(share)
                    .zip(sessions.iter_mut())
                    .map(|(texts, session)| scope.spawn(move || session.embed(texts, Some(batch))))
                    .collect();
                let mut vectors = Vec::with_capacity(texts.len());
                for run in runs {
                    let share = run
                        .join()
                        .map_err(|_| EmbedError::Inference("an ingestion session panicked".into()))?
                        .map_err(|e| EmbedError::Inference(e.to_string()))?;
                    vectors.extend(share);
                }
                Ok(vectors)
            })
        })
        .await
        .map_err(|e| EmbedError::Inference(e.to_string()))?
    }

    async fn run_query(&self, text: String) -> Result<Vec<f32>, EmbedError> {
        let (_done, others) = InFlight::enter(&self.queries_in_flight);
        let alone = others == 0 && self.batches_in_flight.load(Ordering::Acquire) == 0;
        if alone && self.lone_queries_wide {
            let wide = Arc::clone(&self.wide_session);
            let outcome = tokio::task::spawn_blocking(move || match wide.try_lock() {
                Ok(mut session) => Ok(embed_one(&mut session, text)),
                // The previous lone query, still returning, holds it.
                Err(_) => Err(text),
            })
            .await
            .map_err(|e| EmbedError::Inference(e.to_string()))?;
            return match outcome {
                Ok(vector) => vector,
                Err(text) => self.run_pooled(text).await,
            };
        }
        self.run_pooled(text).await
    }

    async fn run_pooled(&self, text: String) -> Result<Vec<f32>, EmbedError> {
        // A permit guarantees a free session in the pool.
        let _permit = self
            .query_permits
            .acquire()
            .await
            .map_err(|e| EmbedError::Inference(e.to_string()))?;
        let pool = Arc::clone(&self.query_sessions);
        tokio::task::spawn_blocking(move || {
            let mut session = pool
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .pop()
                .ok_or_else(|| EmbedError::Inference("no free query session".into()))?;
            let result = embed_one(&mut session, text);
            pool.lock().unwrap_or_else(|p| p.into_inner()).push(session);
            result
        })
        .await
        .map_err(|e| EmbedError::Inference(e.to_string()))?
    }
}

/// Whether ONNX Runtime's u8 x s8 products are exact here: with VNNI they accumulate in 32
/// bits; without it, x86 kernels add pairs in saturating 16-bit arithmetic.
fn int8_dot_products_exact() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512vnni")
            || std::arch::is_x86_feature_detected!("avxvnni")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        true
    }
}

/// What a session is built from, kept to build each ingestion's sessions afresh.
struct SessionRecipe {
    onnx_bytes: Vec<u8>,
    tokenizer_files: TokenizerFiles,
    max_length: usize,
}

impl SessionRecipe {
    /// A session on `threads` intra-op threads, spinning between operators or not.
    fn build(&self, threads: usize, spin: bool) -> Result<TextEmbedding, EmbedError> {
        let model =
            UserDefinedEmbeddingModel::new(self.onnx_bytes.clone(), self.tokenizer_files.clone())
                .with_pooling(Pooling::Mean);
        let options = InitOptionsUserDefined::new()
            .with_max_length(self.max_length)
            .with_intra_threads(threads)
            .with_session_config(
                "session.intra_op.allow_spinning",
                if spin { "1" } else { "0" },
            );
        TextEmbedding::try_new_from_user_defined(model, options)
            .map_err(|e| EmbedError::Load(e.to_string()))
    }
}

/// One query through one session.
fn embed_one(session: &mut TextEmbedding, text: String) -> Result<Vec<f32>, EmbedError> {
    session
        .embed([text], None)
        .map_err(|e| EmbedError::Inference(e.to_string()))?
        .pop()
        .ok_or_else(|| EmbedError::Inference("the model returned no vector".into()))
}

/// Counts a query or a batch out of flight when it ends, however it ends.
struct InFlight(Arc<AtomicUsize>);

impl InFlight {
    /// Counts one in; also says how many were in flight before it.
    fn enter(count: &Arc<AtomicUsize>) -> (Self, usize) {
        let before = count.fetch_add(1, Ordering::AcqRel);
        (Self(Arc::clone(count)), before)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

#[async_trait::async_trait]
impl Embedder for FastembedEmbedder {
    fn dimension(&self) -> usize {
        384
    }

    async fn embed_query(&self, text: &str) -> Result<Vec<f32>, EmbedError> {
        self.run_query(text.to_string()).await
    }

    async fn embed_batch(&self, texts: Vec<String>) -> Result<Vec<Vec<f32>>, EmbedError> {
        self.run_batch(texts).await
    }

    async fn release_memory(&self) {
        // Dropping a session frees its arena (up to gigabytes: off the async workers); the
        // next ingestion builds fresh ones.
        let sessions = Arc::clone(&self.ingest_sessions);
        let freed = tokio::task::spawn_blocking(move || {
            drop(std::mem::take(
                &mut *sessions.lock().unwrap_or_else(|p| p.into_inner()),
            ));
        })
        .await;
        if let Err(e) = freed {
            tracing::warn!("freeing the ingestion sessions failed: {e}");
        }
    }

    fn info(&self) -> BackendInfo {
        BackendInfo {
            name: "fastembed-onnx-cpu".into(),
            state: BackendState::Up,
            detail: self.detail.clone(),
        }
    }
}
