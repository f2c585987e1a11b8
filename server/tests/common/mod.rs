//! A real `ragbench-server` on 127.0.0.1 for the integration tests: real model, real
//! qdrant-edge store, real JWTs, the first 30 files of the real corpus.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{EncodingKey, Header, encode};
use serde_json::{Value, json};

/// A running server and what was ingested into it.
pub struct TestServer {
    pub base: String,
    pub secret: String,
    pub corpus: PathBuf,
    pub ingest: Value,
    pub child: Child,
    // Dropping stdin (when the test process exits) shuts the server down.
    _stdin: ChildStdin,
}

/// A unique scratch folder.
pub fn scratch(name: &str) -> PathBuf {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let dir =
        std::env::temp_dir().join(format!("ragbench-it-{name}-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Copies the first `n` markdown files of the real corpus (in walk order) into a new folder.
pub fn corpus_subset(n: usize) -> PathBuf {
    let corpus = ragbench_server::assets::AssetCache::from_env()
        .corpus()
        .expect("the corpus can be fetched with npm");
    let out = scratch("corpus");
    let files = walkdir::WalkDir::new(&corpus)
        .sort_by_file_name()
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .filter(|e| {
            let p = e.path().to_string_lossy();
            p.ends_with(".md") || p.ends_with(".mdx")
        })
        .take(n);
    for entry in files {
        let rel = entry.path().strip_prefix(&corpus).unwrap();
        let dest = out.join(rel);
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        std::fs::copy(entry.path(), dest).unwrap();
    }
    out
}

/// Starts `ragbench-server serve` on a free loopback port; returns once it listens.
pub fn start(data_dir: &Path, secret: &str, extra: &[&str]) -> (Child, ChildStdin, String) {
    start_with_env(data_dir, secret, extra, &[])
}

/// [`start`] with extra environment (configuration overrides).
pub fn start_with_env(
    data_dir: &Path,
    secret: &str,
    extra: &[&str],
    env: &[(&str, &str)],
) -> (Child, ChildStdin, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ragbench-server"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--exit-on-stdin-close",
            "--data-dir",
        ])
        .arg(data_dir)
        .args(extra)
        .env("RAGBENCH_JWT_SECRET", secret)
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("ragbench-server starts");
    let stdin = child.stdin.take().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let line = lines
        .next()
        .expect("server printed its address")
        .expect("readable stdout");
    let base = line
        .strip_prefix("ragbench-server listening on ")
        .unwrap_or_else(|| panic!("unexpected first line: {line}"))
        .to_string();
    (child, stdin, base)
}

/// The shared server of this test binary, started and loaded once.
pub fn server() -> &'static TestServer {
    static SERVER: OnceLock<TestServer> = OnceLock::new();
    SERVER.get_or_init(|| {
        // Built on its own thread: the caller may be inside a tokio runtime.
        std::thread::spawn(|| {
            let secret = format!("test-secret-{}", std::process::id());
            let corpus = corpus_subset(30);
            let roots = corpus.display().to_string();
            let (child, stdin, base) = start_with_env(
                &scratch("data"),
                &secret,
                &[],
                &[("RAGBENCH_INGEST__ALLOWED_ROOTS", &roots)],
            );
            let rt = tokio::runtime::Runtime::new().unwrap();
            let ingest = rt.block_on(async {
                let resp = client()
                    .post(format!("{base}/v1/ingest"))
                    .bearer_auth(ingest_token(&secret, 3600))
                    .json(&json!({ "path": corpus }))
                    .send()
                    .await
                    .expect("ingest request");
                assert_eq!(resp.status(), 200, "ingest failed");
                resp.json::<Value>().await.unwrap()
            });
            TestServer {
                base,
                secret,
                corpus,
                ingest,
                child,
                _stdin: stdin,
            }
        })
        .join()
        .expect("test server starts")
    })
}

/// An HTTP client with a generous timeout (answer generation on 2 cores takes seconds).
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(300))
        .build()
        .unwrap()
}

/// The `/metrics` page of the server at `base`.
pub async fn metrics_text(base: &str) -> String {
    client()
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// The value of one series (`name{labels}` exactly as `/metrics` writes it) of the server at
/// `base`; 0 when it is not there.
pub async fn metric(base: &str, name_and_labels: &str) -> f64 {
    metrics_text(base)
        .await
        .lines()
        .find_map(|l| {
            l.strip_prefix(name_and_labels)
                .map(|v| v.trim().parse::<f64>().unwrap())
        })
        .unwrap_or(0.0)
}

/// A valid HS256 token expiring in `ttl_secs` (negative: already expired).
pub fn token(secret: &str, ttl_secs: i64) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    encode(
        &Header::default(),
        &json!({ "sub": "tester", "iat": now, "exp": now + ttl_secs }),
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

/// Unix seconds now.
pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A valid token that may also ingest (`"scope": "ingest"`).
pub fn ingest_token(secret: &str, ttl_secs: i64) -> String {
    let now = now();
    signed(
        secret,
        &json!({ "sub": "tester", "iat": now, "exp": now + ttl_secs, "scope": "ingest" }),
    )
}

/// `claims` signed with HS256 and `secret`.
pub fn signed(secret: &str, claims: &Value) -> String {
    encode(
        &Header::default(),
        claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}
