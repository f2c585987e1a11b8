//! What the HTTP backends share, for embeddings and answers alike: one client per server with
//! connect and read timeouts, retries with backoff on connection errors only, errors that
//! name the backend and the setting to check, and the line framing of streamed answers
//! (server-sent events and newline-delimited JSON). The wire formats are in [`openai`] and
//! [`ollama`]; the backends in `embed::http`, `generate::openai` and `generate::ollama`.

pub mod ollama;
pub mod openai;

use std::time::Duration;

use futures::StreamExt;
use futures::stream::BoxStream;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::backend::{BackendInfo, BackendState};
use crate::config::Secret;

/// Which protocol a server speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    /// OpenAI's `/v1/...` (vLLM, TGI, text-embeddings-inference, llama.cpp's server, Ollama's
    /// `/v1`).
    OpenAi,
    /// Ollama's own `/api/...`.
    Ollama,
}

impl Api {
    /// The backend's name in `/health` and in messages.
    pub fn name(self) -> &'static str {
        match self {
            Self::OpenAi => "openai-compatible",
            Self::Ollama => "ollama",
        }
    }
}

/// One remote server's settings, from `[embedder]` or `[generator]`.
#[derive(Debug, Clone, Copy)]
pub struct Settings<'a> {
    /// The config section, for messages ("embedder", "generator").
    pub section: &'static str,
    /// The protocol.
    pub api: Api,
    /// `url`; Ollama's default address when absent.
    pub url: Option<&'a str>,
    /// `api_key`.
    pub api_key: Option<&'a Secret>,
    /// `connect_timeout_secs`.
    pub connect_timeout_secs: u64,
    /// `read_timeout_secs`.
    pub read_timeout_secs: u64,
    /// `retries`.
    pub retries: u32,
}

/// A remote server failed or could not be used. Each message names the server and what to
/// check.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    /// The configuration cannot work.
    #[error("{0}")]
    Config(String),
    /// No connection could be made, or it broke before the answer was complete.
    #[error(
        "{who} cannot be reached ({attempts} attempt(s)): {reason}; is it running? \
         (check [{section}] url)"
    )]
    Unreachable {
        /// Backend and URL.
        who: String,
        /// The config section.
        section: &'static str,
        /// Connections tried.
        attempts: u32,
        /// The innermost error.
        reason: String,
    },
    /// The server stopped sending within an answer.
    #[error("{who} sent nothing for {secs}s ([{section}] read_timeout_secs)")]
    Silent {
        /// Backend and URL.
        who: String,
        /// The config section.
        section: &'static str,
        /// The read timeout.
        secs: u64,
    },
    /// The server answered with an error status.
    #[error("{who} answered HTTP {status}: {message}")]
    Status {
        /// Backend and URL.
        who: String,
        /// The HTTP status.
        status: u16,
        /// The server's own message, when it gave one.
        message: String,
    },
    /// The answer is not what the protocol says.
    #[error("{who}: {message}")]
    Protocol {
        /// Backend and URL.
        who: String,
        /// What was wrong.
        message: String,
    },
}

impl RemoteError {
    /// Whether the server is turning requests away for load (HTTP 429): a client may retry
    /// later.
    pub fn is_overload(&self) -> bool {
        matches!(self, Self::Status { status: 429, .. })
    }
}

/// How long startup calls (an Ollama pull or model load) may stay silent: a large model can
/// take minutes to load from a slow disk.
const STARTUP_READ_TIMEOUT: Duration = Duration::from_secs(600);
/// How long the `/health` probe waits.
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);
/// The first pause before a new connection attempt; doubled each time, at most 4 s.
const FIRST_BACKOFF: Duration = Duration::from_millis(250);

/// One remote server: its base URL and the clients that call it.
pub struct Endpoint {
    api: Api,
    section: &'static str,
    base: String,
    api_key: Option<Secret>,
    client: reqwest::Client,
    startup: reqwest::Client,
    read_timeout_secs: u64,
    retries: u32,
}

impl Endpoint {
    /// Builds the clients; connects to nothing yet.
    pub fn new(s: Settings<'_>) -> Result<Self, RemoteError> {
        let url = match (s.url, s.api) {
            (Some(url), _) => url,
            (None, Api::Ollama) => "http://127.0.0.1:11434",
            (None, Api::OpenAi) => {
                return Err(RemoteError::Config(format!(
                    "[{}] url is not set: give the OpenAI-compatible server's base URL, e.g. \
                     http://127.0.0.1:8000",
                    s.section
                )));
            }
        };
        let base = base_url(url)
            .map_err(|why| RemoteError::Config(format!("[{}] url = {url:?}: {why}", s.section)))?;
        let connect = Duration::from_secs(s.connect_timeout_secs.max(1));
        let build = |read: Duration| {
            reqwest::Client::builder()
                .connect_timeout(connect)
                .read_timeout(read)
                .build()
                .map_err(|e| RemoteError::Config(format!("HTTP client: {}", root_cause(&e))))
        };
        let read = Duration::from_secs(s.read_timeout_secs.max(1));
        Ok(Self {
            api: s.api,
            section: s.section,
            base,
            api_key: s.api_key.cloned(),
            client: build(read)?,
            startup: build(read.max(STARTUP_READ_TIMEOUT))?,
            read_timeout_secs: s.read_timeout_secs.max(1),
            retries: s.retries,
        })
    }

    /// The protocol.
    pub fn api(&self) -> Api {
        self.api
    }

    /// The base URL (no trailing `/` or `/v1`).
    pub fn base(&self) -> &str {
        &self.base
    }

    /// `openai-compatible at http://host:port`.
    pub fn describe(&self) -> String {
        format!("{} at {}", self.api.name(), self.base)
    }

    fn who(&self, path: &str) -> String {
        format!("{} at {}{path}", self.api.name(), self.base)
    }

    /// A remote call's failure in the vocabulary of the server's protocol.
    pub fn protocol_error(&self, path: &str, message: impl Into<String>) -> RemoteError {
        RemoteError::Protocol {
            who: self.who(path),
            message: message.into(),
        }
    }

    /// `POST` a JSON body; retried on connection errors only. Any non-2xx answer is an error.
    pub async fn post(
        &self,
        path: &str,
        body: &impl Serialize,
    ) -> Result<reqwest::Response, RemoteError> {
        self.send(&self.client, reqwest::Method::POST, path, Some(body))
            .await
    }

    /// Like [`Endpoint::post`] for the calls made once at start (pulling or loading a model),
    /// which may stay silent for minutes.
    pub async fn post_at_start(
        &self,
        path: &str,
        body: &impl Serialize,
    ) -> Result<reqwest::Response, RemoteError> {
        self.send(&self.startup, reqwest::Method::POST, path, Some(body))
            .await
    }

    /// `GET`, retried on connection errors only.
    pub async fn get(&self, path: &str) -> Result<reqwest::Response, RemoteError> {
        self.send(&self.client, reqwest::Method::GET, path, None::<&()>)
            .await
    }

    /// `POST`s and reads the whole answer as `T`.
    pub async fn post_json<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &impl Serialize,
    ) -> Result<T, RemoteError> {
        let response = self.post(path, body).await?;
        self.read_json(path, response).await
    }

    /// Reads a whole answer as `T`.
    pub async fn read_json<T: DeserializeOwned>(
        &self,
        path: &str,
        response: reqwest::Response,
    ) -> Result<T, RemoteError> {
        let bytes = response
            .bytes()
            .await
            .map_err(|e| self.transport_error(path, &e, 1))?;
        serde_json::from_slice(&bytes).map_err(|e| {
            self.protocol_error(
                path,
                format!("unexpected answer ({e}): {}", excerpt(&bytes)),
            )
        })
    }

    /// The answer's body, line by line.
    pub fn lines<'a>(&'a self, path: &'a str, response: reqwest::Response) -> Lines<'a> {
        Lines {
            endpoint: self,
            path,
            body: response
                .bytes_stream()
                .map(|chunk| chunk.map(|bytes| bytes.to_vec()))
                .boxed(),
            buffer: Vec::new(),
        }
    }

    /// Streams a chat answer from `path`: each line of the body goes through `parse`, until a
    /// line says the answer is done.
    pub async fn stream_chat(
        &self,
        path: &str,
        body: &impl Serialize,
        parse: impl Fn(&str) -> Result<Piece, String>,
    ) -> Result<ChatOutput, RemoteError> {
        let response = self.post(path, body).await?;
        let mut lines = self.lines(path, response);
        let mut out = ChatOutput::default();
        while let Some(line) = lines.next().await? {
            let piece = parse(&line).map_err(|message| self.protocol_error(path, message))?;
            if let Some(text) = piece.text {
                out.text.push_str(&text);
                out.pieces += 1;
            }
            out.tokens = piece.tokens.or(out.tokens);
            out.prompt_tokens = piece.prompt_tokens.or(out.prompt_tokens);
            if piece.done {
                return Ok(out);
            }
        }
        Err(self.protocol_error(path, "the answer ended before the server said it was done"))
    }

    /// Whether the server answers at all (any HTTP status counts): the `/health` probe.
    pub async fn probe(&self) -> Result<(), RemoteError> {
        let request = self.client.get(format!("{}/", self.base));
        self.authorize(request)
            .timeout(PROBE_TIMEOUT)
            .send()
            .await
            .map(drop)
            .map_err(|e| self.transport_error("/", &e, 1))
    }

    /// `info` with its state from [`Endpoint::probe`].
    pub async fn probed(&self, mut info: BackendInfo) -> BackendInfo {
        if let Err(e) = self.probe().await {
            info.state = BackendState::Down;
            info.detail = format!("{}; {e}", info.detail);
        }
        info
    }

    fn authorize(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.api_key {
            Some(key) => request.bearer_auth(key.expose()),
            None => request,
        }
    }

    async fn send(
        &self,
        client: &reqwest::Client,
        method: reqwest::Method,
        path: &str,
        body: Option<&impl Serialize>,
    ) -> Result<reqwest::Response, RemoteError> {
        let url = format!("{}{path}", self.base);
        let body = body
            .map(serde_json::to_vec)
            .transpose()
            .map_err(|e| self.protocol_error(path, format!("request body: {e}")))?;
        let mut pause = FIRST_BACKOFF;
        let mut attempt = 1;
        loop {
            let mut request = self.authorize(client.request(method.clone(), &url));
            if let Some(body) = &body {
                request = request
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(body.clone());
            }
            match request.send().await {
                Ok(response) if response.status().is_success() => return Ok(response),
                Ok(response) => return Err(self.status_error(path, response).await),
                // Only a connection that was never made is safe to try again: after that the
                // server may have started the work.
                Err(e) if e.is_connect() && attempt <= self.retries => {
                    tracing::warn!(
                        backend = self.api.name(),
                        %url,
                        attempt,
                        error = %root_cause(&e),
                        "cannot connect; trying again in {:?}",
                        pause
                    );
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(4));
                    attempt += 1;
                }
                Err(e) => return Err(self.transport_error(path, &e, attempt)),
            }
        }
    }

    fn transport_error(&self, path: &str, e: &reqwest::Error, attempts: u32) -> RemoteError {
        if e.is_timeout() && !e.is_connect() {
            RemoteError::Silent {
                who: self.who(path),
                section: self.section,
                secs: self.read_timeout_secs,
            }
        } else {
            RemoteError::Unreachable {
                who: self.who(path),
                section: self.section,
                attempts,
                reason: root_cause(e),
            }
        }
    }

    async fn status_error(&self, path: &str, response: reqwest::Response) -> RemoteError {
        let status = response.status().as_u16();
        let body = response.bytes().await.unwrap_or_default();
        RemoteError::Status {
            who: self.who(path),
            status,
            message: error_message(&body),
        }
    }
}

/// A chat message, the same in both protocols.
#[derive(Debug, Clone, Serialize)]
pub struct ChatMessage {
    /// `system`, `user` or `assistant`.
    pub role: &'static str,
    /// The text.
    pub content: String,
}

/// One line of a streamed answer as the backend's parser read it.
#[derive(Debug, Default, PartialEq)]
pub struct Piece {
    /// Text to append to the answer.
    pub text: Option<String>,
    /// Tokens generated, when the server counts them.
    pub tokens: Option<u32>,
    /// Tokens in the prompt, when the server counts them.
    pub prompt_tokens: Option<u32>,
    /// The answer is complete.
    pub done: bool,
}

/// A whole streamed answer.
#[derive(Debug, Default)]
pub struct ChatOutput {
    /// The text.
    pub text: String,
    /// Pieces of text received (about one token each).
    pub pieces: u32,
    /// Tokens generated, as the server counted them.
    pub tokens: Option<u32>,
    /// Prompt tokens, as the server counted them.
    pub prompt_tokens: Option<u32>,
}

/// An answer's body split into lines; blank lines (event separators) are skipped.
pub struct Lines<'a> {
    endpoint: &'a Endpoint,
    path: &'a str,
    body: BoxStream<'static, reqwest::Result<Vec<u8>>>,
    buffer: Vec<u8>,
}

impl Lines<'_> {
    /// The next non-blank line without its line break; `None` at the end of the body.
    pub async fn next(&mut self) -> Result<Option<String>, RemoteError> {
        loop {
            if let Some(end) = self.buffer.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.buffer.drain(..=end).collect();
                let line = String::from_utf8_lossy(&line).trim().to_string();
                if !line.is_empty() {
                    return Ok(Some(line));
                }
                continue;
            }
            match self.body.next().await {
                Some(Ok(chunk)) => self.buffer.extend_from_slice(&chunk),
                Some(Err(e)) => return Err(self.endpoint.transport_error(self.path, &e, 1)),
                None => {
                    let rest = String::from_utf8_lossy(&std::mem::take(&mut self.buffer))
                        .trim()
                        .to_string();
                    return Ok((!rest.is_empty()).then_some(rest));
                }
            }
        }
    }
}

/// The base URL without a trailing `/` or `/v1` (paths are added whole: `/v1/embeddings`).
fn base_url(url: &str) -> Result<String, String> {
    let parsed = reqwest::Url::parse(url.trim()).map_err(|e| e.to_string())?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(format!("{} is not http or https", parsed.scheme()));
    }
    let base = parsed.as_str().trim_end_matches('/');
    Ok(base.strip_suffix("/v1").unwrap_or(base).to_string())
}

/// The innermost cause of an error: reqwest's own message only says which request failed.
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

/// The message in an error answer: OpenAI's `{"error": {"message"}}`, Ollama's
/// `{"error": "..."}`, FastAPI's `{"detail": ...}`, or the text itself.
fn error_message(body: &[u8]) -> String {
    let Ok(json) = serde_json::from_slice::<serde_json::Value>(body) else {
        return excerpt(body);
    };
    let found = json
        .pointer("/error/message")
        .or_else(|| json.get("error"))
        .or_else(|| json.get("detail"))
        .or_else(|| json.get("message"));
    match found {
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
        None => excerpt(body),
    }
}

/// The start of a body, for messages.
fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    match text.char_indices().nth(300) {
        Some((end, _)) => format!("{}...", &text[..end]),
        None if text.is_empty() => "(empty)".into(),
        None => text.to_string(),
    }
}

/// Scales `v` to unit length (the [`crate::embed::Embedder`] contract); a zero vector stays.
pub fn normalize(mut v: Vec<f32>) -> Vec<f32> {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_lose_a_trailing_v1() {
        assert_eq!(
            base_url("http://127.0.0.1:8000/v1/").unwrap(),
            "http://127.0.0.1:8000"
        );
        assert_eq!(
            base_url("https://llm.example/openai").unwrap(),
            "https://llm.example/openai"
        );
        assert!(base_url("127.0.0.1:8000").is_err());
        assert!(base_url("ftp://x").unwrap_err().contains("ftp"));
    }

    #[test]
    fn error_messages_from_each_dialect() {
        assert_eq!(
            error_message(br#"{"error":{"message":"model not found","type":"x"}}"#),
            "model not found"
        );
        assert_eq!(
            error_message(br#"{"error":"model 'x' not found"}"#),
            "model 'x' not found"
        );
        assert_eq!(error_message(br#"{"detail":"Not Found"}"#), "Not Found");
        assert_eq!(error_message(b"Bad Gateway"), "Bad Gateway");
    }
}
