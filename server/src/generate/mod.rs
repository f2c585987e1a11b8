//! The generation stage: an answer written from retrieved passages.

mod guard;
mod llama;
mod ollama;
mod openai;
mod remote;

use std::sync::Arc;
use std::time::Duration;

pub use self::guard::GuardedGenerator;
pub use self::llama::LlamaGenerator;
pub use self::ollama::{OllamaChat, OllamaGenerator};
pub use self::openai::{OpenAiChat, OpenAiGenerator};
pub use self::remote::{ChatProtocol, RemoteGenerator};
use crate::assets::AssetCache;
use crate::backend::BackendInfo;
use crate::config::{GeneratorBackend, GeneratorConfig};
use crate::remote::RemoteError;
use crate::store::Hit;

/// A generation failure.
#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    /// The model could not be loaded.
    #[error("answer model could not be loaded: {0}")]
    Load(String),
    /// Inference failed.
    #[error("answer generation failed: {0}")]
    Inference(String),
    /// The backend cannot serve now (a remote server down or refusing); the request may be
    /// retried later.
    #[error("answer generator is unavailable: {0}")]
    Unavailable(String),
    /// No answer within the deadline (`[generator] timeout_secs`).
    #[error(
        "answer generator gave no answer within {}s ([generator] timeout_secs); retry later",
        .0.as_secs_f64()
    )]
    Timeout(Duration),
}

/// What a generator produced.
#[derive(Debug, Clone)]
pub struct Generation {
    /// The answer text.
    pub text: String,
    /// Tokens generated.
    pub tokens: u32,
    /// Tokens in the prompt (system, passages, question).
    pub prompt_tokens: u32,
    /// Passages that fit in the context budget (the first `n` of those given).
    pub passages_used: usize,
}

/// Writes an answer to a question from passages. One call at a time per model instance is
/// typical of CPU inference; callers queue in front of it (see the `/v1/query` handler).
#[async_trait::async_trait]
pub trait Generator: Send + Sync {
    /// Answers `question` from `passages`.
    async fn generate(&self, question: &str, passages: &[Hit])
    -> Result<Generation, GenerateError>;
    /// Name, state and model for `/health`.
    fn info(&self) -> BackendInfo;
    /// [`Generator::info`] checked with the backend itself: a remote one asks its server.
    async fn health(&self) -> BackendInfo {
        self.info()
    }
}

impl From<RemoteError> for GenerateError {
    fn from(e: RemoteError) -> Self {
        match e {
            RemoteError::Config(_) => Self::Load(e.to_string()),
            RemoteError::Protocol { .. } => Self::Inference(e.to_string()),
            _ => Self::Unavailable(e.to_string()),
        }
    }
}

/// Builds the configured generator behind its deadline ([`GuardedGenerator`]); `None` when
/// generation is disabled. A remote one is reachable, and its model loaded, when this returns.
pub async fn build(
    cfg: &GeneratorConfig,
    assets: &AssetCache,
) -> Result<Option<Arc<dyn Generator>>, GenerateError> {
    let backend: Arc<dyn Generator> = match cfg.backend {
        GeneratorBackend::Llama => Arc::new(LlamaGenerator::load(cfg, assets)?),
        GeneratorBackend::Openai => Arc::new(OpenAiGenerator::connect(cfg).await?),
        GeneratorBackend::Ollama => Arc::new(OllamaGenerator::connect(cfg).await?),
        GeneratorBackend::Disabled => return Ok(None),
    };
    Ok(Some(Arc::new(GuardedGenerator::new(
        backend,
        cfg.timeout(),
    ))))
}

/// Fills the prompt template; passages are numbered so the model can refer to them.
pub fn render_prompt(template: &str, question: &str, passages: &[Hit]) -> String {
    let context = passages
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let heading = if p.heading.is_empty() {
                p.title.clone()
            } else {
                format!("{} > {}", p.title, p.heading)
            };
            format!("[{}] {} ({})\n{}", i + 1, heading, p.path, p.text.trim())
        })
        .collect::<Vec<_>>()
        .join("\n\n");
    template
        .replace("{context}", &context)
        .replace("{question}", question.trim())
}
