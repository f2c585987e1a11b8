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
pub struct FastembedEmbedder {
    // fastembed's `embed` takes `&mut self`; one session already uses every core, so a
    // mutex costs nothing in throughput and keeps the memory of a single session.
    model: Arc<Mutex<TextEmbedding>>,
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
        let model =
            UserDefinedEmbeddingModel::new(onnx_bytes, tokenizer_files).with_pooling(Pooling::Mean);
        let mut options = InitOptionsUserDefined::new().with_max_length(cfg.max_length);
        if let Some(threads) = cfg.threads {
            options = options.with_intra_threads(threads);
        }
        let embedding =
            TextEmbedding::try_new_from_user_defined(model, options).map_err(|e| load(&e))?;
        Ok(Self {
            model: Arc::new(Mutex::new(embedding)),
            batch_size: cfg.batch_size.max(1),
            detail: format!("all-MiniLM-L6-v2 ({})", onnx.display()),
        })
    }

    async fn run(&self, texts: Vec<String>) -> Result<Vec<Vec<f32>>, EmbedError> {
        let model = Arc::clone(&self.model);
        let batch = self.batch_size;
        tokio::task::spawn_blocking(move || {
            let mut model = model.lock().unwrap_or_else(|poison| poison.into_inner());
            model.embed(&texts, Some(batch))
        })
        .await
        .map_err(|e| EmbedError::Inference(e.to_string()))?
        .map_err(|e| EmbedError::Inference(e.to_string()))
    }
}

#[async_trait::async_trait]
impl Embedder for FastembedEmbedder {
    fn dimension(&self) -> usize {
        384
    }

    async fn embed_query(&self, text: &str) -> Result<Vec<f32>, EmbedError> {
        let mut out = self.run(vec![text.to_string()]).await?;
        out.pop()
            .ok_or_else(|| EmbedError::Inference("the model returned no vector".into()))
    }

    async fn embed_batch(&self, texts: Vec<String>) -> Result<Vec<Vec<f32>>, EmbedError> {
        self.run(texts).await
    }

    fn info(&self) -> BackendInfo {
        BackendInfo {
            name: "fastembed-onnx-cpu".into(),
            state: BackendState::Up,
            detail: self.detail.clone(),
        }
    }
}
