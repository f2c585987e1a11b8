//! Crashes: the real server binary killed with SIGKILL in the middle of an ingest and in the
//! middle of a burst of searches, restarted on the same data folder.
//!
//! After a kill mid-ingest the collection opens, re-ingesting the folder brings it to exactly
//! what a clean ingest into a fresh folder gives (the same count per source: nothing lost,
//! nothing twice). After a kill during searches the clients see the failures (connection
//! errors, never a hang) and the restarted server gives the same results, ids and scores.

mod common;

use std::path::Path;
use std::process::{Child, ChildStdin};
use std::time::{Duration, Instant};

use common::{client, ingest_token, scratch, start_with_env, token};
use serde_json::{Value, json};

const SECRET: &str = "crash-secret";

struct Running {
    base: String,
    child: Child,
    _stdin: ChildStdin,
}

/// Starts the real binary on `data`, allowed to ingest `corpus`.
fn start(data: &Path, corpus: &Path) -> Running {
    let roots = corpus.display().to_string();
    let (child, stdin, base) = start_with_env(
        data,
        SECRET,
        &["--no-generator"],
        &[("RAGBENCH_INGEST__ALLOWED_ROOTS", &roots)],
    );
    Running {
        base,
        child,
        _stdin: stdin,
    }
}

impl Running {
    /// SIGKILL, and reap it.
    fn kill(mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reaped");
    }

    async fn get(&self, route: &str, token: Option<&str>) -> (u16, Value) {
        let mut req = client().get(format!("{}{route}", self.base));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        let resp = req.send().await.unwrap();
        (resp.status().as_u16(), resp.json().await.unwrap())
    }

    async fn ingest(&self, corpus: &Path, wait: bool) -> (u16, Value) {
        let resp = client()
            .post(format!("{}/v1/ingest", self.base))
            .bearer_auth(ingest_token(SECRET, 600))
            .json(&json!({ "path": corpus, "source": "docs", "wait": wait }))
            .send()
            .await
            .unwrap();
        (resp.status().as_u16(), resp.json().await.unwrap())
    }

    async fn health(&self) -> Value {
        let (status, health) = self.get("/health", None).await;
        assert_eq!(status, 200, "{health}");
        health
    }

    async fn sources(&self) -> Value {
        let (status, body) = self.get("/v1/sources", Some(&token(SECRET, 600))).await;
        assert_eq!(status, 200, "{body}");
        body["sources"].clone()
    }

    async fn search(&self, query: &str) -> Vec<(String, f32)> {
        let resp = client()
            .post(format!("{}/v1/search", self.base))
            .bearer_auth(token(SECRET, 600))
            .json(&json!({ "query": query, "top_k": 5 }))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let body: Value = resp.json().await.unwrap();
        body["hits"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| {
                (
                    h["id"].as_str().unwrap().to_string(),
                    h["score"].as_f64().unwrap() as f32,
                )
            })
            .collect()
    }
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Runtime::new().unwrap()
}

#[test]
fn killed_mid_ingest_then_reingested_equals_a_clean_ingest() {
    let corpus = common::corpus_subset(40);
    let data = scratch("crash-ingest-data");
    rt().block_on(async {
        // Start ingesting as a job, and kill the server once some passages are written but
        // not all.
        let server = start(&data, &corpus);
        let (status, started) = server.ingest(&corpus, false).await;
        assert_eq!(status, 202, "{started}");
        let route = format!("/v1/ingest/{}", started["job"].as_str().unwrap());
        let writer = ingest_token(SECRET, 600);
        let deadline = Instant::now() + Duration::from_secs(600);
        let written = loop {
            let (_, view) = server.get(&route, Some(&writer)).await;
            let progress = &view["progress"];
            let embedded = progress["embedded"].as_u64().unwrap();
            let to_embed = progress["to_embed"].as_u64().unwrap();
            assert_ne!(
                view["state"], "done",
                "the ingest finished before it could be killed: {view}"
            );
            assert_ne!(view["state"], "failed", "{view}");
            if embedded > 0 && embedded < to_embed {
                break embedded;
            }
            assert!(Instant::now() < deadline, "no progress: {view}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        server.kill();

        // Restarted on the same folder: the collection opens with what was written.
        let server = start(&data, &corpus);
        let health = server.health().await;
        assert_eq!(health["status"], "green", "{health}");
        assert_eq!(health["collectionExists"], true, "{health}");
        assert_eq!(health["backends"]["store"]["state"], "up", "{health}");
        let survived = health["vectors"].as_u64().unwrap();
        assert!(
            survived >= written,
            "{written} passages were reported written before the kill, {survived} survived"
        );

        // Re-ingesting completes it.
        let (status, resumed) = server.ingest(&corpus, true).await;
        assert_eq!(status, 200, "{resumed}");
        let chunks = resumed["chunks"].as_u64().unwrap();
        assert!(
            survived < chunks,
            "the kill came before the end: {survived} of {chunks}"
        );
        assert_eq!(
            resumed["upserted"].as_u64().unwrap() + survived,
            chunks,
            "only what was missing is embedded: {resumed}"
        );
        assert_eq!(resumed["deleted"], 0, "{resumed}");
        let resumed_sources = server.sources().await;
        let resumed_vectors = server.health().await["vectors"].clone();
        server.kill();

        // A clean ingest of the same folder into a fresh data folder.
        let clean = start(&scratch("crash-clean-data"), &corpus);
        let (status, fresh) = clean.ingest(&corpus, true).await;
        assert_eq!(status, 200, "{fresh}");
        assert_eq!(fresh["chunks"].as_u64().unwrap(), chunks);
        assert_eq!(fresh["vectors"], resumed["vectors"], "{fresh} vs {resumed}");
        assert_eq!(clean.health().await["vectors"], resumed_vectors);
        assert_eq!(clean.sources().await, resumed_sources);
        assert_eq!(
            resumed_sources,
            json!([{ "name": "docs", "passages": chunks }])
        );
        clean.kill();
    });
}

/// Fixed queries whose results are compared across the kill.
const QUERIES: [&str; 6] = [
    "how do I install bun",
    "run a test file",
    "environment variables",
    "bundle a typescript project",
    "write a file to disk",
    "http server",
];

#[test]
fn killed_during_searches_then_the_same_results() {
    let corpus = common::corpus_subset(20);
    let data = scratch("crash-search-data");
    rt().block_on(async {
        let server = start(&data, &corpus);
        let (status, ingested) = server.ingest(&corpus, true).await;
        assert_eq!(status, 200, "{ingested}");
        let mut before = Vec::new();
        for q in QUERIES {
            let hits = server.search(q).await;
            assert_eq!(hits.len(), 5, "{q}");
            before.push(hits);
        }
        let vectors = server.health().await["vectors"].clone();

        // A burst of searches (each unique, so none is a cache hit), killed half-way.
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        let users: Vec<_> = (0..12)
            .map(|u| {
                let http = http.clone();
                let url = format!("{}/v1/search", server.base);
                let token = token(SECRET, 600);
                tokio::spawn(async move {
                    let (mut ok, mut failed) = (0u32, Vec::new());
                    for i in 0.. {
                        let sent = http
                            .post(&url)
                            .bearer_auth(&token)
                            .json(&json!({ "query": format!("install bun {u} {i}") }))
                            .send()
                            .await;
                        match sent {
                            Ok(resp) if resp.status() == 200 => match resp.bytes().await {
                                Ok(_) => ok += 1,
                                Err(e) => failed.push(e),
                            },
                            Ok(resp) => panic!("a live server answered {}", resp.status()),
                            Err(e) => failed.push(e),
                        }
                        if failed.len() >= 3 {
                            break;
                        }
                    }
                    (ok, failed)
                })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let killed = Instant::now();
        server.kill();
        let mut answered = 0;
        for user in users {
            let (ok, failed) = tokio::time::timeout(Duration::from_secs(60), user)
                .await
                .expect("every client notices the kill instead of hanging")
                .unwrap();
            answered += ok;
            assert!(
                failed.iter().all(|e| !e.is_timeout()),
                "connection errors, not timeouts: {failed:?}"
            );
        }
        assert!(answered > 0, "the burst was under way when the server died");
        assert!(killed.elapsed() < Duration::from_secs(30));

        // Restarted: the same collection, the same answers.
        let server = start(&data, &corpus);
        let health = server.health().await;
        assert_eq!(health["status"], "green", "{health}");
        assert_eq!(health["vectors"], vectors, "{health}");
        for (q, expected) in QUERIES.iter().zip(&before) {
            let after = server.search(q).await;
            let ids = |hits: &[(String, f32)]| hits.iter().map(|h| h.0.clone()).collect::<Vec<_>>();
            assert_eq!(ids(&after), ids(expected), "{q}");
            for ((_, a), (_, b)) in after.iter().zip(expected) {
                assert!((a - b).abs() < 1e-5, "{q}: score {a} vs {b}");
            }
        }
        server.kill();
    });
}
