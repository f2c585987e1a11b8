//! The query path's stages, each alone, so a regression shows here before a load run:
//! tokenize -> embed -> search -> serialize; then a whole cached `/v1/search` without the
//! network, as an exact repeat (the fast path) and through the router (JWT layer, JSON body,
//! cache key, metrics, Server-Timing), beside a trivial handler sending the same bytes.
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

/// The server's allocator (see `main.rs`), so the cached request costs here what it costs there.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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

    let app = ragbench_server::api::app(f.state.clone(), 1 << 20);
    let bearer = format!("Bearer {}", token());
    let body = format!(r#"{{"query": "{}"}}"#, QUERIES[0]);
    // As a client sends it: hyper hands the server a `content-length` header.
    let request = || {
        Request::post("/v1/search")
            .header(header::AUTHORIZATION, &bearer)
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::CONTENT_LENGTH, body.len())
            .body(Body::from(body.clone()))
            .expect("request")
    };
    // The first is computed, the second a hit through the router that teaches the fast path
    // this body; from the third on, exact repeats are answered in front of the router.
    for _ in 0..2 {
        let status =
            f.rt.block_on(app.clone().oneshot(request()))
                .expect("response")
                .status();
        assert!(status.is_success(), "priming search answered {status}");
    }
    let send = |app: ragbench_server::api::fast_path::App, request: Request<Body>| async move {
        let response = app.oneshot(request).await.expect("response");
        axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("body")
    };
    group.bench_function("cached_request", |b| {
        b.iter(|| f.rt.block_on(send(app.clone(), request())))
    });
    // Without `content-length` the fast path steps aside: the hit through the whole router
    // (middleware, JWT layer, JSON body, key), as a case or spacing variant of a query takes.
    group.bench_function("cached_request_router", |b| {
        b.iter(|| {
            let mut request = request();
            request.headers_mut().remove(header::CONTENT_LENGTH);
            f.rt.block_on(send(app.clone(), request))
        })
    });
    // The floor: a router whose one handler sends the same bytes (as `examples/static_json`).
    let answer = f.rt.block_on(send(app.clone(), request()));
    let trivial = axum::Router::new().route(
        "/v1/search",
        axum::routing::post(move || {
            let answer = answer.clone();
            async move { ([(header::CONTENT_TYPE, "application/json")], answer) }
        }),
    );
    group.bench_function("trivial_request", |b| {
        b.iter(|| {
            f.rt.block_on(async {
                let response = trivial.clone().oneshot(request()).await.expect("response");
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
