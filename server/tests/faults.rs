//! Backend faults: an answer generator that is down or slow gives 503 / 504 within its
//! deadline, the server keeps serving (search included), `/health` turns yellow while the
//! generator fails and green again with its first answer; a store that cannot write gives 503
//! and a red `/health` until a write reaches the disk again.
//!
//! The generator tests run the server in this process (the real router, embedder,
//! qdrant-edge store and JWTs) with one test double: [`FaultyGenerator`], because the real
//! generator (llama.cpp in process) cannot be made to go down or stall on demand. The store
//! test needs none: the real server binary, its data folder moved away and back.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{client, ingest_token, scratch, token};
use ragbench_server::backend::{BackendInfo, BackendState};
use ragbench_server::config::{Config, GeneratorBackend};
use ragbench_server::generate::{GenerateError, Generation, Generator};
use ragbench_server::state::AppState;
use ragbench_server::store::Hit;
use serde_json::{Value, json};

/// The deadline the test server gives the generator.
const TIMEOUT: Duration = Duration::from_secs(1);

/// How the double behaves.
#[derive(Debug, Clone, Copy)]
enum Mode {
    /// Answers at once.
    Up,
    /// Refuses every call, as a generator server that is down would.
    Down,
    /// Answers after this long.
    Slow(Duration),
}

/// Test double of a generator backend that is up, down or slow on demand.
struct FaultyGenerator {
    mode: Mutex<Mode>,
    calls: AtomicUsize,
}

impl FaultyGenerator {
    fn set(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
    }
}

#[async_trait::async_trait]
impl Generator for FaultyGenerator {
    async fn generate(
        &self,
        question: &str,
        passages: &[Hit],
    ) -> Result<Generation, GenerateError> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        let mode = *self.mode.lock().unwrap();
        match mode {
            Mode::Up => {}
            Mode::Down => {
                return Err(GenerateError::Unavailable(
                    "connection refused (FaultyGenerator test double)".into(),
                ));
            }
            Mode::Slow(d) => tokio::time::sleep(d).await,
        }
        Ok(Generation {
            text: format!("an answer to {question:?}"),
            tokens: 4,
            prompt_tokens: 10,
            passages_used: passages.len(),
        })
    }

    fn info(&self) -> BackendInfo {
        BackendInfo {
            name: "faulty".into(),
            state: BackendState::Up,
            detail: "FaultyGenerator test double".into(),
        }
    }
}

struct Fixture {
    base: String,
    reader: String,
    generator: Arc<FaultyGenerator>,
}

/// Builds the real state with the double as its generator and serves it on loopback.
async fn serve() -> Fixture {
    let secret = format!("faults-secret-{}", std::process::id());
    let corpus = common::corpus_subset(3);
    let mut cfg = Config::default();
    cfg.auth.jwt_secret = Some(secret.clone());
    cfg.server.data_dir = scratch("faults-data");
    cfg.generator.backend = GeneratorBackend::Disabled;
    cfg.ingest.allowed_roots = vec![corpus.clone()];
    let generator = Arc::new(FaultyGenerator {
        mode: Mutex::new(Mode::Up),
        calls: AtomicUsize::new(0),
    });
    let double = Arc::clone(&generator);
    let metrics = metrics_exporter_prometheus::PrometheusBuilder::new()
        .build_recorder()
        .handle();
    let state = AppState::build(&cfg, metrics)
        .await
        .expect("the real stages load")
        .with_generator(double, TIMEOUT);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = ragbench_server::api::app(state, 64 * 1024);
    tokio::spawn(async move {
        axum::serve(
            listener,
            axum::ServiceExt::<axum::extract::Request>::into_make_service(app),
        )
        .await
    });

    let resp = client()
        .post(format!("{base}/v1/ingest"))
        .bearer_auth(ingest_token(&secret, 600))
        .json(&json!({ "path": corpus }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
    Fixture {
        base,
        reader: token(&secret, 600),
        generator,
    }
}

impl Fixture {
    async fn post(&self, route: &str, body: Value) -> (u16, Value, Duration) {
        let started = Instant::now();
        let resp = client()
            .post(format!("{}{route}", self.base))
            .bearer_auth(&self.reader)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let body = resp.json().await.unwrap();
        (status, body, started.elapsed())
    }

    async fn query(&self, question: &str) -> (u16, Value, Duration) {
        self.post("/v1/query", json!({ "question": question }))
            .await
    }

    async fn health(&self) -> (u16, Value) {
        let resp = client()
            .get(format!("{}/health", self.base))
            .send()
            .await
            .unwrap();
        (resp.status().as_u16(), resp.json().await.unwrap())
    }

    /// `/health` is `status` (HTTP 200) with the generator `generator_state`, the store and
    /// the embedder up.
    async fn assert_health(&self, status: &str, generator_state: &str) -> Value {
        let (code, health) = self.health().await;
        assert_eq!(code, 200, "{health}");
        assert_eq!(health["status"], status, "{health}");
        assert_eq!(
            health["backends"]["generator"]["state"], generator_state,
            "{health}"
        );
        assert_eq!(health["backends"]["store"]["state"], "up", "{health}");
        assert_eq!(health["backends"]["embedder"]["state"], "up", "{health}");
        health
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failing_generator_is_bounded_reported_and_recovered_from() {
    let f = serve().await;

    // Up: answers, green.
    let (status, body, _) = f.query("How do I run tests?").await;
    assert_eq!(status, 200, "{body}");
    f.assert_health("green", "up").await;

    // Down: 503 at once, yellow naming the cause; search is untouched.
    f.generator.set(Mode::Down);
    let (status, body, took) = f.query("How do I install bun?").await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "unavailable", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("connection refused"),
        "{body}"
    );
    assert!(took < TIMEOUT, "a refusal is not waited for: {took:?}");
    let health = f.assert_health("yellow", "down").await;
    let detail = health["backends"]["generator"]["detail"].as_str().unwrap();
    assert!(detail.contains("connection refused"), "{detail}");
    let (status, body, _) = f
        .post("/v1/search", json!({ "query": "install bun", "top_k": 3 }))
        .await;
    assert_eq!(
        status, 200,
        "search works while the generator is down: {body}"
    );
    assert!(!body["hits"].as_array().unwrap().is_empty(), "{body}");

    // Slow: 504 at the deadline, not when the backend gets round to it.
    f.generator.set(Mode::Slow(Duration::from_secs(30)));
    let (status, body, took) = f.query("What is bunx?").await;
    assert_eq!(status, 504, "{body}");
    assert_eq!(body["error"]["code"], "timeout", "{body}");
    assert!(
        took >= TIMEOUT && took < TIMEOUT + Duration::from_secs(2),
        "answered at the deadline: {took:?}"
    );
    f.assert_health("yellow", "down").await;

    // A burst against the slow backend: every request ends within the deadline, with 504
    // (had a queue place) or 429 (queue full: `max_queue` 8 + the one running); none hangs.
    let started = Instant::now();
    let burst: Vec<_> = (0..14)
        .map(|i| {
            let base = f.base.clone();
            let reader = f.reader.clone();
            tokio::spawn(async move {
                client()
                    .post(format!("{base}/v1/query"))
                    .bearer_auth(reader)
                    .json(&json!({ "question": format!("burst question {i}") }))
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for request in burst {
        statuses.push(request.await.unwrap());
    }
    assert!(
        started.elapsed() < TIMEOUT + Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert!(
        statuses.iter().all(|s| *s == 504 || *s == 429),
        "{statuses:?}"
    );
    assert!(
        statuses.iter().filter(|s| **s == 504).count() <= 9,
        "{statuses:?}"
    );
    assert!(statuses.contains(&429), "{statuses:?}");
    f.assert_health("yellow", "down").await;

    // Back: the next question is answered and health is green again.
    f.generator.set(Mode::Up);
    let (status, body, _) = f.query("How do I write a snapshot test?").await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body["answer"].as_str().unwrap().contains("snapshot"),
        "{body}"
    );
    let health = f.assert_health("green", "up").await;
    assert_eq!(
        health["backends"]["generator"]["detail"],
        "FaultyGenerator test double"
    );
    assert!(f.generator.calls.load(Ordering::Relaxed) >= 4);
}

/// The store's folder moved away under a running server and brought back (a volume that
/// went away, a cleanup script gone wrong): a real failure of the real store, no double.
#[test]
fn a_store_that_cannot_write_turns_health_red_and_recovers() {
    let corpus = common::corpus_subset(3);
    let more = scratch("faults-more");
    std::fs::write(
        more.join("a.md"),
        "# A\n\nA page written while the store was away.\n",
    )
    .unwrap();
    let data = scratch("faults-store-data");
    let secret = "faults-store-secret";
    let roots = serde_json::to_string(&[&corpus, &more]).unwrap();
    let (mut child, _stdin, base) = common::start_with_env(
        &data,
        secret,
        &["--no-generator"],
        &[("RAGBENCH_INGEST__ALLOWED_ROOTS", &roots)],
    );
    let rt = tokio::runtime::Runtime::new().unwrap();
    let vectors = rt.block_on(async {
        let api = StoreApi {
            base: base.clone(),
            writer: ingest_token(secret, 600),
            reader: token(secret, 600),
        };
        let (status, first) = api.ingest(&corpus).await;
        assert_eq!(status, 200, "{first}");
        let (status, health) = api.health().await;
        assert_eq!(
            (status, &health["status"]),
            (200, &json!("green")),
            "{health}"
        );

        std::fs::rename(data.join("qdrant"), data.join("qdrant-away")).unwrap();

        // Red, with the reason; reads go on; writes fail with a 503 that names no internals.
        let (status, health) = api.health().await;
        assert_eq!(
            (status, &health["status"]),
            (503, &json!("red")),
            "{health}"
        );
        assert_eq!(health["backends"]["store"]["state"], "down", "{health}");
        let detail = health["backends"]["store"]["detail"].as_str().unwrap();
        assert!(detail.contains("folder is gone"), "{detail}");
        let (status, body) = api.search().await;
        assert_eq!(status, 200, "reads are served from memory: {body}");
        let (status, body) = api.ingest(&more).await;
        assert_eq!(status, 503, "{body}");
        assert_eq!(body["error"]["code"], "unavailable", "{body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(
            message.contains("could not be written to disk"),
            "{message}"
        );
        for internal in ["panicked", "backtrace", "ServiceError"] {
            assert!(!message.contains(internal), "{message}");
        }

        // Back: still red until a write reaches the disk, then green with everything stored.
        std::fs::rename(data.join("qdrant-away"), data.join("qdrant")).unwrap();
        let (status, health) = api.health().await;
        assert_eq!(status, 503, "{health}");
        let detail = health["backends"]["store"]["detail"].as_str().unwrap();
        assert!(detail.contains("not reaching the disk"), "{detail}");
        let (status, body) = api.ingest(&more).await;
        assert_eq!(status, 200, "{body}");
        let (status, health) = api.health().await;
        assert_eq!(
            (status, &health["status"]),
            (200, &json!("green")),
            "{health}"
        );
        let vectors = health["vectors"].as_u64().unwrap();
        assert!(vectors > first["vectors"].as_u64().unwrap(), "{health}");
        vectors
    });
    assert!(
        child.try_wait().unwrap().is_none(),
        "the server kept running"
    );

    // What it acknowledged is on disk: killed and restarted, it has all of it.
    child.kill().unwrap();
    child.wait().unwrap();
    let (_child, _stdin, base) = common::start_with_env(&data, secret, &["--no-generator"], &[]);
    rt.block_on(async {
        let health: Value = client()
            .get(format!("{base}/health"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(health["vectors"], vectors, "{health}");
    });
}

struct StoreApi {
    base: String,
    writer: String,
    reader: String,
}

impl StoreApi {
    async fn send(req: reqwest::RequestBuilder) -> (u16, Value) {
        let resp = req.send().await.expect("the server answers");
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap())
    }

    async fn ingest(&self, dir: &std::path::Path) -> (u16, Value) {
        Self::send(
            client()
                .post(format!("{}/v1/ingest", self.base))
                .bearer_auth(&self.writer)
                .json(&json!({ "path": dir })),
        )
        .await
    }

    async fn search(&self) -> (u16, Value) {
        Self::send(
            client()
                .post(format!("{}/v1/search", self.base))
                .bearer_auth(&self.reader)
                .json(&json!({ "query": "install" })),
        )
        .await
    }

    async fn health(&self) -> (u16, Value) {
        Self::send(client().get(format!("{}/health", self.base))).await
    }
}
