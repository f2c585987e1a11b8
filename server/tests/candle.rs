//! The candle embedder on the CPU, against the real model files: it must agree with the ONNX
//! embedder's published graph (same model: int8-stored weights multiplied in f32, vs fp32
//! weights), the default int8 graph must rank passages as the published one does, and the
//! binary's `probe` must run candle and refuse CUDA with a clear message in a build without
//! the `cuda` feature.

use std::process::Command;

use ragbench_server::assets::AssetCache;
use ragbench_server::config::{CandleDtype, EmbedderBackend, EmbedderConfig};
use ragbench_server::embed;
use ragbench_server::ingest::{Chunker, markdown};

const TEXTS: &[&str] = &[
    "How do I run a TypeScript file with Bun?",
    "Which flags does bun test accept for watching files?",
    "Bun.serve starts an HTTP server; the fetch handler receives a Request and returns a Response.",
    "bun install reads package.json, resolves every dependency and writes bun.lock.",
    "How do I write a SQLite query with bun:sqlite?",
];

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// The ONNX embedder on the published graph, whose arithmetic is f32 like candle's.
fn published_onnx() -> EmbedderConfig {
    EmbedderConfig {
        quantized: false,
        ..EmbedderConfig::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn candle_on_the_cpu_agrees_with_the_onnx_embedder() {
    let assets = AssetCache::from_env();
    let onnx = embed::build(&published_onnx(), &assets)
        .await
        .expect("fastembed loads");
    let candle_cfg = EmbedderConfig {
        backend: EmbedderBackend::Candle,
        ..EmbedderConfig::default()
    };
    let candle = embed::build(&candle_cfg, &assets)
        .await
        .expect("candle loads on the CPU");
    assert_eq!(candle.info().name, "candle-cpu");
    assert_eq!(candle.dimension(), 384);

    let texts: Vec<String> = TEXTS.iter().map(|t| t.to_string()).collect();
    let reference = onnx.embed_batch(texts.clone()).await.unwrap();
    let batched = candle.embed_batch(texts.clone()).await.unwrap();
    assert_eq!(batched.len(), TEXTS.len());
    for (i, text) in TEXTS.iter().enumerate() {
        let one = candle.embed_query(text).await.unwrap();
        let norm = one.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-4, "{text}: norm {norm}");
        // The int8 storage of the weights is the whole gap: 0.998 or better on passages.
        let agree = cosine(&one, &reference[i]);
        assert!(agree > 0.99, "{text}: candle vs ONNX cosine {agree}");
        // A query alone and the same text padded inside a batch give the same vector.
        let same = cosine(&one, &batched[i]);
        assert!(same > 0.9999, "{text}: alone vs batched cosine {same}");
    }
    // Different texts stay apart: pooling over padding would pull them together.
    assert!(cosine(&batched[0], &batched[3]) < 0.9);
}

/// The first `n` passages of the corpus (files in path order), as the ingestor embeds them:
/// the heading line, then the text, in windows of 256 tokens.
fn corpus_passages(n: usize) -> Vec<String> {
    let assets = AssetCache::from_env();
    let corpus = assets.corpus().expect("the corpus can be fetched with npm");
    let tokenizer = assets.tokenizer_dir().unwrap().join("tokenizer.json");
    let chunker = Chunker::load(&tokenizer, 256, 0).unwrap();
    let mut passages = Vec::new();
    let files = walkdir::WalkDir::new(&corpus)
        .sort_by_file_name()
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| {
            e.path()
                .extension()
                .is_some_and(|x| x == "md" || x == "mdx")
        });
    for file in files {
        let source = std::fs::read_to_string(file.path()).unwrap();
        let doc = markdown::parse(&source, "page");
        for section in &doc.sections {
            let heading = format!("{} > {}", doc.title, section.heading);
            for window in chunker.split(&section.text, chunker.count(&heading)) {
                passages.push(format!("{heading}\n{window}"));
                if passages.len() == n {
                    return passages;
                }
            }
        }
    }
    passages
}

/// The `description:` of the first `n` corpus pages (path order) whose front matter has one.
fn corpus_descriptions(n: usize) -> Vec<String> {
    let corpus = AssetCache::from_env().corpus().unwrap();
    walkdir::WalkDir::new(&corpus)
        .sort_by_file_name()
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| {
            e.path()
                .extension()
                .is_some_and(|x| x == "md" || x == "mdx")
        })
        .filter_map(|file| {
            let source = std::fs::read_to_string(file.path()).ok()?;
            let front = source.strip_prefix("---\n")?.split("\n---").next()?;
            let line = front.lines().find_map(|l| l.strip_prefix("description:"))?;
            Some(line.trim().trim_matches('"').to_string())
        })
        .filter(|d| !d.is_empty())
        .take(n)
        .collect()
}

/// Indices of the `k` passages most similar to `query`, best first.
fn top(query: &[f32], passages: &[Vec<f32>], k: usize) -> Vec<usize> {
    let mut ranked: Vec<(usize, f32)> = passages
        .iter()
        .enumerate()
        .map(|(i, p)| (i, cosine(query, p)))
        .collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
    ranked.into_iter().take(k).map(|(i, _)| i).collect()
}

/// How two embedders' rankings of the same passages compare over a set of queries.
#[derive(Debug)]
struct RankAgreement {
    /// Lowest cosine between the two vectors of one passage.
    min_passage_cosine: f32,
    /// Queries whose top 5 is the same set.
    same_top5: usize,
    /// Queries whose top 5 is the same set up to passages within 0.01 of `b`'s fifth score.
    same_up_to_ties: usize,
    /// Most passages one query's two top-5 sets differ by (2 = one swapped out).
    worst_difference: usize,
}

/// Embeds 200 corpus passages and 100 queries (the harness's questions, then pages'
/// front-matter descriptions) with both embedders and compares each query's top 5.
async fn rank_agreement(a: &dyn embed::Embedder, b: &dyn embed::Embedder) -> RankAgreement {
    let passages = corpus_passages(200);
    assert_eq!(passages.len(), 200);
    let by_a = a.embed_batch(passages.clone()).await.unwrap();
    let by_b = b.embed_batch(passages.clone()).await.unwrap();
    let min_passage_cosine = by_a
        .iter()
        .zip(&by_b)
        .map(|(x, y)| cosine(x, y))
        .fold(f32::INFINITY, f32::min);
    let questions = include_str!("../../scenarios/questions.txt");
    let mut queries: Vec<String> = questions
        .lines()
        .map(str::trim)
        .filter(|q| !q.is_empty() && !q.starts_with('#'))
        .map(String::from)
        .collect();
    queries.extend(corpus_descriptions(100 - queries.len()));
    queries.truncate(100);
    assert_eq!(queries.len(), 100);
    let mut agreement = RankAgreement {
        min_passage_cosine,
        same_top5: 0,
        same_up_to_ties: 0,
        worst_difference: 0,
    };
    for query in &queries {
        let q = b.embed_query(query).await.unwrap();
        let mut top_a = top(&a.embed_query(query).await.unwrap(), &by_a, 5);
        let mut top_b = top(&q, &by_b, 5);
        let fifth = cosine(&q, &by_b[top_b[4]]);
        top_a.sort_unstable();
        top_b.sort_unstable();
        let differing: Vec<usize> = top_a
            .iter()
            .filter(|i| !top_b.contains(i))
            .chain(top_b.iter().filter(|i| !top_a.contains(i)))
            .copied()
            .collect();
        let tied = differing
            .iter()
            .all(|&i| (cosine(&q, &by_b[i]) - fifth).abs() < 0.01);
        agreement.same_top5 += usize::from(differing.is_empty());
        agreement.same_up_to_ties += usize::from(tied);
        agreement.worst_difference = agreement.worst_difference.max(differing.len());
    }
    eprintln!("{agreement:?}");
    agreement
}

/// The bar for the candle backend on the CPU (fp32) against the ONNX model (int8
/// storage, f32 arithmetic): cosine >= 0.98 on each of 200 corpus passages, and the same top
/// 5 of those passages for at least 90 of 100 queries. Measured: every differing top 5 was one
/// swap at ranks 5/6 within 0.009, so a top 5 agrees when it is the same set up to such a tie,
/// and never loses more than one passage.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn candle_and_onnx_rank_corpus_passages_alike() {
    let assets = AssetCache::from_env();
    let onnx = embed::build(&published_onnx(), &assets).await.unwrap();
    let candle_cfg = EmbedderConfig {
        backend: EmbedderBackend::Candle,
        ..EmbedderConfig::default()
    };
    let candle = embed::build(&candle_cfg, &assets).await.unwrap();
    let agreement = rank_agreement(onnx.as_ref(), candle.as_ref()).await;
    assert!(agreement.min_passage_cosine >= 0.98, "{agreement:?}");
    assert!(agreement.worst_difference <= 2, "{agreement:?}");
    assert!(agreement.same_up_to_ties >= 90, "{agreement:?}");
}

/// The default graph (int8 matrix products) against the published one. int8 activations move
/// scores more than int8 storage does, and neighbouring windows of one page score within
/// hundredths of each other, so top-5 sets of these 200 passages differ often (measured: the
/// same set for 44 of 100 queries, 67 up to ties within 0.01, at worst 3 of 5 passages
/// swapped, passage cosine >= 0.9867); which *pages* come first is what the int8 graph must
/// keep, and `harness eval` measured that unchanged (whole corpus, 128 queries: recall@10 0.969
/// both, MRR@10 0.809 vs 0.808). These bars catch a broken quantization, not noise.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_int8_graph_ranks_corpus_passages_like_the_published_one() {
    let assets = AssetCache::from_env();
    let int8 = embed::build(&EmbedderConfig::default(), &assets)
        .await
        .unwrap();
    let published = embed::build(&published_onnx(), &assets).await.unwrap();
    let agreement = rank_agreement(int8.as_ref(), published.as_ref()).await;
    assert!(agreement.min_passage_cosine >= 0.98, "{agreement:?}");
    assert!(agreement.worst_difference <= 6, "{agreement:?}");
    assert!(agreement.same_up_to_ties >= 55, "{agreement:?}");
}

/// f16 weights (the GPU default) give the f32 vectors: candle's own BERT mask multiplied by
/// f16's -inf and made every score NaN, which this would catch on any device.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn f16_weights_agree_with_f32() {
    let assets = AssetCache::from_env();
    let build = |dtype| {
        let cfg = EmbedderConfig {
            backend: EmbedderBackend::Candle,
            dtype,
            ..EmbedderConfig::default()
        };
        let assets = assets.clone();
        async move { embed::build(&cfg, &assets).await.unwrap() }
    };
    let full = build(CandleDtype::F32).await;
    let half = build(CandleDtype::F16).await;
    assert!(half.info().detail.contains("F16"), "{}", half.info().detail);
    let texts: Vec<String> = TEXTS.iter().map(|t| t.to_string()).collect();
    let a = full.embed_batch(texts.clone()).await.unwrap();
    let b = half.embed_batch(texts.clone()).await.unwrap();
    for (i, text) in TEXTS.iter().enumerate() {
        let agree = cosine(&a[i], &b[i]);
        assert!(agree > 0.999, "{text}: f16 vs f32 cosine {agree}");
        let one = half.embed_query(text).await.unwrap();
        assert!(
            cosine(&one, &b[i]) > 0.999,
            "{text}: alone vs batched in f16"
        );
    }
}

#[test]
fn probe_runs_candle_and_refuses_cuda_without_the_feature() {
    let probe = |device: &str| {
        Command::new(env!("CARGO_BIN_EXE_ragbench-server"))
            .args(["probe", "--rounds", "5", "--concurrency", "4"])
            .env("RAGBENCH_EMBEDDER__BACKEND", "candle")
            .env("RAGBENCH_EMBEDDER__DEVICE", device)
            .output()
            .expect("ragbench-server runs")
    };
    let out = probe("cpu");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["backend"], "candle-cpu");
    assert_eq!(report["dimension"], 384);
    let norm = report["probe_norm"].as_f64().unwrap();
    assert!((norm - 1.0).abs() < 1e-4, "probe norm {norm}");
    assert!(report["sequential_us"]["p50"].as_f64().unwrap() > 0.0);

    if cfg!(not(feature = "cuda")) {
        let out = probe("cuda");
        assert!(!out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("--features cuda"), "{stderr}");
    }
}
