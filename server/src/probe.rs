//! `ragbench-server probe`: load the configured embedder, embed, time it, print JSON.
//!
//! The harness's GPU preflight runs it before any load ("does the CUDA embedder start and
//! embed?"), and it is how two embedders are compared outside a load run: the same texts
//! through each (`--vectors`), one query at a time and many at once.

use std::time::{Duration, Instant};

use serde::Serialize;

use crate::assets::AssetCache;
use crate::config::Config;
use crate::embed::{self, Embedder};

/// The sentence embedded when no texts are given.
pub const PROBE_SENTENCE: &str = "How do I run a TypeScript file with bun?";

/// What `probe` prints.
#[derive(Debug, Serialize)]
pub struct ProbeReport {
    /// Backend name, as in `/health` (`candle-cuda`, `fastembed-onnx-cpu` ...).
    pub backend: String,
    /// The backend's detail line (model, device, batch limits).
    pub detail: String,
    /// Vector dimension.
    pub dimension: usize,
    /// Loading the model, warm-up included, in milliseconds.
    pub load_ms: f64,
    /// The probe sentence's vector norm (1.0 for a unit vector).
    pub probe_norm: f32,
    /// One query at a time: latency percentiles in microseconds.
    pub sequential_us: Percentiles,
    /// `concurrency` queries in flight at once: queries per second.
    pub concurrent_per_s: f64,
    /// Queries in flight in the concurrent measurement.
    pub concurrency: usize,
    /// Ingestion-style batches of the given texts: texts per second.
    pub batch_texts_per_s: f64,
    /// Vectors of the given texts, in order, when asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vectors: Option<Vec<Vec<f32>>>,
}

/// Latency percentiles in microseconds.
#[derive(Debug, Serialize)]
pub struct Percentiles {
    /// Median.
    pub p50: f64,
    /// 95th percentile.
    pub p95: f64,
    /// 99th percentile.
    pub p99: f64,
}

/// Loads the embedder `cfg` names and measures it on `texts` (one text per entry; empty: a
/// built-in set). `rounds` sequential queries, then `concurrency` at once for `rounds` more.
pub async fn run(
    cfg: &Config,
    texts: Vec<String>,
    rounds: usize,
    concurrency: usize,
    with_vectors: bool,
) -> anyhow::Result<ProbeReport> {
    let assets = AssetCache::with_dir(cfg.assets.cache_dir.as_deref());
    let started = Instant::now();
    let embedder = embed::build(&cfg.embedder, &assets).await?;
    let load_ms = started.elapsed().as_secs_f64() * 1e3;
    let probe = embedder.embed_query(PROBE_SENTENCE).await?;
    let probe_norm = probe.iter().map(|x| x * x).sum::<f32>().sqrt();
    let texts = if texts.is_empty() {
        default_texts()
    } else {
        texts
    };
    let sequential_us = sequential(embedder.as_ref(), &texts, rounds.max(1)).await?;
    let concurrent_per_s = concurrent(&embedder, &texts, rounds.max(1), concurrency.max(1)).await?;
    let batch_started = Instant::now();
    let vectors = embedder.embed_batch(texts.clone()).await?;
    let batch_texts_per_s = texts.len() as f64 / batch_started.elapsed().as_secs_f64();
    let info = embedder.info();
    Ok(ProbeReport {
        backend: info.name,
        detail: info.detail,
        dimension: embedder.dimension(),
        load_ms,
        probe_norm,
        sequential_us,
        concurrent_per_s,
        concurrency,
        batch_texts_per_s,
        vectors: with_vectors.then_some(vectors),
    })
}

async fn sequential(
    embedder: &dyn Embedder,
    texts: &[String],
    rounds: usize,
) -> anyhow::Result<Percentiles> {
    let mut took = Vec::with_capacity(rounds);
    for i in 0..rounds {
        let started = Instant::now();
        embedder.embed_query(&texts[i % texts.len()]).await?;
        took.push(started.elapsed());
    }
    took.sort();
    let at = |q: f64| {
        let index = ((took.len() as f64 * q).ceil() as usize).clamp(1, took.len()) - 1;
        took[index].as_secs_f64() * 1e6
    };
    Ok(Percentiles {
        p50: at(0.50),
        p95: at(0.95),
        p99: at(0.99),
    })
}

async fn concurrent(
    embedder: &std::sync::Arc<dyn Embedder>,
    texts: &[String],
    rounds: usize,
    concurrency: usize,
) -> anyhow::Result<f64> {
    let started = Instant::now();
    let workers: Vec<_> = (0..concurrency)
        .map(|worker| {
            let embedder = std::sync::Arc::clone(embedder);
            let texts = texts.to_vec();
            tokio::spawn(async move {
                for i in 0..rounds {
                    embedder
                        .embed_query(&texts[(worker + i) % texts.len()])
                        .await?;
                }
                Ok::<_, embed::EmbedError>(())
            })
        })
        .collect();
    for worker in workers {
        worker.await??;
    }
    let elapsed = started.elapsed().max(Duration::from_nanos(1));
    Ok((concurrency * rounds) as f64 / elapsed.as_secs_f64())
}

/// Short documentation-style questions and passages, so a probe needs no files.
fn default_texts() -> Vec<String> {
    [
        PROBE_SENTENCE,
        "Which flags does bun test accept for watching files?",
        "Bun.serve starts an HTTP server; the fetch handler receives a Request and returns a \
         Response, and websocket upgrades are handled by server.upgrade.",
        "How can I read environment variables from a .env file?",
        "bun install reads package.json, resolves every dependency and writes bun.lock; use \
         --frozen-lockfile in CI so the lockfile is never changed.",
        "What is the difference between bun build and bun run?",
        "Workspaces let one repository hold several packages that depend on each other.",
        "How do I write a SQLite query with bun:sqlite?",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}
