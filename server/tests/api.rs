//! The HTTP API against a real server: health, search quality, idempotent ingest, cache,
//! every bad-token case, bad bodies, and answers.

mod common;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::{client, ingest_token, server, token};
use serde_json::{Value, json};

async fn search(query: &str, extra: Value) -> reqwest::Response {
    let s = server();
    let mut body = json!({ "query": query });
    body.as_object_mut()
        .unwrap()
        .extend(extra.as_object().cloned().unwrap_or_default());
    client()
        .post(format!("{}/v1/search", s.base))
        .bearer_auth(token(&s.secret, 600))
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn metric(name_and_labels: &str) -> f64 {
    common::metric(&server().base, name_and_labels).await
}

#[tokio::test]
async fn health_is_green_with_every_chunk_stored() {
    let s = server();
    assert_eq!(s.ingest["files"], 30, "{}", s.ingest);
    let chunks = s.ingest["chunks"].as_u64().unwrap();
    assert!(chunks >= 30, "at least one chunk per file: {}", s.ingest);
    let health: Value = client()
        .get(format!("{}/health", s.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["status"], "green", "{health}");
    assert_eq!(health["collectionExists"], true);
    assert_eq!(health["vectors"].as_u64().unwrap(), chunks, "{health}");
    assert_eq!(health["backends"]["embedder"]["state"], "up");
    assert_eq!(health["backends"]["store"]["name"], "qdrant-edge");
    assert_eq!(health["backends"]["generator"]["state"], "up");
}

#[tokio::test]
async fn a_guides_title_finds_that_guide_in_the_top_5() {
    for (title, path) in [
        (
            "Convert a Blob to a DataView",
            "guides/binary/blob-to-dataview.mdx",
        ),
        (
            "Convert an ArrayBuffer to a string",
            "guides/binary/arraybuffer-to-string.mdx",
        ),
        ("Macros", "bundler/macros.mdx"),
    ] {
        let resp = search(title, json!({ "top_k": 5 })).await;
        assert_eq!(resp.status(), 200);
        let timing = resp.headers()["server-timing"]
            .to_str()
            .unwrap()
            .to_string();
        let body: Value = resp.json().await.unwrap();
        let paths: Vec<&str> = body["hits"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["path"].as_str().unwrap())
            .collect();
        assert!(paths.contains(&path), "{title}: {path} not in {paths:?}");
        assert!(
            timing.contains("embed;dur=") || timing.contains("desc=\"hit\""),
            "{timing}"
        );
    }
}

#[tokio::test]
async fn path_prefix_filter_restricts_hits() {
    let resp = search(
        "bundle JavaScript",
        json!({ "top_k": 10, "filter": { "path_prefix": "guides/" } }),
    )
    .await;
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    let hits = body["hits"].as_array().unwrap();
    assert!(!hits.is_empty());
    for h in hits {
        assert!(h["path"].as_str().unwrap().starts_with("guides/"), "{h}");
    }
}

#[tokio::test]
async fn reingesting_the_same_folder_adds_nothing() {
    let s = server();
    let resp = client()
        .post(format!("{}/v1/ingest", s.base))
        .bearer_auth(ingest_token(&s.secret, 600))
        .json(&json!({ "path": s.corpus }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let again: Value = resp.json().await.unwrap();
    assert_eq!(again["vectors"], s.ingest["vectors"], "{again}");
    assert_eq!(again["chunks"], s.ingest["chunks"]);
    assert_eq!(again["deleted"], 0);
    assert_eq!(
        again["upserted"], 0,
        "unchanged passages are not embedded again"
    );
}

#[tokio::test]
async fn the_second_identical_search_is_a_cache_hit() {
    let query = "How do I convert a Buffer to a string?";
    let hits_before = metric("ragbench_cache_hits_total{route=\"search\"}").await;
    let first: Value = search(query, json!({})).await.json().await.unwrap();
    // Case and spacing are normalised away in the key.
    let resp = search("  how do i convert a buffer to a STRING? ", json!({})).await;
    let timing = resp.headers()["server-timing"]
        .to_str()
        .unwrap()
        .to_string();
    let second: Value = resp.json().await.unwrap();
    assert_eq!(first["cached"], false);
    assert_eq!(second["cached"], true);
    assert_eq!(first["hits"], second["hits"]);
    assert!(timing.starts_with("cache;desc=\"hit\""), "{timing}");
    assert!(!timing.contains("embed"), "{timing}");
    let hits_after = metric("ragbench_cache_hits_total{route=\"search\"}").await;
    assert!(
        hits_after >= hits_before + 1.0,
        "{hits_before} -> {hits_after}"
    );
}

#[tokio::test]
async fn exact_repeats_are_answered_in_front_of_the_router_as_the_router_answers_them() {
    let s = server();
    let bearer = token(&s.secret, 600);
    let body = r#"{"query":"What does Bun.serve return?","top_k":4}"#;
    let post = |bearer: String, content_type: &'static str| {
        client()
            .post(format!("{}/v1/search", s.base))
            .bearer_auth(bearer)
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    let fast_before = metric("ragbench_cache_fast_hits_total{route=\"search\"}").await;
    let hits_before = metric("ragbench_cache_hits_total{route=\"search\"}").await;
    // Computed; a hit through the router (whose answer names the key it made of this body);
    // then exact repeats, answered before the router.
    let mut answers = Vec::new();
    for _ in 0..4 {
        let resp = post(bearer.clone(), "application/json").await.unwrap();
        assert_eq!(resp.status(), 200);
        let header = |name: &str| resp.headers()[name].to_str().unwrap().to_string();
        let (content_type, timing) = (header("content-type"), header("server-timing"));
        answers.push((content_type, timing, resp.bytes().await.unwrap()));
    }
    let first: Value = serde_json::from_slice(&answers[0].2).unwrap();
    assert_eq!(first["cached"], false, "{first}");
    for (content_type, timing, bytes) in &answers[1..] {
        assert_eq!(content_type, "application/json");
        assert!(timing.starts_with("cache;desc=\"hit\";dur="), "{timing}");
        assert!(timing.contains(", total;dur="), "{timing}");
        assert_eq!(bytes, &answers[1].2, "every hit sends the same bytes");
    }
    let hit: Value = serde_json::from_slice(&answers[1].2).unwrap();
    assert_eq!(hit["cached"], true);
    assert_eq!(hit["hits"], first["hits"]);
    let fast_after = metric("ragbench_cache_fast_hits_total{route=\"search\"}").await;
    let hits_after = metric("ragbench_cache_hits_total{route=\"search\"}").await;
    assert!(
        fast_after >= fast_before + 2.0,
        "{fast_before} -> {fast_after}"
    );
    assert!(
        hits_after >= hits_before + 3.0,
        "{hits_before} -> {hits_after}"
    );

    // The same bytes with what the router refuses are refused alike.
    let forged = post(token("another-secret", 600), "application/json")
        .await
        .unwrap();
    assert_eq!(forged.status(), 401);
    let expired = post(token(&s.secret, -3600), "application/json")
        .await
        .unwrap();
    assert_eq!(expired.status(), 401);
    let not_json = post(bearer.clone(), "text/plain").await.unwrap();
    assert_eq!(not_json.status(), 400);
    let err: Value = not_json.json().await.unwrap();
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("application/json"),
        "{err}"
    );
}

#[tokio::test]
async fn exact_search_finds_the_true_nearest_and_is_cached_apart_from_index_search() {
    // A query no other test sends, so the first answer of each method is a miss.
    let query = "exact versus index: which bytes become a readable stream?";
    let body = |exact: bool| json!({ "top_k": 10, "exact": exact });
    let cache_of = |resp: &reqwest::Response| {
        resp.headers()["server-timing"]
            .to_str()
            .unwrap()
            .to_string()
    };

    let resp = search(query, body(false)).await;
    assert_eq!(resp.status(), 200);
    let index: Value = resp.json().await.unwrap();
    // The index's answer is cached; the same query asked exactly must not be served from it.
    let resp = search(query, body(true)).await;
    assert_eq!(resp.status(), 200);
    let timing = cache_of(&resp);
    let exact: Value = resp.json().await.unwrap();
    assert_eq!(exact["cached"], false, "{exact}");
    assert!(timing.starts_with("cache;desc=\"miss\""), "{timing}");
    assert!(timing.contains("search"), "{timing}");
    // Asked again, each method gets its own cached answer.
    let exact_again: Value = search(query, body(true)).await.json().await.unwrap();
    assert_eq!(exact_again["cached"], true);
    assert_eq!(exact_again["hits"], exact["hits"]);
    let index_again: Value = search(query, body(false)).await.json().await.unwrap();
    assert_eq!(index_again["cached"], true);
    assert_eq!(index_again["hits"], index["hits"]);

    // Exact search is the ground truth: rank for rank, no index hit scores higher.
    let scores = |v: &Value| -> Vec<f64> {
        v["hits"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["score"].as_f64().unwrap())
            .collect()
    };
    let (exact_scores, index_scores) = (scores(&exact), scores(&index));
    assert_eq!(exact_scores.len(), 10, "{exact}");
    assert_eq!(index_scores.len(), 10, "{index}");
    assert!(exact_scores.windows(2).all(|w| w[0] >= w[1]), "{exact}");
    assert!(index_scores.windows(2).all(|w| w[0] >= w[1]), "{index}");
    // With hybrid search (the default) a score is the fused rank score, not a cosine, so an
    // exact answer's scores need not beat the index's rank for rank; how far the index
    // agrees with exact search is measured by `harness eval` (harness/tests/eval.rs).

    // Not a boolean: a 400 that names the field.
    let resp = search(query, json!({ "exact": "yes" })).await;
    assert_eq!(resp.status(), 400);
    let error: Value = resp.json().await.unwrap();
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("exact"),
        "{error}"
    );
}

#[tokio::test]
async fn every_bad_token_gets_401() {
    let s = server();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let claims = URL_SAFE_NO_PAD.encode(json!({ "sub": "x", "exp": now + 600 }).to_string());
    let alg_none = format!(
        "{}.{claims}.",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#)
    );
    let no_exp = jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &json!({ "sub": "x" }),
        &jsonwebtoken::EncodingKey::from_secret(s.secret.as_bytes()),
    )
    .unwrap();
    let cases: Vec<(&str, Option<String>)> = vec![
        ("missing", None),
        (
            "not bearer",
            Some(format!("Basic {}", token(&s.secret, 600))),
        ),
        ("malformed", Some("Bearer not.a.jwt".into())),
        (
            "expired",
            Some(format!("Bearer {}", token(&s.secret, -3600))),
        ),
        (
            "wrong signature",
            Some(format!("Bearer {}", token("another-secret", 600))),
        ),
        ("alg none", Some(format!("Bearer {alg_none}"))),
        ("no exp", Some(format!("Bearer {no_exp}"))),
    ];
    for (case, header) in cases {
        let mut req = client()
            .post(format!("{}/v1/search", s.base))
            .json(&json!({ "query": "install" }));
        if let Some(h) = header {
            req = req.header("authorization", h);
        }
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status(), 401, "{case}");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["error"]["code"], "unauthorized", "{case}: {body}");
        assert!(!body["error"]["message"].as_str().unwrap().is_empty());
    }
}

#[tokio::test]
async fn bad_bodies_get_400_and_413() {
    let s = server();
    let post = |body: String| {
        client()
            .post(format!("{}/v1/search", s.base))
            .bearer_auth(token(&s.secret, 600))
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    for (case, body) in [
        ("malformed JSON", "{\"query\": ".to_string()),
        ("wrong type", "{\"query\": 42}".to_string()),
        (
            "unknown field",
            "{\"query\": \"x\", \"topk\": 3}".to_string(),
        ),
        ("empty query", "{\"query\": \"   \"}".to_string()),
        (
            "top_k out of range",
            "{\"query\": \"x\", \"top_k\": 0}".to_string(),
        ),
    ] {
        let resp = post(body).await.unwrap();
        assert_eq!(resp.status(), 400, "{case}");
        let err: Value = resp.json().await.unwrap();
        assert_eq!(err["error"]["code"], "bad_request", "{case}: {err}");
    }
    let huge = format!("{{\"query\": \"{}\"}}", "a".repeat(200 * 1024));
    let resp = post(huge).await.unwrap();
    assert_eq!(resp.status(), 413);
    let err: Value = resp.json().await.unwrap();
    assert_eq!(err["error"]["code"], "payload_too_large");
}

#[tokio::test]
async fn query_answers_with_sources_then_hits_the_cache() {
    let s = server();
    let bearer = token(&s.secret, 600);
    let ask = || {
        client()
            .post(format!("{}/v1/query", s.base))
            .bearer_auth(&bearer)
            .json(&json!({ "question": "How can I convert a Blob to a string?", "top_k": 2 }))
            .send()
    };
    let resp = ask().await.unwrap();
    assert_eq!(resp.status(), 200);
    let timing = resp.headers()["server-timing"]
        .to_str()
        .unwrap()
        .to_string();
    let body: Value = resp.json().await.unwrap();
    assert!(
        !body["answer"].as_str().unwrap().trim().is_empty(),
        "{body}"
    );
    assert!(body["tokens"].as_u64().unwrap() > 0);
    let sources = body["sources"].as_array().unwrap();
    assert!(!sources.is_empty(), "{body}");
    assert!(
        sources
            .iter()
            .all(|s| s["path"].as_str().unwrap().ends_with(".mdx")
                || s["path"].as_str().unwrap().ends_with(".md"))
    );
    for stage in [
        "cache;desc=\"miss\"",
        "embed;dur=",
        "search;dur=",
        "generate;dur=",
        "total;dur=",
    ] {
        assert!(timing.contains(stage), "{stage} missing in {timing}");
    }
    let again: Value = ask().await.unwrap().json().await.unwrap();
    assert_eq!(again["cached"], true);
    assert_eq!(again["answer"], body["answer"]);
    // By now the body is known: the next repeat is answered in front of the router.
    let fast_before = metric("ragbench_cache_fast_hits_total{route=\"query\"}").await;
    let third: Value = ask().await.unwrap().json().await.unwrap();
    assert_eq!(third, again);
    let fast_after = metric("ragbench_cache_fast_hits_total{route=\"query\"}").await;
    assert!(
        fast_after >= fast_before + 1.0,
        "{fast_before} -> {fast_after}"
    );
}

#[tokio::test]
async fn unknown_routes_and_metrics() {
    let s = server();
    let resp = client()
        .get(format!("{}/nope", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    let text = common::metrics_text(&s.base).await;
    for name in [
        "ragbench_cache_hits_total",
        "ragbench_cache_misses_total",
        "ragbench_http_requests_total",
        "ragbench_http_request_duration_seconds_bucket",
    ] {
        assert!(text.contains(name), "{name} missing from /metrics");
    }
}
