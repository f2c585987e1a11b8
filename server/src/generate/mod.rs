//! The generation stage: an answer written from retrieved passages.

mod llama;

use std::sync::Arc;

pub use self::llama::LlamaGenerator;
use crate::assets::AssetCache;
use crate::backend::BackendInfo;
use crate::config::{GeneratorBackend, GeneratorConfig};
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
}

/// Builds the configured generator; `None` when generation is disabled.
pub fn build(
    cfg: &GeneratorConfig,
    assets: &AssetCache,
) -> Result<Option<Arc<dyn Generator>>, GenerateError> {
    match cfg.backend {
        GeneratorBackend::Llama => Ok(Some(Arc::new(LlamaGenerator::load(cfg, assets)?))),
        GeneratorBackend::Disabled => Ok(None),
    }
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
