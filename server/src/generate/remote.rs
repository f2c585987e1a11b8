//! A chat model on another server. What differs between servers (where to ask, what to send,
//! how each line of the streamed answer reads) is a [`ChatProtocol`]: [`super::OpenAiChat`],
//! [`super::OllamaChat`]; the rest (the prompt, the stream, the figures, `/health`) is here.

use serde::Serialize;

use super::{GenerateError, Generation, Generator, render_prompt};
use crate::backend::{BackendInfo, BackendState};
use crate::config::GeneratorConfig;
use crate::remote::{Api, ChatMessage, Endpoint, Piece, Settings};
use crate::store::Hit;

/// How one kind of server is asked for a streamed chat answer.
pub trait ChatProtocol: Send + Sync + 'static {
    /// The request body.
    type Body<'a>: Serialize + Send + Sync
    where
        Self: 'a;
    /// Where the request goes.
    const PATH: &'static str;
    /// The body asking `model` to answer `messages` with `cfg`'s sampling settings.
    fn body<'a>(
        &'a self,
        model: &'a str,
        messages: Vec<ChatMessage>,
        cfg: &GeneratorConfig,
    ) -> Self::Body<'a>;
    /// Reads one line of the streamed answer.
    fn parse(line: &str) -> Result<Piece, String>;
}

/// A generator that streams its answers from a server.
pub struct RemoteGenerator<P> {
    endpoint: Endpoint,
    model: String,
    cfg: GeneratorConfig,
    protocol: P,
}

impl<P: ChatProtocol> RemoteGenerator<P> {
    /// The server `cfg` names, spoken to with `api` (connects to nothing yet).
    pub(super) fn endpoint(cfg: &GeneratorConfig, api: Api) -> Result<Endpoint, GenerateError> {
        Ok(Endpoint::new(Settings {
            section: "generator",
            api,
            url: cfg.url.as_deref(),
            api_key: cfg.api_key.as_ref(),
            connect_timeout_secs: cfg.connect_timeout_secs,
            read_timeout_secs: cfg.read_timeout_secs,
            retries: cfg.retries,
        })?)
    }

    /// A generator of `model` at `endpoint`.
    pub(super) fn new(
        endpoint: Endpoint,
        model: String,
        cfg: &GeneratorConfig,
        protocol: P,
    ) -> Self {
        tracing::info!(%model, "answers from {}", endpoint.describe());
        Self {
            endpoint,
            model,
            cfg: cfg.clone(),
            protocol,
        }
    }

    /// The user message with as many passages as fit `context_budget_tokens`, counted at four
    /// characters a token (the remote model's tokenizer is not here), and how many it holds.
    fn user_message(&self, question: &str, passages: &[Hit]) -> (String, usize) {
        let budget_chars = (self.cfg.context_budget_tokens as usize + 256) * 4;
        let mut used = passages.len();
        loop {
            let user = render_prompt(&self.cfg.prompt_template, question, &passages[..used]);
            if user.len() <= budget_chars || used <= 1 {
                return (user, used);
            }
            used -= 1;
        }
    }
}

#[async_trait::async_trait]
impl<P: ChatProtocol> Generator for RemoteGenerator<P> {
    async fn generate(
        &self,
        question: &str,
        passages: &[Hit],
    ) -> Result<Generation, GenerateError> {
        let (user, passages_used) = self.user_message(question, passages);
        let messages = vec![
            ChatMessage {
                role: "system",
                content: self.cfg.system_prompt.clone(),
            },
            ChatMessage {
                role: "user",
                content: user,
            },
        ];
        let body = self.protocol.body(&self.model, messages, &self.cfg);
        let out = self.endpoint.stream_chat(P::PATH, &body, P::parse).await?;
        Ok(Generation {
            text: out.text.trim().to_string(),
            tokens: out.tokens.unwrap_or(out.pieces),
            prompt_tokens: out.prompt_tokens.unwrap_or(0),
            passages_used,
        })
    }

    fn info(&self) -> BackendInfo {
        BackendInfo {
            name: self.endpoint.api().name().into(),
            state: BackendState::Up,
            detail: format!("{} at {}", self.model, self.endpoint.base()),
        }
    }

    async fn health(&self) -> BackendInfo {
        self.endpoint.probed(self.info()).await
    }
}
