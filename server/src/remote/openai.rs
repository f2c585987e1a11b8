//! The OpenAI-compatible wire format: `POST /v1/embeddings`, `POST /v1/chat/completions`
//! (streamed as server-sent events) and `GET /v1/models`.

use serde::{Deserialize, Serialize};

use super::{ChatMessage, Endpoint, Piece, RemoteError};

/// Embeddings.
pub const EMBEDDINGS: &str = "/v1/embeddings";
/// Chat completions.
pub const CHAT: &str = "/v1/chat/completions";
/// The served models.
pub const MODELS: &str = "/v1/models";

/// `POST /v1/embeddings` body.
#[derive(Debug, Serialize)]
pub struct EmbeddingsRequest<'a> {
    /// The model.
    pub model: &'a str,
    /// The texts, one vector each.
    pub input: &'a [String],
}

/// `POST /v1/embeddings` answer.
#[derive(Debug, Deserialize)]
pub struct EmbeddingsResponse {
    /// One entry per input.
    pub data: Vec<EmbeddingItem>,
}

/// One input's embedding.
#[derive(Debug, Deserialize)]
pub struct EmbeddingItem {
    /// The input's position.
    #[serde(default)]
    pub index: usize,
    /// The vector, or (a server without pooling) one vector per token.
    pub embedding: Embedding,
}

/// A pooled vector, or what a server without pooling sends: one vector per token.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Embedding {
    /// One vector for the text.
    Pooled(Vec<f32>),
    /// One vector per token (llama.cpp's server without `--pooling`).
    PerToken(Vec<Vec<f32>>),
}

impl EmbeddingsResponse {
    /// The vectors in input order; an answer with per-token vectors is refused, since no
    /// pooling here could match what the model was trained with.
    pub fn into_vectors(mut self) -> Result<Vec<Vec<f32>>, String> {
        self.data.sort_by_key(|item| item.index);
        self.data
            .into_iter()
            .map(|item| match item.embedding {
                Embedding::Pooled(v) => Ok(v),
                Embedding::PerToken(tokens) => Err(format!(
                    "the server sent one vector per token ({} tokens of {} numbers) instead of \
                     one pooled vector per text: serve an embedding model with pooling (for \
                     llama.cpp's server: --embeddings --pooling mean)",
                    tokens.len(),
                    tokens.first().map_or(0, Vec::len)
                )),
            })
            .collect()
    }
}

/// `POST /v1/chat/completions` body.
#[derive(Debug, Serialize)]
pub struct ChatRequest<'a> {
    /// The model.
    pub model: &'a str,
    /// System and user messages.
    pub messages: Vec<ChatMessage>,
    /// Always true: the answer arrives as server-sent events.
    pub stream: bool,
    /// Most new tokens.
    pub max_tokens: u32,
    /// 0 is greedy.
    pub temperature: f32,
    /// Sampling seed.
    pub seed: u32,
}

#[derive(Debug, Deserialize)]
struct ChatChunk {
    #[serde(default)]
    choices: Vec<ChunkChoice>,
    usage: Option<Usage>,
    error: Option<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
struct ChunkChoice {
    #[serde(default)]
    delta: Delta,
}

#[derive(Debug, Default, Deserialize)]
struct Delta {
    content: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Usage {
    prompt_tokens: Option<u32>,
    completion_tokens: Option<u32>,
}

/// Reads one line of a streamed chat answer: `data: {chunk}`, `data: [DONE]`; other lines
/// (comments, `event:`) carry nothing.
pub fn parse_chat_line(line: &str) -> Result<Piece, String> {
    let Some(data) = line.strip_prefix("data:").map(str::trim) else {
        return Ok(Piece::default());
    };
    if data == "[DONE]" {
        return Ok(Piece {
            done: true,
            ..Piece::default()
        });
    }
    let chunk: ChatChunk =
        serde_json::from_str(data).map_err(|e| format!("unexpected event ({e}): {data}"))?;
    if let Some(error) = chunk.error {
        let message = error
            .get("message")
            .and_then(|m| m.as_str())
            .map_or_else(|| error.to_string(), str::to_string);
        return Err(format!("the server stopped the answer: {message}"));
    }
    let usage = chunk.usage;
    Ok(Piece {
        text: chunk
            .choices
            .into_iter()
            .next()
            .and_then(|c| c.delta.content)
            .filter(|t| !t.is_empty()),
        tokens: usage.as_ref().and_then(|u| u.completion_tokens),
        prompt_tokens: usage.as_ref().and_then(|u| u.prompt_tokens),
        done: false,
    })
}

#[derive(Debug, Deserialize)]
struct ModelList {
    data: Vec<ModelEntry>,
}

#[derive(Debug, Deserialize)]
struct ModelEntry {
    id: String,
}

/// The first model the server lists: the one used when `model` is not set.
pub async fn first_model(endpoint: &Endpoint, section: &str) -> Result<String, RemoteError> {
    let list: ModelList = endpoint
        .read_json(MODELS, endpoint.get(MODELS).await?)
        .await?;
    let model = list.data.into_iter().next().map(|m| m.id).ok_or_else(|| {
        endpoint.protocol_error(MODELS, format!("lists no model: set [{section}] model"))
    })?;
    tracing::info!(%model, "{}: no model configured, using the first one listed", endpoint.describe());
    Ok(model)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_lines_become_pieces() {
        let chunk = r#"data: {"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"Bun"},"finish_reason":null}]}"#;
        assert_eq!(parse_chat_line(chunk).unwrap().text.as_deref(), Some("Bun"));
        let role_only = r#"data:{"choices":[{"index":0,"delta":{"role":"assistant"}}]}"#;
        assert_eq!(parse_chat_line(role_only).unwrap(), Piece::default());
        assert!(parse_chat_line("data: [DONE]").unwrap().done);
        assert_eq!(parse_chat_line(": ping").unwrap(), Piece::default());
        let err = parse_chat_line(r#"data: {"error":{"message":"context too long"}}"#);
        assert!(err.unwrap_err().contains("context too long"));
    }

    #[test]
    fn per_token_embeddings_are_refused() {
        let pooled: EmbeddingsResponse = serde_json::from_str(
            r#"{"data":[{"index":1,"embedding":[0.0,1.0]},{"index":0,"embedding":[1.0,0.0]}]}"#,
        )
        .unwrap();
        assert_eq!(
            pooled.into_vectors().unwrap(),
            vec![vec![1.0, 0.0], vec![0.0, 1.0]]
        );
        let per_token: EmbeddingsResponse =
            serde_json::from_str(r#"{"data":[{"index":0,"embedding":[[0.1,0.2],[0.3,0.4]]}]}"#)
                .unwrap();
        let err = per_token.into_vectors().unwrap_err();
        assert!(
            err.contains("2 tokens of 2 numbers") && err.contains("pooling"),
            "{err}"
        );
    }
}
