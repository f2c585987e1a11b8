//! The command line: `serve`, `ingest`, `assets`, `config`. `main.rs` is only `run(Cli::parse())`,
//! so the harness can start the same server from its own binary.

use std::io::{IsTerminal, Write};
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::assets::AssetCache;
use crate::config::{Config, GeneratorBackend};
use crate::state::{AppState, Pipeline};

/// The configuration keys, shown by `--help` and kept in step with `config.rs`.
pub const CONFIG_HELP: &str = "\
CONFIGURATION (TOML file given by --config; every key also as RAGBENCH_<SECTION>__<KEY>):
  [server]    listen = \"127.0.0.1:8080\"      address to bind (env RAGBENCH_LISTEN)
              data_dir = \"ragbench-data\"     vector store and state (env RAGBENCH_DATA_DIR)
              body_limit_bytes = 65536         larger request bodies get 413
  [auth]      jwt_secret                       HS256 secret, required (env RAGBENCH_JWT_SECRET)
              leeway_secs = 0                  clock skew tolerated on `exp`, `nbf`, `iat`
              issuer, audience                 when set, tokens must carry this `iss` / `aud`
  [cache]     enabled = true, max_entries = 10000, ttl_secs = 600
  [assets]    cache_dir                        fetched models/corpus (env RAGBENCH_CACHE,
                                               default ~/.cache/ragbench)
  [embedder]  backend = \"fastembed\"          all-MiniLM-L6-v2 on ONNX Runtime (CPU)
              quantized = true                 int8 matrix products (a graph derived once
                                               from the published one); false: the published
              model_onnx, tokenizer_dir        your own model files instead of the cached ones
              ort_library                      libonnxruntime.so (or env ORT_DYLIB_PATH)
              threads (ingestion), query_sessions (one per core), lone_queries_wide
              (= true), batch_size = 32,
              max_length = 512
              backend = \"candle\"            the same model's fp32 weights in candle,
              device = \"cpu\" | \"cuda\" | \"cuda:N\" (CUDA: a build with `--features cuda`)
              model_safetensors                your own weights instead of the cached ones
              max_batch_requests = 64, max_batch_tokens = 16384   dynamic batching limits
              max_queue = 1024                 waiting queries beyond it get 429
              backend = \"openai\" | \"ollama\"  a server's /v1/embeddings or /api/embed:
              url (ollama default http://127.0.0.1:11434), model (openai default: the first
              listed; ollama: required, pulled when missing), api_key, connect_timeout_secs = 5,
              read_timeout_secs = 30, retries = 2 (connection errors only), keep_alive = \"30m\"
  [store]     backend = \"edge\"               Qdrant engine in process, under data_dir/qdrant
              collection = \"documentation\", hnsw_m = 16, hnsw_ef_construct = 100,
              indexing_threshold_kb = 100, hnsw_ef
              hybrid = true                    dense + BM25 rankings fused (RRF); fixed per
                                               collection
              backend = \"qdrant\"              a Qdrant server or cluster over gRPC:
              url = \"http://127.0.0.1:6334\" (https: TLS), api_key (env RAGBENCH_QDRANT_API_KEY),
              shards = 1, replicas = 1 (for a new collection), timeout_secs = 30
  [generator] backend = \"llama\" | \"disabled\"  SmolLM2-135M-Instruct through llama.cpp
              model_path                       your own GGUF file
              max_tokens = 128, temperature = 0.0, seed = 42, context_tokens = 2048,
              context_budget_tokens = 768, threads, max_queue = 8 (then 429),
              timeout_secs = 30 (then 504; /health yellow until an answer comes),
              system_prompt, prompt_template (with {context} and {question})
              backend = \"openai\" | \"ollama\"  a server's /v1/chat/completions or /api/chat,
              streamed; the same url, model, api_key, timeouts, retries and keep_alive keys as
              [embedder]; an Ollama model is pulled and loaded before the server is ready
  [ingest]    chunk_tokens = 256, overlap_tokens = 64
              allowed_roots = []               folders POST /v1/ingest may read (empty: none;
                                               env: one path or a TOML array)
              max_file_bytes = 4194304, max_files = 20000   413 beyond (HTTP only)
TOKENS: HS256 with `exp`; POST /v1/ingest, GET /v1/ingest/{id} and DELETE /v1/sources/{name}
  also need `\"scope\": \"ingest\"` (space-separated).
INGEST JOBS: POST /v1/ingest waits for the ingestion by default; with `\"wait\": false` it
  answers 202 {job, status_url} at once and GET /v1/ingest/{id} gives its state, progress and
  summary. One ingestion runs at a time; a second for a source being ingested gets 409.
SOURCES: every ingestion belongs to a named source (one documentation set; default: the
  folder's name; `source` in POST /v1/ingest, `ingest --source NAME`): re-ingesting a source
  replaces only its own stale passages. GET /v1/sources lists them; search and query take an
  optional `source` filter.";

/// ragbench's reference RAG server: markdown docs in, answers with sources out.
#[derive(Debug, Parser)]
#[command(name = "ragbench-server", version, after_long_help = CONFIG_HELP)]
pub struct Cli {
    /// Configuration file (TOML). Without one, defaults plus RAGBENCH_* variables apply.
    #[arg(long, global = true, env = "RAGBENCH_CONFIG")]
    pub config: Option<PathBuf>,
    /// Folder for the vector store (overrides [server] data_dir).
    #[arg(long, global = true)]
    pub data_dir: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the HTTP API until SIGTERM or ctrl-c.
    Serve {
        /// Address to bind (overrides [server] listen); port 0 picks a free one.
        #[arg(long)]
        listen: Option<String>,
        /// Start without the answer generator (/v1/query answers 503).
        #[arg(long)]
        no_generator: bool,
        /// Shut down when standard input closes: a parent process (the harness, a test) that
        /// dies cannot leave the server running.
        #[arg(long, hide = true)]
        exit_on_stdin_close: bool,
    },
    /// Ingest a folder of .md/.mdx files into the vector store, then exit.
    Ingest {
        /// The folder.
        dir: PathBuf,
        /// The source (documentation set) to ingest it as: 1-64 letters, digits, `-_.`.
        /// Default: the folder's name. Stale passages are removed only within this source.
        #[arg(long)]
        source: Option<String>,
    },
    /// Fetch and verify every model and corpus asset, and print where they are.
    Assets,
    /// Load the configured embedder, embed, time it and print JSON: the GPU preflight's
    /// check, and a side-by-side of two embedders (`--vectors`).
    Probe {
        /// Texts to embed, one per line (default: a built-in set of questions and passages).
        #[arg(long)]
        texts: Option<PathBuf>,
        /// Sequential queries, then as many per concurrent worker.
        #[arg(long, default_value_t = 200)]
        rounds: usize,
        /// Queries in flight at once in the concurrent measurement.
        #[arg(long, default_value_t = 64)]
        concurrency: usize,
        /// Also print the texts' vectors.
        #[arg(long)]
        vectors: bool,
    },
    /// Print the effective configuration (secret redacted).
    Config,
}

/// Runs a parsed command line to completion.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    let mut cfg = Config::load(cli.config.as_deref())?;
    if let Some(dir) = cli.data_dir {
        cfg.server.data_dir = dir;
    }
    init_tracing();
    match cli.command {
        Command::Serve {
            listen,
            no_generator,
            exit_on_stdin_close,
        } => {
            if let Some(listen) = listen {
                cfg.server.listen = listen;
            }
            if no_generator {
                cfg.generator.backend = GeneratorBackend::Disabled;
            }
            runtime()?.block_on(serve(cfg, exit_on_stdin_close))
        }
        Command::Ingest { dir, source } => runtime()?.block_on(ingest(cfg, dir, source)),
        Command::Assets => {
            let assets = AssetCache::with_dir(cfg.assets.cache_dir.as_deref());
            for (what, path) in assets.fetch_all()? {
                println!("{what}: {}", path.display());
            }
            Ok(())
        }
        Command::Probe {
            texts,
            rounds,
            concurrency,
            vectors,
        } => {
            let texts = match texts {
                Some(path) => std::fs::read_to_string(&path)
                    .with_context(|| format!("reading --texts {}", path.display()))?
                    .lines()
                    .filter(|line| !line.trim().is_empty())
                    .map(str::to_string)
                    .collect(),
                None => Vec::new(),
            };
            let report = runtime()?.block_on(crate::probe::run(
                &cfg,
                texts,
                rounds,
                concurrency,
                vectors,
            ))?;
            println!("{}", serde_json::to_string(&report)?);
            Ok(())
        }
        Command::Config => {
            if cfg.auth.jwt_secret.is_some() {
                cfg.auth.jwt_secret = Some("<redacted>".into());
            }
            print!("{}", toml::to_string_pretty(&cfg)?);
            Ok(())
        }
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,ort=warn,qdrant_edge=error"));
    // A second init (the harness may call run() twice in tests) is harmless.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// Installs the Prometheus recorder with buckets fine enough for sub-millisecond stages.
pub fn install_metrics() -> anyhow::Result<PrometheusHandle> {
    const BUCKETS: &[f64] = &[
        0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
        0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
    ];
    PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("duration_seconds".into()), BUCKETS)?
        .install_recorder()
        .context("installing the Prometheus recorder")
}

async fn serve(cfg: Config, exit_on_stdin_close: bool) -> anyhow::Result<()> {
    let metrics = install_metrics()?;
    let addr: SocketAddr = cfg.server.listen.parse().with_context(|| {
        format!(
            "[server] listen = {:?} is not a socket address like 127.0.0.1:8080",
            cfg.server.listen
        )
    })?;
    let state = AppState::build(&cfg, metrics).await?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}: is another process using it?"))?;
    let local = listener.local_addr()?;
    // The harness waits for exactly this line.
    println!("ragbench-server listening on http://{local}");
    std::io::stdout().flush()?;
    tracing::info!(%local, "serving");
    let app = crate::api::app(state, cfg.server.body_limit_bytes);
    axum::serve(
        listener,
        axum::ServiceExt::<axum::extract::Request>::into_make_service(app),
    )
    .with_graceful_shutdown(shutdown_signal(exit_on_stdin_close))
    .await
    .context("serving HTTP")?;
    tracing::info!("shut down cleanly");
    Ok(())
}

async fn shutdown_signal(exit_on_stdin_close: bool) {
    let stdin_closed = async move {
        if !exit_on_stdin_close {
            return std::future::pending::<()>().await;
        }
        // A blocking read on its own thread: tokio's stdin would hold a runtime worker.
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        std::thread::spawn(move || {
            let mut sink = [0u8; 256];
            let mut stdin = std::io::stdin();
            while std::io::Read::read(&mut stdin, &mut sink).is_ok_and(|n| n > 0) {}
            let _ = tx.send(());
        });
        let _ = rx.await;
        tracing::info!("standard input closed: shutting down");
    };
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
        _ = stdin_closed => {},
    }
}

async fn ingest(cfg: Config, dir: PathBuf, source: Option<String>) -> anyhow::Result<()> {
    // A bad name is refused before the model loads.
    if let Some(name) = &source {
        crate::ingest::validate_source(name)?;
    }
    let pipeline = Pipeline::load(&cfg, &cfg.server.data_dir).await?;
    let summary = pipeline
        .ingestor
        .ingest_dir(
            &dir,
            source.as_deref(),
            std::io::stderr().is_terminal(),
            crate::ingest::IngestLimits::default(),
        )
        .await?;
    println!(
        "ingested {} files, {} chunks in {:.1} s ({:.1} chunks/s; embedding {:.1} s, store \
         {:.1} s); {} stale removed; {} vectors in the collection; {} skipped; source {:?}",
        summary.files,
        summary.chunks,
        summary.seconds,
        summary.chunks_per_sec,
        summary.embed_seconds,
        summary.store_seconds,
        summary.deleted,
        summary.vectors,
        summary.skipped.len(),
        summary.source
    );
    for s in &summary.skipped {
        println!("  skipped {}: {}", s.path, s.reason);
    }
    Ok(())
}
