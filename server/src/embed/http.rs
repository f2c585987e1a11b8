//! Embeddings from a server: OpenAI-compatible `POST /v1/embeddings` (text-embeddings-inference,
//! vLLM, llama.cpp's server, Ollama's `/v1`) or Ollama's `POST /api/embed`.
//!
//! The dimension is whatever the server's model makes: it is read at start from one probe
//! text, before the collection is opened, so a collection built with another model is refused
//! with both sizes named ([`crate::store::StoreError::DimensionMismatch`]).

use super::{EmbedError, Embedder};
use crate::backend::{BackendInfo, BackendState};
use crate::config::EmbedderConfig;
use crate::remote::ollama::{self, KeepAlive};
use crate::remote::{Api, Endpoint, RemoteError, Settings, normalize, openai};

/// The text embedded at start to learn the dimension (and, on Ollama, to load the model).
const PROBE_TEXT: &str = "How do I install it?";

/// A remote embedding model.
pub struct HttpEmbedder {
    endpoint: Endpoint,
    model: String,
    keep_alive: KeepAlive,
    batch_size: usize,
    dimension: usize,
}

impl HttpEmbedder {
    /// Connects to the server `cfg` names with `api`: resolves the model (Ollama: pulls it when
    /// missing) and embeds a probe text to learn the dimension.
    pub async fn connect(cfg: &EmbedderConfig, api: Api) -> Result<Self, EmbedError> {
        let endpoint = Endpoint::new(Settings {
            section: "embedder",
            api,
            url: cfg.url.as_deref(),
            api_key: cfg.api_key.as_ref(),
            connect_timeout_secs: cfg.connect_timeout_secs,
            read_timeout_secs: cfg.read_timeout_secs,
            retries: cfg.retries,
        })
        .map_err(load)?;
        let model = match (&cfg.model, api) {
            (Some(model), _) => model.clone(),
            (None, Api::OpenAi) => openai::first_model(&endpoint, "embedder")
                .await
                .map_err(load)?,
            (None, Api::Ollama) => {
                return Err(EmbedError::Load(
                    "[embedder] model is not set: name the Ollama embedding model, e.g. \
                     nomic-embed-text"
                        .into(),
                ));
            }
        };
        if api == Api::Ollama {
            ollama::ensure_model(&endpoint, &model)
                .await
                .map_err(load)?;
        }
        let mut embedder = Self {
            endpoint,
            model,
            keep_alive: KeepAlive::new(&cfg.keep_alive),
            batch_size: cfg.batch_size.max(1),
            dimension: 0,
        };
        let probe = embedder
            .request(&[PROBE_TEXT.to_string()])
            .await
            .map_err(|e| EmbedError::Load(e.to_string()))?;
        embedder.dimension = probe.first().map_or(0, Vec::len);
        if embedder.dimension == 0 {
            return Err(EmbedError::Load(format!(
                "{} sent an empty vector for model {}",
                embedder.endpoint.describe(),
                embedder.model
            )));
        }
        tracing::info!(
            model = %embedder.model,
            dimension = embedder.dimension,
            "embeddings from {}",
            embedder.endpoint.describe()
        );
        Ok(embedder)
    }

    /// One request: a vector per text, in order, of unit length.
    async fn request(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let (path, vectors) = match self.endpoint.api() {
            Api::OpenAi => {
                let body = openai::EmbeddingsRequest {
                    model: &self.model,
                    input: texts,
                };
                let response: openai::EmbeddingsResponse = self
                    .endpoint
                    .post_json(openai::EMBEDDINGS, &body)
                    .await
                    .map_err(inference)?;
                (openai::EMBEDDINGS, response.into_vectors())
            }
            Api::Ollama => {
                let body = ollama::EmbedRequest {
                    model: &self.model,
                    input: texts,
                    keep_alive: &self.keep_alive,
                    truncate: true,
                };
                let response: ollama::EmbedResponse = self
                    .endpoint
                    .post_json(ollama::EMBED, &body)
                    .await
                    .map_err(inference)?;
                (ollama::EMBED, Ok(response.embeddings))
            }
        };
        let fail = |message: String| inference(self.endpoint.protocol_error(path, message));
        let vectors = vectors.map_err(fail)?;
        if vectors.len() != texts.len() {
            return Err(fail(format!(
                "sent {} vectors for {} texts",
                vectors.len(),
                texts.len()
            )));
        }
        if let Some(odd) = vectors
            .iter()
            .find(|v| self.dimension > 0 && v.len() != self.dimension)
        {
            return Err(fail(format!(
                "sent a {}-dimensional vector; the model made {}-dimensional ones at start",
                odd.len(),
                self.dimension
            )));
        }
        Ok(vectors.into_iter().map(normalize).collect())
    }
}

fn load(e: RemoteError) -> EmbedError {
    EmbedError::Load(e.to_string())
}

fn inference(e: RemoteError) -> EmbedError {
    if e.is_overload() {
        EmbedError::Overloaded(e.to_string())
    } else {
        EmbedError::Inference(e.to_string())
    }
}

#[async_trait::async_trait]
impl Embedder for HttpEmbedder {
    fn dimension(&self) -> usize {
        self.dimension
    }

    async fn embed_query(&self, text: &str) -> Result<Vec<f32>, EmbedError> {
        self.request(&[text.to_string()])
            .await?
            .pop()
            .ok_or_else(|| EmbedError::Inference("the server sent no vector".into()))
    }

    async fn embed_batch(&self, texts: Vec<String>) -> Result<Vec<Vec<f32>>, EmbedError> {
        let mut out = Vec::with_capacity(texts.len());
        for batch in texts.chunks(self.batch_size) {
            out.extend(self.request(batch).await?);
        }
        Ok(out)
    }

    fn info(&self) -> BackendInfo {
        BackendInfo {
            name: self.endpoint.api().name().into(),
            state: BackendState::Up,
            detail: format!(
                "{} ({}-dim) at {}",
                self.model,
                self.dimension,
                self.endpoint.base()
            ),
        }
    }

    async fn health(&self) -> BackendInfo {
        self.endpoint.probed(self.info()).await
    }
}
