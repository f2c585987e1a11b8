//! HTTP calls the harness makes outside the load: `/health`, `/metrics`, `/v1/ingest`, and
//! one request of a workload plan (used by the open loop and cache priming).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};
use serde::Deserialize;

use crate::load::workload::RequestPlan;
use crate::measure::prom::{self, CacheCounters};
use crate::measure::recorder::Status;
use crate::summary::{Backend, HealthStatus, SkippedFile};

/// Why a call to the server failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// No response.
    #[error("{what}: no answer from {url}: {source}")]
    Transport {
        what: &'static str,
        url: String,
        source: reqwest::Error,
    },
    /// The server answered with an error.
    #[error("{what}: {url} answered {status}: {body}")]
    Status {
        what: &'static str,
        url: String,
        status: u16,
        /// The body (truncated).
        body: String,
    },
    /// The server's answer did not parse.
    #[error("{what}: {url} answered something unexpected ({source}): {body}")]
    Decode {
        what: &'static str,
        url: String,
        source: serde_json::Error,
        /// The body (truncated).
        body: String,
    },
}

/// `GET /health`, as the contract describes it.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Health {
    pub status: HealthStatus,
    /// Whether the collection exists.
    #[serde(default)]
    pub collection_exists: Option<bool>,
    /// Vectors in the collection.
    #[serde(default)]
    pub vectors: Option<u64>,
    /// Backends by role.
    #[serde(default)]
    pub backends: BTreeMap<String, Backend>,
    /// Server version.
    #[serde(default)]
    pub version: Option<String>,
}

/// `POST /v1/ingest`'s answer.
#[derive(Debug, Clone, Deserialize)]
pub struct IngestReport {
    /// Files read.
    #[serde(default)]
    pub files: Option<u64>,
    /// Chunks made.
    #[serde(default)]
    pub chunks: Option<u64>,
    /// Points upserted.
    #[serde(default)]
    pub upserted: Option<u64>,
    /// Files skipped.
    #[serde(default)]
    pub skipped: Vec<SkippedFile>,
    /// Server-side seconds.
    #[serde(default)]
    pub seconds: Option<f64>,
    /// Chunks per second.
    #[serde(default)]
    pub chunks_per_sec: Option<f64>,
    /// Vectors after the ingest.
    #[serde(default)]
    pub vectors: Option<u64>,
}

/// A small client for the server's control endpoints.
#[derive(Debug, Clone)]
pub struct Api {
    client: reqwest::Client,
    base: String,
}

/// A response body cut to what an error message should carry.
pub(crate) fn truncate(s: &str) -> String {
    const MAX: usize = 600;
    if s.len() <= MAX {
        s.trim().to_string()
    } else {
        let mut end = MAX;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}...", s[..end].trim())
    }
}

impl Api {
    /// A client for the server at `base` (no trailing slash needed).
    pub fn new(base: &str) -> Api {
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .build()
            .expect("a default reqwest client builds");
        Api {
            client,
            base: base.trim_end_matches('/').to_string(),
        }
    }

    /// The base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The HTTP client (one connection pool for every call through this `Api`).
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// `GET /health` (a 503 "red" answer still parses).
    pub async fn health(&self) -> Result<Health, ClientError> {
        let url = format!("{}/health", self.base);
        let what = "health check";
        let req = self.client.get(&url).timeout(Duration::from_secs(10));
        let (status, body) = fetch(req, what, &url).await?;
        match serde_json::from_str::<Health>(&body) {
            Ok(h) => Ok(h),
            Err(source) if status == 200 || status == 503 => Err(ClientError::Decode {
                what,
                url,
                source,
                body: truncate(&body),
            }),
            Err(_) => Err(ClientError::Status {
                what,
                url,
                status,
                body: truncate(&body),
            }),
        }
    }

    /// Polls `/health` until it is green, or the deadline passes; returns the last answer.
    pub async fn wait_green(&self, within: Duration) -> Result<Health, ClientError> {
        let deadline = Instant::now() + within;
        loop {
            let last = self.health().await;
            match &last {
                Ok(h) if h.status == HealthStatus::Green => return last,
                _ if Instant::now() >= deadline => return last,
                _ => tokio::time::sleep(Duration::from_millis(250)).await,
            }
        }
    }

    /// `GET /metrics`, the cache counters in it.
    pub async fn cache_counters(&self) -> Result<CacheCounters, ClientError> {
        let url = format!("{}/metrics", self.base);
        let what = "metrics scrape";
        let req = self.client.get(&url).timeout(Duration::from_secs(10));
        let (status, body) = fetch(req, what, &url).await?;
        if status != 200 {
            return Err(ClientError::Status {
                what,
                url,
                status,
                body: truncate(&body),
            });
        }
        Ok(prom::cache_counters(&body))
    }
}

/// Sends a control request and reads its whole body as text: the status and the body, or
/// the transport error naming `what` was being done.
pub(crate) async fn fetch(
    req: reqwest::RequestBuilder,
    what: &'static str,
    url: &str,
) -> Result<(u16, String), ClientError> {
    let resp = req.send().await.map_err(|source| ClientError::Transport {
        what,
        url: url.to_string(),
        source,
    })?;
    let status = resp.status().as_u16();
    Ok((status, resp.text().await.unwrap_or_default()))
}

/// Reads a JSON body as `T`, or says what was being done and what came back.
pub(crate) fn decode<T: serde::de::DeserializeOwned>(
    body: &str,
    what: &'static str,
    url: &str,
) -> Result<T, ClientError> {
    serde_json::from_str(body).map_err(|source| ClientError::Decode {
        what,
        url: url.to_string(),
        source,
        body: truncate(body),
    })
}

/// The result of sending one plan.
#[derive(Debug, Clone)]
pub struct Sent {
    /// How it ended.
    pub status: Status,
    /// Its `Server-Timing` header.
    pub server_timing: Option<String>,
    /// Bytes of response body read.
    pub body_bytes: usize,
}

/// Sends one request of a plan with `client` and reads the whole body.
pub async fn send_plan(
    client: &reqwest::Client,
    base: &str,
    plan: &RequestPlan,
    token: &str,
) -> Sent {
    let url = format!("{base}{}", plan.endpoint.path());
    let mut req = if plan.endpoint.is_post() {
        client
            .post(&url)
            .header(CONTENT_TYPE, "application/json")
            .body(plan.body.clone().unwrap_or_default())
    } else {
        client.get(&url)
    };
    if plan.endpoint.authenticated() {
        req = req.header(AUTHORIZATION, format!("Bearer {token}"));
    }
    read_response(req.send().await).await
}

/// Reads a response to its end: its status, `Server-Timing` and body size, or how it failed.
/// Both the open loop (through [`send_plan`]) and goose's users (`load::closed`) read this way.
pub async fn read_response(sent: Result<reqwest::Response, reqwest::Error>) -> Sent {
    let resp = match sent {
        Ok(resp) => resp,
        Err(e) => {
            return Sent {
                status: classify(&e),
                server_timing: None,
                body_bytes: 0,
            };
        }
    };
    let status = resp.status().as_u16();
    let server_timing = resp
        .headers()
        .get("server-timing")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    match resp.bytes().await {
        Ok(body) => Sent {
            status: Status::Http(status),
            server_timing,
            body_bytes: body.len(),
        },
        Err(e) => Sent {
            status: classify(&e),
            server_timing,
            body_bytes: 0,
        },
    }
}

/// Maps a reqwest error to a status key.
pub fn classify(e: &reqwest::Error) -> Status {
    if e.is_timeout() {
        Status::Timeout
    } else {
        Status::Transport
    }
}
