//! all-MiniLM-L6-v2's fp32 weights in candle, on the CPU or (feature `cuda`) an NVIDIA GPU.
//!
//! Not fastembed's candle path: it pools the CLS token, and this model was trained with mean
//! pooling. Here: `BertModel`, mean over the attention mask, L2 normalization; requests go
//! through the dynamic batcher ([`super::batch`]), which is what makes a GPU worth having.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use candle_core::{DType, Device, Tensor};
use candle_nn::Module;
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertEncoder, Config as BertConfig};
use tokenizers::{Tokenizer, TruncationParams};

use super::batch::{BatchLimits, BatchModel, Batcher};
use super::{EmbedError, Embedder};
use crate::assets::AssetCache;
use crate::backend::{BackendInfo, BackendState};
use crate::config::{CandleDtype, EmbedderConfig};

/// The candle embedder: a tokenizer on the caller's side, the model behind a batcher.
pub struct CandleEmbedder {
    tokenizer: Arc<Tokenizer>,
    batcher: Batcher,
    batch_size: usize,
    name: &'static str,
    detail: String,
}

impl CandleEmbedder {
    /// Loads the weights onto `[embedder] device`, warms the model with a full batch, and
    /// starts the batcher.
    pub fn load(cfg: &EmbedderConfig, assets: &AssetCache) -> Result<Self, EmbedError> {
        let load = |e: &dyn std::fmt::Display| EmbedError::Load(e.to_string());
        let device = open_device(&cfg.device)?;
        let dtype = match (cfg.dtype, device.is_cuda()) {
            (CandleDtype::F32, _) | (CandleDtype::Auto, false) => DType::F32,
            (CandleDtype::F16, _) | (CandleDtype::Auto, true) => DType::F16,
        };
        let weights = match &cfg.model_safetensors {
            Some(path) => path.clone(),
            None => assets.embedding_weights().map_err(|e| load(&e))?,
        };
        let tokenizer_dir = match &cfg.tokenizer_dir {
            Some(dir) => dir.clone(),
            None => assets.tokenizer_dir().map_err(|e| load(&e))?,
        };
        let tokenizer = tokenizer(&tokenizer_dir, cfg.max_length)?;
        let mut model = Bert::load(&weights, &tokenizer_dir, device, dtype)?;
        let limits = BatchLimits {
            max_batch_requests: cfg.max_batch_requests.max(1),
            max_batch_tokens: cfg.max_batch_tokens.max(cfg.max_length),
            max_queue: cfg.max_queue.max(1),
        };
        let warmup = model.warm_up(limits, cfg.max_length)?;
        tracing::info!(
            device = %cfg.device,
            warmup_ms = warmup.as_secs_f64() * 1e3,
            "candle embedder ready (warmed with a full batch)"
        );
        let on_gpu = model.device.is_cuda();
        Ok(Self {
            tokenizer: Arc::new(tokenizer),
            batcher: Batcher::start(model, limits),
            batch_size: cfg.batch_size.max(1),
            name: if on_gpu { "candle-cuda" } else { "candle-cpu" },
            detail: format!(
                "all-MiniLM-L6-v2 {dtype:?} ({}) on {}, batches <= {} sequences / {} tokens",
                weights.display(),
                cfg.device,
                limits.max_batch_requests,
                limits.max_batch_tokens
            ),
        })
    }

    fn encode(tokenizer: &Tokenizer, text: &str) -> Result<Vec<u32>, EmbedError> {
        tokenizer
            .encode(text, true)
            .map(|encoding| encoding.get_ids().to_vec())
            .map_err(|e| EmbedError::Inference(format!("tokenizing: {e}")))
    }
}

#[async_trait::async_trait]
impl Embedder for CandleEmbedder {
    fn dimension(&self) -> usize {
        384
    }

    async fn embed_query(&self, text: &str) -> Result<Vec<f32>, EmbedError> {
        // A query is a few dozen tokens: tokenizing it inline costs tens of microseconds.
        let ids = Self::encode(&self.tokenizer, text)?;
        self.batcher.embed_one(ids).await
    }

    async fn embed_batch(&self, texts: Vec<String>) -> Result<Vec<Vec<f32>>, EmbedError> {
        let tokenizer = Arc::clone(&self.tokenizer);
        let sequences = tokio::task::spawn_blocking(move || {
            texts
                .iter()
                .map(|text| Self::encode(&tokenizer, text))
                .collect::<Result<Vec<_>, _>>()
        })
        .await
        .map_err(|e| EmbedError::Inference(e.to_string()))??;
        // All chunks are queued at once, so the model thread never waits for the next one.
        let chunks = sequences
            .chunks(self.batch_size)
            .map(|chunk| self.batcher.embed_many(chunk.to_vec()));
        let vectors = futures::future::try_join_all(chunks).await?;
        Ok(vectors.into_iter().flatten().collect())
    }

    fn info(&self) -> BackendInfo {
        BackendInfo {
            name: self.name.into(),
            state: BackendState::Up,
            detail: self.detail.clone(),
        }
    }
}

/// `"cpu"`, `"cuda"` or `"cuda:N"`.
fn open_device(spec: &str) -> Result<Device, EmbedError> {
    let spec = spec.trim();
    if spec == "cpu" {
        return Ok(Device::Cpu);
    }
    let ordinal = match spec.strip_prefix("cuda") {
        Some("") => 0,
        Some(n) => n
            .strip_prefix(':')
            .and_then(|n| n.parse::<usize>().ok())
            .ok_or_else(|| bad_device(spec))?,
        None => return Err(bad_device(spec)),
    };
    open_cuda(ordinal)
}

fn bad_device(spec: &str) -> EmbedError {
    EmbedError::Load(format!(
        "[embedder] device = \"{spec}\" is not a device: use \"cpu\", \"cuda\" or \"cuda:N\""
    ))
}

#[cfg(feature = "cuda")]
fn open_cuda(ordinal: usize) -> Result<Device, EmbedError> {
    Device::new_cuda(ordinal).map_err(|e| {
        EmbedError::Load(format!(
            "CUDA device {ordinal} could not be opened ({e}). Check that `nvidia-smi` lists \
             it, and that the CUDA 13 libraries (libcudart.so.13, libcublas.so.13, \
             libcurand.so.10) are on LD_LIBRARY_PATH"
        ))
    })
}

#[cfg(not(feature = "cuda"))]
fn open_cuda(ordinal: usize) -> Result<Device, EmbedError> {
    Err(EmbedError::Load(format!(
        "[embedder] device = \"cuda:{ordinal}\" needs a server built with the `cuda` feature \
         (`cargo build --release -p ragbench-server --features cuda`, or `.ci/cuda-build`); \
         this build runs the candle backend on \"cpu\" only"
    )))
}

/// The model's tokenizer, padded by us (to the batch's longest) and truncated at `max_length`.
/// The packaged tokenizer.json pads and truncates at a fixed 128; both are overridden.
fn tokenizer(dir: &Path, max_length: usize) -> Result<Tokenizer, EmbedError> {
    let path = dir.join("tokenizer.json");
    let mut tokenizer = Tokenizer::from_file(&path)
        .map_err(|e| EmbedError::Load(format!("{}: {e}", path.display())))?;
    tokenizer.with_padding(None);
    tokenizer
        .with_truncation(Some(TruncationParams {
            max_length: max_length.clamp(8, 512),
            ..TruncationParams::default()
        }))
        .map_err(|e| EmbedError::Load(format!("tokenizer truncation: {e}")))?;
    Ok(tokenizer)
}

/// BERT on its device, run by the batcher's model thread.
///
/// candle's `BertModel` is not used whole: its attention mask multiplies by `f32::MIN`, which
/// is `-inf` in f16 and turns every score into NaN (0 x -inf). The embeddings are done here
/// (token type 0 folded into the position table at load: two fewer kernels per pass) and the
/// additive mask is built on the host with the number type's finite minimum; the encoder
/// layers are candle's.
struct Bert {
    word_embeddings: candle_nn::Embedding,
    /// Position embeddings plus token type 0's row, `max_position_embeddings` x hidden.
    positions: Tensor,
    layer_norm: candle_nn::LayerNorm,
    encoder: BertEncoder,
    device: Device,
    dtype: DType,
}

impl Bert {
    fn load(
        weights: &Path,
        config_dir: &Path,
        device: Device,
        dtype: DType,
    ) -> Result<Self, EmbedError> {
        let config_path = config_dir.join("config.json");
        let read = |path: &PathBuf| {
            std::fs::read_to_string(path)
                .map_err(|e| EmbedError::Load(format!("{}: {e}", path.display())))
        };
        let config: BertConfig = serde_json::from_str(&read(&config_path)?)
            .map_err(|e| EmbedError::Load(format!("{}: {e}", config_path.display())))?;
        // Safety: the file is mapped read-only and not modified while the server runs (the
        // asset cache writes files once, by atomic rename).
        let vb = unsafe { VarBuilder::from_mmaped_safetensors(&[weights], dtype, &device) }
            .map_err(|e| EmbedError::Load(format!("{}: {e}", weights.display())))?;
        Self::from_weights(vb, &config, device, dtype)
            .map_err(|e| EmbedError::Load(format!("{}: {e}", weights.display())))
    }

    fn from_weights(
        vb: VarBuilder,
        config: &BertConfig,
        device: Device,
        dtype: DType,
    ) -> candle_core::Result<Self> {
        // sentence-transformers' files name the tensors `embeddings.*`, Hugging Face's
        // `bert.embeddings.*`.
        let vb = if vb.contains_tensor("embeddings.word_embeddings.weight") {
            vb
        } else {
            vb.pp("bert")
        };
        let hidden = config.hidden_size;
        let embeddings = vb.pp("embeddings");
        let word_embeddings =
            candle_nn::embedding(config.vocab_size, hidden, embeddings.pp("word_embeddings"))?;
        let position = embeddings.get(
            (config.max_position_embeddings, hidden),
            "position_embeddings.weight",
        )?;
        let token_type = embeddings.get(
            (config.type_vocab_size, hidden),
            "token_type_embeddings.weight",
        )?;
        let positions = position.broadcast_add(&token_type.narrow(0, 0, 1)?)?;
        let layer_norm =
            candle_nn::layer_norm(hidden, config.layer_norm_eps, embeddings.pp("LayerNorm"))?;
        let encoder = BertEncoder::load(vb.pp("encoder"), config)?;
        Ok(Self {
            word_embeddings,
            positions,
            layer_norm,
            encoder,
            device,
            dtype,
        })
    }

    /// On a GPU, one full batch through the model (kernels loaded, cuBLAS set up, memory
    /// allocated) and one single query, before the first request is timed. A CPU has nothing
    /// to load, and a full batch there costs seconds of start-up: one short batch.
    fn warm_up(
        &mut self,
        limits: BatchLimits,
        max_length: usize,
    ) -> Result<std::time::Duration, EmbedError> {
        let started = Instant::now();
        let (count, length) = if self.device.is_cuda() {
            let length = (limits.max_batch_tokens / limits.max_batch_requests).clamp(8, max_length);
            (limits.max_batch_requests, length)
        } else {
            (limits.max_batch_requests.min(4), 16)
        };
        let batch = vec![vec![101; length]; count];
        self.embed(&batch)?;
        self.embed(&batch[..1])?;
        Ok(started.elapsed())
    }

    fn forward(&self, batch: &[Vec<u32>]) -> candle_core::Result<Vec<Vec<f32>>> {
        let longest = batch.iter().map(Vec::len).max().unwrap_or(0).max(1);
        // Padding gets the number type's most negative finite value, added to its attention
        // scores (HF's `torch.finfo(dtype).min`); real tokens 0.
        let blocked = match self.dtype {
            DType::F16 => -65_504.0,
            DType::BF16 => -3.38e38,
            _ => f32::MIN,
        };
        let mut ids = Vec::with_capacity(batch.len() * longest);
        let mut mask = Vec::with_capacity(batch.len() * longest);
        let mut additive = Vec::with_capacity(batch.len() * longest);
        for sequence in batch {
            ids.extend_from_slice(sequence);
            ids.resize(ids.len() + longest - sequence.len(), 0);
            mask.extend(std::iter::repeat_n(1f32, sequence.len()));
            mask.resize(mask.len() + longest - sequence.len(), 0.0);
            additive.extend(std::iter::repeat_n(0f32, sequence.len()));
            additive.resize(additive.len() + longest - sequence.len(), blocked);
        }
        let shape = (batch.len(), longest);
        let ids = Tensor::from_vec(ids, shape, &self.device)?;
        let additive = Tensor::from_vec(additive, (batch.len(), 1, 1, longest), &self.device)?
            .to_dtype(self.dtype)?;
        let embedded = self
            .word_embeddings
            .forward(&ids)?
            .broadcast_add(&self.positions.narrow(0, 0, longest)?)?;
        let embedded = self.layer_norm.forward(&embedded)?;
        let hidden = self
            .encoder
            .forward(&embedded, &additive)?
            .to_dtype(DType::F32)?;
        if batch.len() == 1 {
            // One query has no padding: its mean is one kernel, and the 384 numbers are
            // normalized here rather than by five more launches on the GPU.
            let mean = hidden.squeeze(0)?.mean(0)?.to_vec1::<f32>()?;
            return Ok(vec![normalized(mean)]);
        }
        // Mean over the real tokens only, then unit length.
        let mask = Tensor::from_vec(mask, (batch.len(), longest, 1), &self.device)?;
        let summed = hidden.broadcast_mul(&mask)?.sum(1)?;
        let mean = summed.broadcast_div(&mask.sum(1)?)?;
        let norm = mean
            .sqr()?
            .sum_keepdim(1)?
            .sqrt()?
            .clamp(1e-12f32, f32::MAX)?;
        mean.broadcast_div(&norm)?
            .to_device(&Device::Cpu)?
            .to_vec2()
    }
}

/// `vector` scaled to unit length (left as it is when it is all zeros).
fn normalized(mut vector: Vec<f32>) -> Vec<f32> {
    let norm = vector.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
    vector.iter_mut().for_each(|x| *x /= norm);
    vector
}

impl BatchModel for Bert {
    fn embed(&mut self, batch: &[Vec<u32>]) -> Result<Vec<Vec<f32>>, EmbedError> {
        self.forward(batch)
            .map_err(|e| EmbedError::Inference(format!("candle forward pass: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_names_are_parsed_or_explained() {
        assert!(matches!(open_device("cpu"), Ok(Device::Cpu)));
        for bad in ["gpu", "cuda:x", "cuda0", ""] {
            let message = open_device(bad).unwrap_err().to_string();
            assert!(
                message.contains("\"cpu\", \"cuda\" or \"cuda:N\""),
                "{bad}: {message}"
            );
        }
    }

    #[cfg(not(feature = "cuda"))]
    #[test]
    fn cuda_without_the_feature_says_how_to_build_it() {
        for spec in ["cuda", "cuda:1"] {
            let message = open_device(spec).unwrap_err().to_string();
            assert!(message.contains("--features cuda"), "{message}");
        }
    }
}
