//! The candle embedder on the CPU, against the real model files: it must agree with the ONNX
//! embedder (same model; int8 vs fp32 weights), and the binary's `probe` must run it and refuse
//! CUDA with a clear message in a build without the `cuda` feature.

use std::process::Command;

use ragbench_server::assets::AssetCache;
use ragbench_server::config::{EmbedderBackend, EmbedderConfig};
use ragbench_server::embed;

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn candle_on_the_cpu_agrees_with_the_onnx_embedder() {
    let assets = AssetCache::from_env();
    let onnx = embed::build(&EmbedderConfig::default(), &assets)
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
        // int8 quantization is the whole gap: 0.998 or better on corpus passages.
        let agree = cosine(&one, &reference[i]);
        assert!(agree > 0.99, "{text}: candle vs ONNX cosine {agree}");
        // A query alone and the same text padded inside a batch give the same vector.
        let same = cosine(&one, &batched[i]);
        assert!(same > 0.9999, "{text}: alone vs batched cosine {same}");
    }
    // Different texts stay apart: pooling over padding would pull them together.
    assert!(cosine(&batched[0], &batched[3]) < 0.9);
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
