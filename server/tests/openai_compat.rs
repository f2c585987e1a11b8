//! The OpenAI-compatible backends against a real server: llama-cpp-python[server] 0.3.36
//! serving SmolLM2 (the server's own cached GGUF), started and stopped by this test, once as
//! llama-cpp-python ships it (chat; per-token embeddings) and once with the model built with
//! mean pooling (embeddings). Then the whole `ragbench-server` runs on the two: ingest,
//! search, answer, health, and the answer server going down.
//!
//! Needs a Python with `llama-cpp-python[server]==0.3.36` installed (pip builds llama.cpp
//! from source: about 6 minutes on 2 cores; keep the wheel in a cache): set
//! `RAGBENCH_TEST_LLAMACPP_PYTHON` to that interpreter. Without it the test says it was
//! skipped.

mod common;
mod remote_common;

use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ragbench_server::assets::AssetCache;
use ragbench_server::config::{EmbedderBackend, EmbedderConfig, GeneratorBackend, GeneratorConfig};
use ragbench_server::embed::{EmbedError, Embedder, HttpEmbedder};
use ragbench_server::generate::{Generator, OpenAiGenerator};
use ragbench_server::remote::Api as Protocol;
use remote_common::{closed_port, hit, skip};
use serde_json::{Value, json};

const PYTHON_VAR: &str = "RAGBENCH_TEST_LLAMACPP_PYTHON";

/// llama-cpp-python's server with every model built with mean pooling: its settings have no
/// pooling option, and without one SmolLM2 gives a vector per token.
const MEAN_POOLING: &str = "
import runpy, llama_cpp
build = llama_cpp.Llama.__init__
def pooled(self, *args, **kwargs):
    kwargs['pooling_type'] = llama_cpp.LLAMA_POOLING_TYPE_MEAN
    build(self, *args, **kwargs)
llama_cpp.Llama.__init__ = pooled
runpy.run_module('llama_cpp.server', run_name='__main__', alter_sys=True)
";

/// A llama-cpp-python server on a free loopback port, killed when dropped.
struct PythonServer {
    child: Child,
    base: String,
}

impl PythonServer {
    fn start(python: &str, gguf: &Path, mean_pooling: bool) -> Self {
        let port = closed_port();
        let log = common::scratch("llama-cpp-python").join("server.log");
        let mut command = Command::new(python);
        if mean_pooling {
            command.args(["-c", MEAN_POOLING]);
        } else {
            command.args(["-m", "llama_cpp.server"]);
        }
        let child = command
            .arg("--model")
            .arg(gguf)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--n_ctx", "2048", "--embedding", "true"])
            // A passage is embedded in one batch: room for the longest.
            .args(["--n_batch", "2048", "--n_ubatch", "2048"])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("the Python of RAGBENCH_TEST_LLAMACPP_PYTHON starts");
        let mut server = Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
        };
        let started = Instant::now();
        loop {
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!(
                    "llama-cpp-python exited ({status}): {}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
            let up = std::net::TcpStream::connect(("127.0.0.1", port)).is_ok();
            if up {
                return server;
            }
            assert!(
                started.elapsed() < Duration::from_secs(120),
                "llama-cpp-python did not listen within 2 minutes"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for PythonServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A measured figure, shown with the test's output (stderr is not captured).
fn figure(what: &str, value: String) {
    let _ = writeln!(std::io::stderr(), "llama-cpp-python: {what}: {value}");
}

/// The `ragbench-server` under test.
struct Api {
    http: reqwest::Client,
    base: String,
}

impl Api {
    async fn post(&self, route: &str, token: &str, body: Value) -> (u16, Value) {
        let response = self
            .http
            .post(format!("{}{route}", self.base))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap();
        (response.status().as_u16(), response.json().await.unwrap())
    }

    async fn health(&self) -> Value {
        let response = self.http.get(format!("{}/health", self.base)).send().await;
        response.unwrap().json().await.unwrap()
    }
}

fn unit_length(v: &[f32]) -> bool {
    (v.iter().map(|x| x * x).sum::<f32>().sqrt() - 1.0).abs() < 1e-4
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_runs_on_llama_cpp_python_for_embeddings_and_answers() {
    let Ok(python) = std::env::var(PYTHON_VAR) else {
        skip(
            "the OpenAI-compatible backends against llama-cpp-python",
            "set RAGBENCH_TEST_LLAMACPP_PYTHON to a Python with llama-cpp-python[server]==0.3.36",
        );
        return;
    };
    let gguf = AssetCache::from_env()
        .answer_model()
        .expect("the SmolLM2 GGUF");
    let mut chat = PythonServer::start(&python, &gguf, false);
    let pooled = PythonServer::start(&python, &gguf, true);

    // As shipped, the server answers /v1/embeddings with a vector per token: refused, saying
    // what to change.
    let per_token = EmbedderConfig {
        backend: EmbedderBackend::Openai,
        url: Some(chat.base.clone()),
        ..EmbedderConfig::default()
    };
    let Err(err) = HttpEmbedder::connect(&per_token, Protocol::OpenAi).await else {
        panic!("per-token embeddings must be refused");
    };
    assert!(
        matches!(&err, EmbedError::Load(m) if m.contains("one vector per token") && m.contains("pooling")),
        "{err}"
    );

    // With mean pooling: one vector a text, the model's width, the same alone or in a batch.
    let cfg = EmbedderConfig {
        backend: EmbedderBackend::Openai,
        url: Some(format!("{}/v1", pooled.base)),
        batch_size: 4,
        ..EmbedderConfig::default()
    };
    let embedder = HttpEmbedder::connect(&cfg, Protocol::OpenAi).await.unwrap();
    assert_eq!(embedder.dimension(), 576, "SmolLM2-135M's hidden size");
    let texts: Vec<String> = (0..10)
        .map(|i| format!("Passage {i}: bun install reads package.json and writes bun.lock."))
        .collect();
    let started = Instant::now();
    let vectors = embedder.embed_batch(texts.clone()).await.unwrap();
    figure(
        "embeddings, 10 passages in batches of 4",
        format!("{:.0} ms", started.elapsed().as_secs_f64() * 1e3),
    );
    assert_eq!(vectors.len(), 10);
    assert!(vectors.iter().all(|v| unit_length(v)));
    let alone = embedder.embed_query(&texts[3]).await.unwrap();
    let cosine: f32 = alone.iter().zip(&vectors[3]).map(|(a, b)| a * b).sum();
    assert!(cosine > 0.999, "alone vs in a batch: cosine {cosine}");

    // Answers, streamed; the model is the one the server lists.
    let generator = OpenAiGenerator::connect(&GeneratorConfig {
        backend: GeneratorBackend::Openai,
        url: Some(chat.base.clone()),
        max_tokens: 24,
        ..GeneratorConfig::default()
    })
    .await
    .unwrap();
    assert!(
        generator.info().detail.contains("SmolLM2"),
        "{:?}",
        generator.info()
    );
    let passages = [
        hit(
            "installation.mdx",
            "To install Bun on Linux, run: curl -fsSL https://bun.sh/install | bash",
        ),
        hit(
            "cli/run.mdx",
            "bun run executes a package.json script or a file.",
        ),
    ];
    let started = Instant::now();
    let answer = generator
        .generate("How do I install Bun on Linux?", &passages)
        .await
        .unwrap();
    figure(
        "one answer, 2 passages",
        format!(
            "{:.0} ms, {} tokens: {:?}",
            started.elapsed().as_secs_f64() * 1e3,
            answer.tokens,
            answer.text
        ),
    );
    assert!(!answer.text.is_empty());
    assert!((1..=24).contains(&answer.tokens), "{}", answer.tokens);
    assert_eq!(answer.passages_used, 2);

    // The whole server on the two: configured from the environment as a container would be,
    // with the patience a 135M model on two shared cores needs.
    let secret = format!("openai-compat-{}", std::process::id());
    let corpus = common::corpus_subset(2);
    let roots = corpus.display().to_string();
    let embed_url = pooled.base.clone();
    let chat_url = chat.base.clone();
    let (mut server, _stdin, base) = common::start_with_env(
        &common::scratch("openai-compat-data"),
        &secret,
        &[],
        &[
            ("RAGBENCH_INGEST__ALLOWED_ROOTS", &roots),
            ("RAGBENCH_EMBEDDER__BACKEND", "openai"),
            ("RAGBENCH_EMBEDDER__URL", &embed_url),
            ("RAGBENCH_GENERATOR__BACKEND", "openai"),
            ("RAGBENCH_GENERATOR__URL", &chat_url),
            ("RAGBENCH_EMBEDDER__BATCH_SIZE", "8"),
            ("RAGBENCH_EMBEDDER__READ_TIMEOUT_SECS", "600"),
            ("RAGBENCH_GENERATOR__MAX_TOKENS", "16"),
            ("RAGBENCH_GENERATOR__CONTEXT_BUDGET_TOKENS", "256"),
            ("RAGBENCH_GENERATOR__READ_TIMEOUT_SECS", "300"),
            ("RAGBENCH_GENERATOR__TIMEOUT_SECS", "300"),
        ],
    );
    let api = Api {
        http: common::client(),
        base,
    };
    let started = Instant::now();
    let (status, ingested) = api
        .post(
            "/v1/ingest",
            &common::ingest_token(&secret, 600),
            json!({ "path": corpus }),
        )
        .await;
    assert_eq!(status, 200, "{ingested}");
    figure(
        "ingest of 2 corpus files",
        format!("{:.1} s: {ingested}", started.elapsed().as_secs_f64()),
    );
    assert!(ingested["chunks"].as_u64().unwrap() > 0, "{ingested}");
    let token = common::token(&secret, 600);
    let (status, search) = api
        .post(
            "/v1/search",
            &token,
            json!({ "query": "install bun", "top_k": 3 }),
        )
        .await;
    assert_eq!(status, 200, "{search}");
    assert_eq!(search["hits"].as_array().unwrap().len(), 3, "{search}");
    let started = Instant::now();
    let question = json!({ "question": "How do I install bun?", "top_k": 1 });
    let (status, answer) = api.post("/v1/query", &token, question).await;
    assert_eq!(status, 200, "{answer}");
    figure(
        "POST /v1/query through ragbench-server",
        format!("{:.1} s: {answer}", started.elapsed().as_secs_f64()),
    );
    assert!(!answer["answer"].as_str().unwrap().is_empty(), "{answer}");
    let health = api.health().await;
    assert_eq!(health["status"], "green", "{health}");
    assert_eq!(health["backends"]["embedder"]["name"], "openai-compatible");
    assert_eq!(health["backends"]["generator"]["state"], "up");

    // The answer server goes away: questions get 503 naming it, search goes on, health yellow.
    chat.stop();
    let question = json!({ "question": "What does bun run do?", "top_k": 1 });
    let (status, down) = api.post("/v1/query", &token, question).await;
    assert_eq!(status, 503, "{down}");
    let message = down["error"]["message"].as_str().unwrap();
    assert!(
        message.contains(&format!("openai-compatible at {chat_url}")),
        "{message}"
    );
    let health = api.health().await;
    assert_eq!(health["status"], "yellow", "{health}");
    assert_eq!(health["backends"]["generator"]["state"], "down", "{health}");
    let _ = server.kill();
    let _ = server.wait();
}
