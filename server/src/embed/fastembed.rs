//! fastembed on ONNX Runtime (loaded dynamically), all-MiniLM-L6-v2, mean pooling.

use std::path::PathBuf;
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
/// Two kinds of sessions, because the two workloads want opposite things: ingestion embeds big
/// batches, fastest with one session using every core; queries are single short texts arriving
/// concurrently, fastest (and steadier under a load generator on the same cores) with one
/// single-threaded, non-spinning session per core, used in parallel.
pub struct FastembedEmbedder {
    // fastembed's `embed` takes `&mut self`, hence the mutex and the pool.
    batch_session: Arc<Mutex<TextEmbedding>>,
    query_sessions: Arc<Mutex<Vec<TextEmbedding>>>,
    query_permits: Arc<tokio::sync::Semaphore>,
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
                let files = assets.embedding_model().map_err(|e| load(&e))?;
                (
                    onnx.clone().unwrap_or(files.onnx),
                    dir.clone().unwrap_or(files.tokenizer_dir),
                )
            }
        };
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
        let session = |threads: usize, spin: bool| {
            let model = UserDefinedEmbeddingModel::new(onnx_bytes.clone(), tokenizer_files.clone())
                .with_pooling(Pooling::Mean);
            let options = InitOptionsUserDefined::new()
                .with_max_length(cfg.max_length)
                .with_intra_threads(threads)
                .with_session_config(
                    "session.intra_op.allow_spinning",
                    if spin { "1" } else { "0" },
                );
            TextEmbedding::try_new_from_user_defined(model, options).map_err(|e| load(&e))
        };
        let batch_session = session(cfg.threads.unwrap_or(cores), true)?;
        let query_count = cfg.query_sessions.unwrap_or(cores).max(1);
        let query_sessions = (0..query_count)
            .map(|_| session(1, false))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            batch_session: Arc::new(Mutex::new(batch_session)),
            query_sessions: Arc::new(Mutex::new(query_sessions)),
            query_permits: Arc::new(tokio::sync::Semaphore::new(query_count)),
            batch_size: cfg.batch_size.max(1),
            detail: format!(
                "all-MiniLM-L6-v2 ({}), {query_count} query sessions",
                onnx.display()
            ),
        })
    }

    async fn run_batch(&self, texts: Vec<String>) -> Result<Vec<Vec<f32>>, EmbedError> {
        let model = Arc::clone(&self.batch_session);
        let batch = self.batch_size;
        tokio::task::spawn_blocking(move || {
            let mut model = model.lock().unwrap_or_else(|poison| poison.into_inner());
            model.embed(&texts, Some(batch))
        })
        .await
        .map_err(|e| EmbedError::Inference(e.to_string()))?
        .map_err(|e| EmbedError::Inference(e.to_string()))
    }

    async fn run_query(&self, text: String) -> Result<Vec<f32>, EmbedError> {
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
            let result = session.embed([text], None);
            pool.lock().unwrap_or_else(|p| p.into_inner()).push(session);
            result
                .map_err(|e| EmbedError::Inference(e.to_string()))?
                .pop()
                .ok_or_else(|| EmbedError::Inference("the model returned no vector".into()))
        })
        .await
        .map_err(|e| EmbedError::Inference(e.to_string()))?
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

    fn info(&self) -> BackendInfo {
        BackendInfo {
            name: "fastembed-onnx-cpu".into(),
            state: BackendState::Up,
            detail: self.detail.clone(),
        }
    }
}
