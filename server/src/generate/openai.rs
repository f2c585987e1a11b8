//! Answers from an OpenAI-compatible server: `POST /v1/chat/completions`, streamed as
//! server-sent events (vLLM, llama.cpp's server, TGI, Ollama's `/v1`).

use super::{ChatProtocol, GenerateError, RemoteGenerator};
use crate::config::GeneratorConfig;
use crate::remote::{Api, ChatMessage, Piece, openai};

/// The OpenAI chat protocol.
pub struct OpenAiChat;

/// A chat model behind an OpenAI-compatible API.
pub type OpenAiGenerator = RemoteGenerator<OpenAiChat>;

impl ChatProtocol for OpenAiChat {
    type Body<'a> = openai::ChatRequest<'a>;
    const PATH: &'static str = openai::CHAT;

    fn body<'a>(
        &'a self,
        model: &'a str,
        messages: Vec<ChatMessage>,
        cfg: &GeneratorConfig,
    ) -> Self::Body<'a> {
        openai::ChatRequest {
            model,
            messages,
            stream: true,
            max_tokens: cfg.max_tokens.max(1),
            temperature: cfg.temperature,
            seed: cfg.seed,
        }
    }

    fn parse(line: &str) -> Result<Piece, String> {
        openai::parse_chat_line(line)
    }
}

impl OpenAiGenerator {
    /// Connects to `[generator] url`: the model is `[generator] model`, or the first one the
    /// server lists. Either way the server has answered once this returns.
    pub async fn connect(cfg: &GeneratorConfig) -> Result<Self, GenerateError> {
        let endpoint = Self::endpoint(cfg, Api::OpenAi)?;
        let load = |e: crate::remote::RemoteError| GenerateError::Load(e.to_string());
        let model = match &cfg.model {
            Some(model) => {
                endpoint.probe().await.map_err(load)?;
                model.clone()
            }
            None => openai::first_model(&endpoint, "generator")
                .await
                .map_err(load)?,
        };
        Ok(Self::new(endpoint, model, cfg, OpenAiChat))
    }
}
