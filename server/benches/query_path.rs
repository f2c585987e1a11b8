//! The query path's stages, each alone, so a regression shows here before a load run:
//! tokenize -> embed -> search -> serialize, and a whole cached `/v1/search` through the
//! router (JWT check, cache lookup, metrics, Server-Timing) without the network.
//!
//! Real parts throughout: the cached all-MiniLM-L6-v2 model, a qdrant-edge store holding the
//! first 30 files of the real corpus, the real router and JWT verifier.
//!
//! ```sh
//! cargo bench -p ragbench-server --bench query_path
//! ```

use std::hint::black_box;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::http::{Request, header};
use criterion::{Criterion, criterion_group, criterion_main};
use ragbench_server::api::handlers::SearchResponse;
use ragbench_server::assets::AssetCache;
use ragbench_server::config::{Config, GeneratorBackend};
use ragbench_server::ingest::IngestLimits;
use ragbench_server::state::AppState;
use ragbench_server::store::{SearchFilter, SearchMethod};
use tower::ServiceExt;

const SECRET: &str = "bench-secret-bench-secret-bench!";

/// Questions like the load's (not in the corpus verbatim).
const QUERIES: [&str; 4] = [
    "How do I install bun on Linux?",
    "run a script with environment variables from a .env file",
    "What does bun build --compile produce?",
    "websocket server with pub/sub topics",
];

struct Fixture {
    rt: tokio::runtime::Runtime,
    state: AppState,
    tokenizer: tokenizers::Tokenizer,
    _data: tempfile::TempDir,
}

fn fixture() -> Fixture {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let data = tempfile::tempdir().expect("temp dir");
    let mut cfg = Config::default();
    cfg.server.data_dir = data.path().to_path_buf();
    cfg.auth.jwt_secret = Some(SECRET.into());
    cfg.generator.backend = GeneratorBackend::Disabled;
    let metrics = ragbench_server::cli::install_metrics().expect("metrics recorder");
    let state = rt
        .block_on(AppState::build(&cfg, metrics))
        .expect("server state");
    let assets = AssetCache::from_env();
    let corpus = assets.corpus().expect("the corpus can be fetched with npm");
    let subset = data.path().join("docs");
    for entry in walkdir::WalkDir::new(&corpus)
        .sort_by_file_name()
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file() && e.path().extension().is_some_and(|x| x == "mdx"))
        .take(30)
    {
        let dest = subset.join(
            entry
                .path()
                .strip_prefix(&corpus)
                .expect("under the corpus"),
        );
        std::fs::create_dir_all(dest.parent().expect("a parent")).expect("mkdir");
        std::fs::copy(entry.path(), dest).expect("copy");
    }
    rt.block_on(
        state
            .ingestor
            .ingest_dir(&subset, Some("docs"), false, IngestLimits::default()),
    )
    .expect("ingest");
    let mut tokenizer = tokenizers::Tokenizer::from_file(
        assets
            .tokenizer_dir()
            .expect("model files")
            .join("tokenizer.json"),
    )
    .expect("tokenizer");
    tokenizer.with_padding(None);
    Fixture {
        rt,
        state,
        tokenizer,
        _data: data,
    }
}

fn token() -> String {
    let exp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs()
        + 3_600;
    jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &serde_json::json!({ "sub": "bench", "exp": exp }),
        &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .expect("token")
}

fn stages(c: &mut Criterion) {
    let f = fixture();
    let filter = SearchFilter::default();
    let mut group = c.benchmark_group("query_path");

    let mut i = 0;
    group.bench_function("tokenize", |b| {
        b.iter(|| {
            i += 1;
            black_box(f.tokenizer.encode(QUERIES[i % QUERIES.len()], true)).ok()
        })
    });

    group.bench_function("embed", |b| {
        b.iter(|| {
            i += 1;
            f.rt.block_on(f.state.embedder.embed_query(QUERIES[i % QUERIES.len()]))
                .expect("embedding")
        })
    });

    let vector =
        f.rt.block_on(f.state.embedder.embed_query(QUERIES[0]))
            .expect("embedding");
    group.bench_function("search", |b| {
        b.iter(|| {
            f.rt.block_on(f.state.store.search(
                QUERIES[0],
                vector.clone(),
                5,
                &filter,
                SearchMethod::Index,
            ))
            .expect("search")
        })
    });

    let hits = f
        .rt
        .block_on(
            f.state
                .store
                .search(QUERIES[0], vector.clone(), 5, &filter, SearchMethod::Index),
        )
        .expect("search");
    let response = SearchResponse {
        hits,
        cached: false,
    };
    group.bench_function("serialize", |b| {
        b.iter(|| serde_json::to_vec(black_box(&response)).expect("serializes"))
    });

    let app = ragbench_server::api::router(f.state.clone(), 1 << 20);
    let bearer = format!("Bearer {}", token());
    let request = || {
        Request::post("/v1/search")
            .header(header::AUTHORIZATION, &bearer)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(format!(r#"{{"query": "{}"}}"#, QUERIES[0])))
            .expect("request")
    };
    let status =
        f.rt.block_on(app.clone().oneshot(request()))
            .expect("response")
            .status();
    assert!(status.is_success(), "priming search answered {status}");
    group.bench_function("cached_request", |b| {
        b.iter(|| {
            f.rt.block_on(async {
                let response = app.clone().oneshot(request()).await.expect("response");
                axum::body::to_bytes(response.into_body(), usize::MAX)
                    .await
                    .expect("body")
            })
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(50);
    targets = stages
}
criterion_main!(benches);
