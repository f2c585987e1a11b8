//! Answers from Ollama's own `POST /api/chat`, streamed one JSON object a line. At start the
//! model is pulled when the server lacks it (progress in the log) and loaded for `keep_alive`,
//! so the server reports ready only once the first question can be answered at full speed.

use super::{ChatProtocol, GenerateError, RemoteGenerator};
use crate::config::GeneratorConfig;
use crate::remote::ollama::{self, KeepAlive};
use crate::remote::{Api, ChatMessage, Piece};

/// Ollama's chat protocol, keeping the model loaded for `keep_alive` after each answer.
pub struct OllamaChat {
    keep_alive: KeepAlive,
}

/// A chat model served by Ollama.
pub type OllamaGenerator = RemoteGenerator<OllamaChat>;

impl ChatProtocol for OllamaChat {
    type Body<'a> = ollama::ChatRequest<'a>;
    const PATH: &'static str = ollama::CHAT;

    fn body<'a>(
        &'a self,
        model: &'a str,
        messages: Vec<ChatMessage>,
        cfg: &GeneratorConfig,
    ) -> Self::Body<'a> {
        ollama::ChatRequest {
            model,
            messages,
            stream: true,
            keep_alive: &self.keep_alive,
            options: Some(ollama::ChatOptions {
                temperature: cfg.temperature,
                seed: cfg.seed,
                num_predict: cfg.max_tokens.max(1),
            }),
        }
    }

    fn parse(line: &str) -> Result<Piece, String> {
        ollama::parse_chat_line(line)
    }
}

impl OllamaGenerator {
    /// Connects to `[generator] url` (default Ollama's local address), pulls `[generator] model`
    /// when missing and loads it.
    pub async fn connect(cfg: &GeneratorConfig) -> Result<Self, GenerateError> {
        let endpoint = Self::endpoint(cfg, Api::Ollama)?;
        let model = cfg.model.clone().ok_or_else(|| {
            GenerateError::Load(
                "[generator] model is not set: name the Ollama model, e.g. llama3.2".into(),
            )
        })?;
        let keep_alive = KeepAlive::new(&cfg.keep_alive);
        let load = |e: crate::remote::RemoteError| GenerateError::Load(e.to_string());
        ollama::ensure_model(&endpoint, &model)
            .await
            .map_err(load)?;
        let started = std::time::Instant::now();
        ollama::load_chat_model(&endpoint, &model, &keep_alive)
            .await
            .map_err(load)?;
        tracing::info!(
            %model,
            seconds = started.elapsed().as_secs_f64(),
            "{}: model loaded",
            endpoint.describe()
        );
        Ok(Self::new(endpoint, model, cfg, OllamaChat { keep_alive }))
    }
}
