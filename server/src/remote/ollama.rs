//! Ollama's own wire format: `POST /api/chat` (streamed as one JSON object a line),
//! `POST /api/embed`, `GET /api/tags`, `POST /api/pull`; and the start of an Ollama backend:
//! pull the model when the server lacks it, then load it so the first request does not wait.

use serde::{Deserialize, Serialize};

use super::{ChatMessage, Endpoint, Piece, RemoteError};

/// Chat.
pub const CHAT: &str = "/api/chat";
/// Embeddings.
pub const EMBED: &str = "/api/embed";
/// The models the server has.
pub const TAGS: &str = "/api/tags";
/// Download a model.
pub const PULL: &str = "/api/pull";

/// How long the model stays loaded after a request: Ollama takes a duration (`"30m"`) or a
/// number of seconds (`-1`: for ever), so a configured number is sent as a number.
#[derive(Debug, Clone, PartialEq)]
pub struct KeepAlive(String);

impl KeepAlive {
    /// From `keep_alive` in the configuration.
    pub fn new(value: &str) -> Self {
        Self(value.trim().to_string())
    }
}

impl Serialize for KeepAlive {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0.parse::<i64>() {
            Ok(seconds) => s.serialize_i64(seconds),
            Err(_) => s.serialize_str(&self.0),
        }
    }
}

/// `POST /api/chat` body.
#[derive(Debug, Serialize)]
pub struct ChatRequest<'a> {
    /// The model.
    pub model: &'a str,
    /// System and user messages; none loads the model.
    pub messages: Vec<ChatMessage>,
    /// Whether the answer comes one piece a line.
    pub stream: bool,
    /// How long the model stays loaded afterwards.
    pub keep_alive: &'a KeepAlive,
    /// Sampling; absent when only loading.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub options: Option<ChatOptions>,
}

/// The model parameters of a chat request.
#[derive(Debug, Serialize)]
pub struct ChatOptions {
    /// 0 is greedy.
    pub temperature: f32,
    /// Sampling seed.
    pub seed: u32,
    /// Most new tokens.
    pub num_predict: u32,
}

#[derive(Debug, Deserialize)]
struct ChatChunk {
    message: Option<ChatDelta>,
    #[serde(default)]
    done: bool,
    prompt_eval_count: Option<u32>,
    eval_count: Option<u32>,
    error: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ChatDelta {
    #[serde(default)]
    content: String,
}

/// Reads one line of a streamed chat answer.
pub fn parse_chat_line(line: &str) -> Result<Piece, String> {
    let chunk: ChatChunk =
        serde_json::from_str(line).map_err(|e| format!("unexpected line ({e}): {line}"))?;
    if let Some(error) = chunk.error {
        return Err(format!("the server stopped the answer: {error}"));
    }
    Ok(Piece {
        text: chunk.message.map(|m| m.content).filter(|t| !t.is_empty()),
        tokens: chunk.eval_count,
        prompt_tokens: chunk.prompt_eval_count,
        done: chunk.done,
    })
}

/// `POST /api/embed` body.
#[derive(Debug, Serialize)]
pub struct EmbedRequest<'a> {
    /// The model.
    pub model: &'a str,
    /// The texts, one vector each.
    pub input: &'a [String],
    /// How long the model stays loaded afterwards.
    pub keep_alive: &'a KeepAlive,
    /// Cut inputs longer than the model's context instead of failing.
    pub truncate: bool,
}

/// `POST /api/embed` answer.
#[derive(Debug, Deserialize)]
pub struct EmbedResponse {
    /// One vector per input, in order.
    pub embeddings: Vec<Vec<f32>>,
}

#[derive(Debug, Deserialize)]
struct Tags {
    models: Vec<Tag>,
}

#[derive(Debug, Deserialize)]
struct Tag {
    name: String,
}

#[derive(Debug, Serialize)]
struct PullRequest<'a> {
    model: &'a str,
    stream: bool,
}

#[derive(Debug, Deserialize)]
struct PullProgress {
    #[serde(default)]
    status: String,
    total: Option<u64>,
    completed: Option<u64>,
    error: Option<String>,
}

/// Whether the server's `listed` model is the `wanted` one: a name without a tag means
/// `:latest`.
pub fn same_model(wanted: &str, listed: &str) -> bool {
    wanted == listed || (!wanted.contains(':') && listed.strip_suffix(":latest") == Some(wanted))
}

/// Pulls `model` unless the server has it, logging the download's progress.
pub async fn ensure_model(endpoint: &Endpoint, model: &str) -> Result<(), RemoteError> {
    let tags: Tags = endpoint.read_json(TAGS, endpoint.get(TAGS).await?).await?;
    if tags.models.iter().any(|t| same_model(model, &t.name)) {
        return Ok(());
    }
    tracing::info!(%model, "{} does not have the model: pulling it", endpoint.describe());
    let response = endpoint
        .post_at_start(
            PULL,
            &PullRequest {
                model,
                stream: true,
            },
        )
        .await?;
    let mut lines = endpoint.lines(PULL, response);
    let mut log = PullLog::default();
    while let Some(line) = lines.next().await? {
        let progress: PullProgress = serde_json::from_str(&line)
            .map_err(|e| endpoint.protocol_error(PULL, format!("unexpected line ({e}): {line}")))?;
        if let Some(error) = progress.error {
            return Err(endpoint.protocol_error(PULL, format!("pulling {model} failed: {error}")));
        }
        log.record(model, &progress);
        if progress.status == "success" {
            return Ok(());
        }
    }
    Err(endpoint.protocol_error(PULL, format!("pulling {model} ended without success")))
}

/// Loads a chat `model` into memory (a chat without messages) for `keep_alive`.
pub async fn load_chat_model(
    endpoint: &Endpoint,
    model: &str,
    keep_alive: &KeepAlive,
) -> Result<(), RemoteError> {
    let request = ChatRequest {
        model,
        messages: Vec::new(),
        stream: false,
        keep_alive,
        options: None,
    };
    let response = endpoint.post_at_start(CHAT, &request).await?;
    let reply: ChatChunk = endpoint.read_json(CHAT, response).await?;
    match reply.error {
        Some(error) => Err(endpoint.protocol_error(CHAT, format!("loading {model}: {error}"))),
        None => Ok(()),
    }
}

/// Logs a pull's progress: each new step, and downloads by tenths.
#[derive(Default)]
struct PullLog {
    status: String,
    tenths: u64,
}

impl PullLog {
    fn record(&mut self, model: &str, progress: &PullProgress) {
        let new_step = progress.status != self.status;
        if new_step {
            self.status.clone_from(&progress.status);
            self.tenths = 0;
        }
        match (progress.total, progress.completed) {
            (Some(total), Some(done)) if total > 0 => {
                let tenths = done.min(total) * 10 / total;
                if new_step || tenths > self.tenths {
                    self.tenths = tenths;
                    tracing::info!(
                        %model,
                        "pull: {} {}% of {:.0} MB",
                        progress.status,
                        tenths * 10,
                        total as f64 / 1e6
                    );
                }
            }
            _ if new_step => tracing::info!(%model, "pull: {}", progress.status),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_names_default_to_latest() {
        assert!(same_model("llama3.2", "llama3.2:latest"));
        assert!(same_model("llama3.2:1b", "llama3.2:1b"));
        assert!(!same_model("llama3.2:1b", "llama3.2:latest"));
        assert!(!same_model("llama3", "llama3.2:latest"));
    }

    #[test]
    fn keep_alive_numbers_are_sent_as_numbers() {
        let json = |v: &str| serde_json::to_string(&KeepAlive::new(v)).unwrap();
        assert_eq!(json("-1"), "-1");
        assert_eq!(json("30m"), "\"30m\"");
    }
}
