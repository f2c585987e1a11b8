//! Shared test helpers: running the `harness` binary, a server double that speaks the
//! contract (and stalls on demand), and checking summaries against the JSON schema.

#![allow(dead_code)]

pub mod limited;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use jsonwebtoken::{DecodingKey, Validation};
use serde_json::{Value, json};

/// The secret the double checks tokens with.
pub const SECRET: &str = "test-secret-for-the-double";

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The question set shipped with the scenarios.
pub fn questions_file() -> PathBuf {
    workspace_root().join("scenarios").join("questions.txt")
}

/// Runs the harness binary with `args` from the workspace root.
pub fn harness(args: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_harness"));
    cmd.args(args).current_dir(workspace_root());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.output().expect("the harness binary runs")
}

/// Stdout and stderr of a run, for assertion messages.
pub fn show(out: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Reads a run folder's summary.json as JSON.
pub fn summary_json(dir: &Path) -> Value {
    let text = std::fs::read_to_string(dir.join("summary.json")).expect("summary.json exists");
    serde_json::from_str(&text).expect("summary.json is JSON")
}

/// Validates a summary against `harness/summary.schema.json`; panics with every error.
pub fn assert_schema_valid(summary: &Value) {
    let schema_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("summary.schema.json");
    let schema: Value =
        serde_json::from_str(&std::fs::read_to_string(&schema_path).unwrap()).unwrap();
    let validator = jsonschema::validator_for(&schema).expect("the schema compiles");
    let errors: Vec<String> = validator
        .iter_errors(summary)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "summary.json does not match the schema:\n{}",
        errors.join("\n")
    );
}

/// A stand-in for the ragbench server that speaks the contract: `/health`, `/v1/search`,
/// `/v1/query`, `/metrics` with cache counters, JWT checks and `Server-Timing`. It can stall
/// every Nth search for a fixed time, the fault the open-loop test injects.
pub struct StallingServerDouble {
    /// Its base URL.
    pub base_url: String,
    /// Searches served.
    pub searches: Arc<AtomicU64>,
    _shutdown: tokio::sync::oneshot::Sender<()>,
    _thread: std::thread::JoinHandle<()>,
}

#[derive(Clone)]
struct DoubleState {
    stall_every: u64,
    stall: Duration,
    searches: Arc<AtomicU64>,
    hits: Arc<AtomicU64>,
    misses: Arc<AtomicU64>,
}

impl StallingServerDouble {
    /// Starts a double on a free loopback port; `stall_every = 0` never stalls.
    pub fn start(stall_every: u64, stall: Duration) -> StallingServerDouble {
        let searches = Arc::new(AtomicU64::new(0));
        let state = DoubleState {
            stall_every,
            stall,
            searches: searches.clone(),
            hits: Arc::new(AtomicU64::new(0)),
            misses: Arc::new(AtomicU64::new(0)),
        };
        let (addr_tx, addr_rx) = std::sync::mpsc::channel::<SocketAddr>();
        let (shutdown_tx, shutdown_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let app = Router::new()
                    .route("/health", get(health))
                    .route("/metrics", get(metrics))
                    .route("/v1/search", post(search))
                    .route("/v1/query", post(query))
                    .with_state(state);
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                addr_tx.send(listener.local_addr().unwrap()).unwrap();
                axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = shutdown_rx.await;
                    })
                    .await
                    .unwrap();
            });
        });
        let addr = addr_rx.recv().unwrap();
        StallingServerDouble {
            base_url: format!("http://{addr}"),
            searches,
            _shutdown: shutdown_tx,
            _thread: thread,
        }
    }
}

fn authorized(headers: &HeaderMap) -> bool {
    let Some(token) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    else {
        return false;
    };
    jsonwebtoken::decode::<Value>(
        token,
        &DecodingKey::from_secret(SECRET.as_bytes()),
        &Validation::default(),
    )
    .is_ok()
}

fn unauthorized() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        axum::Json(json!({"error": {"code": "unauthorized", "message": "bad token"}})),
    )
        .into_response()
}

async fn health() -> impl IntoResponse {
    axum::Json(json!({
        "status": "green",
        "collectionExists": true,
        "vectors": 1234,
        "backends": {
            "embedder": {"name": "double", "state": "up", "detail": "test double"},
            "store": {"name": "double", "state": "up", "detail": null},
            "generator": {"name": "double", "state": "up", "detail": null}
        },
        "version": "0.0.0-double"
    }))
}

async fn metrics(State(s): State<DoubleState>) -> impl IntoResponse {
    format!(
        "# TYPE ragbench_cache_hits_total counter\n\
         ragbench_cache_hits_total{{route=\"search\"}} {}\n\
         # TYPE ragbench_cache_misses_total counter\n\
         ragbench_cache_misses_total{{route=\"search\"}} {}\n",
        s.hits.load(Ordering::Relaxed),
        s.misses.load(Ordering::Relaxed)
    )
}

async fn search(State(s): State<DoubleState>, headers: HeaderMap) -> Response {
    if !authorized(&headers) {
        return unauthorized();
    }
    let n = s.searches.fetch_add(1, Ordering::Relaxed) + 1;
    if s.stall_every > 0 && n.is_multiple_of(s.stall_every) {
        tokio::time::sleep(s.stall).await;
    }
    // Every 4th request is a "miss", the rest "hits".
    let hit = !n.is_multiple_of(4);
    if hit {
        s.hits.fetch_add(1, Ordering::Relaxed);
    } else {
        s.misses.fetch_add(1, Ordering::Relaxed);
    }
    let timing = if hit {
        r#"cache;desc="hit";dur=0.010, total;dur=0.020"#
    } else {
        r#"cache;desc="miss";dur=0.010, embed;dur=0.300, search;dur=0.100, total;dur=0.420"#
    };
    (
        [("server-timing", timing)],
        axum::Json(json!({"hits": [{"score": 0.9, "path": "a.md", "title": "A", "heading": "H", "text": "t"}], "cached": hit})),
    )
        .into_response()
}

async fn query(headers: HeaderMap) -> Response {
    if !authorized(&headers) {
        return unauthorized();
    }
    (
        [(
            "server-timing",
            r#"cache;desc="hit";dur=0.010, total;dur=0.020"#,
        )],
        axum::Json(json!({"answer": "a", "sources": [], "cached": true, "tokens": 1})),
    )
        .into_response()
}

/// Runs scenario `body` against `double` from `dir` (no report), with `flags` added; returns
/// the harness's output and the run folder.
pub fn run_against(
    double: &StallingServerDouble,
    dir: &Path,
    name: &str,
    body: &str,
    flags: &[&str],
) -> (Output, PathBuf) {
    let file = double_scenario(dir, name, &double.base_url, body);
    let out_dir = dir.join("run");
    let mut args = vec![
        "run",
        file.to_str().unwrap(),
        "--out",
        out_dir.to_str().unwrap(),
        "--no-report",
    ];
    args.extend_from_slice(flags);
    let out = harness(&args, &[("RAGBENCH_JWT_SECRET", SECRET)]);
    (out, out_dir)
}

/// Writes a scenario file for the double into `dir` and returns its path.
pub fn double_scenario(dir: &Path, name: &str, base_url: &str, body: &str) -> PathBuf {
    let path = dir.join(format!("{name}.toml"));
    let text = format!(
        "name = \"{name}\"\n{body}\n\n[stack]\nkind = \"external\"\nbase_url = \"{base_url}\"\n"
    );
    // `body` may open tables; the [stack] table comes last so top-level keys stay top-level.
    std::fs::write(&path, text).unwrap();
    path
}
