//! Property tests of request bodies against one real server: whatever a client sends to
//! `POST /v1/search` and `POST /v1/query` (random bytes, random JSON, the right shape with
//! wrong types, huge or negative `top_k`, empty or long or unicode text, unknown fields), the
//! answer is never a 5xx or a dropped connection: a client's mistake is a 4xx with the JSON
//! error shape, a valid body a 200 (or, for `/v1/query` on this generator-less server, the
//! documented 503).

mod common;

use std::sync::OnceLock;

use proptest::prelude::*;
use serde_json::{Map, Value, json};

/// A server with 5 files of the corpus and no generator (answers would take seconds each).
struct Server {
    base: String,
    token: String,
    _child: std::process::Child,
    _stdin: std::process::ChildStdin,
}

fn rt() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| tokio::runtime::Runtime::new().unwrap())
}

fn server() -> &'static Server {
    static SERVER: OnceLock<Server> = OnceLock::new();
    SERVER.get_or_init(|| {
        let secret = format!("prop-secret-{}", std::process::id());
        let corpus = common::corpus_subset(5);
        let roots = corpus.display().to_string();
        let (child, stdin, base) = common::start_with_env(
            &common::scratch("prop-data"),
            &secret,
            &[],
            &[
                ("RAGBENCH_INGEST__ALLOWED_ROOTS", &roots),
                ("RAGBENCH_GENERATOR__BACKEND", "disabled"),
            ],
        );
        let status = rt().block_on(async {
            client()
                .post(format!("{base}/v1/ingest"))
                .bearer_auth(common::ingest_token(&secret, 3600))
                .json(&json!({ "path": corpus, "source": "docs" }))
                .send()
                .await
                .expect("ingest request")
                .status()
        });
        assert_eq!(status, 200, "ingest failed");
        Server {
            base,
            token: common::token(&secret, 3600),
            _child: child,
            _stdin: stdin,
        }
    })
}

fn client() -> &'static reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT.get_or_init(common::client)
}

/// Sends `body` (as raw bytes, with or without a JSON content type); returns the status and
/// the parsed body. Panics on a dropped connection.
fn post(route: &str, body: Vec<u8>, json_type: bool) -> (u16, Option<Value>) {
    let s = server();
    rt().block_on(async {
        let mut req = client()
            .post(format!("{}{route}", s.base))
            .bearer_auth(&s.token)
            .body(body);
        if json_type {
            req = req.header("content-type", "application/json");
        }
        let resp = req
            .send()
            .await
            .unwrap_or_else(|e| panic!("{route}: connection failed: {e}"));
        let status = resp.status().as_u16();
        let bytes = resp
            .bytes()
            .await
            .unwrap_or_else(|e| panic!("{route}: body cut off: {e}"));
        (status, serde_json::from_slice(&bytes).ok())
    })
}

/// A 4xx must carry `{"error":{"code","message"}}`.
fn assert_error_shape(route: &str, status: u16, body: &Option<Value>, sent: &str) {
    let err = body.as_ref().and_then(|b| b.get("error"));
    assert!(
        err.is_some_and(|e| e["code"].is_string() && e["message"].is_string()),
        "{route} {status} without the JSON error shape: {body:?} for {sent}"
    );
}

/// What the server must answer: a client's mistake is a 4xx, anything else as `valid` says.
fn check(route: &str, body: Vec<u8>, json_type: bool, valid: Option<bool>) {
    let sent = String::from_utf8_lossy(&body)
        .chars()
        .take(300)
        .collect::<String>();
    let (status, resp) = post(route, body, json_type);
    let ok_status = if route == "/v1/query" { 503 } else { 200 };
    match valid {
        Some(true) => assert_eq!(status, ok_status, "{route}: valid body {sent} got {resp:?}"),
        Some(false) => {
            assert!(
                (400..500).contains(&status),
                "{route}: invalid body {sent} got {status} {resp:?}"
            );
            assert_error_shape(route, status, &resp, &sent);
        }
        None => {
            assert!(
                status == ok_status || (400..500).contains(&status),
                "{route}: {sent} got {status} {resp:?}"
            );
            if status != 200 {
                assert_error_shape(route, status, &resp, &sent);
            }
        }
    }
}

// ---- generated bodies --------------------------------------------------------------

fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        ".{0,40}".prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
            prop::collection::btree_map(
                prop_oneof![
                    ".{0,10}",
                    Just("query".to_string()),
                    Just("question".to_string()),
                    Just("top_k".to_string()),
                    Just("filter".to_string()),
                    Just("source".to_string()),
                ],
                inner,
                0..6
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A value for a text field and whether it is an acceptable query/question.
fn text_field() -> impl Strategy<Value = (Value, bool)> {
    prop_oneof![
        3 => "[a-zA-Z ]{0,30}".prop_map(|s| {
            let ok = !s.trim().is_empty();
            (Value::from(s), ok)
        }),
        2 => ".{0,60}".prop_map(|s| {
            let ok = !s.trim().is_empty();
            (Value::from(s), ok)
        }),
        1 => (1990usize..2010).prop_map(|n| (Value::from("é".repeat(n)), n <= 2000)),
        1 => Just((Value::from(" \t\n "), false)),
        1 => any_json()
            .prop_filter("not a string", |v| !v.is_string())
            .prop_map(|v| (v, false)),
    ]
}

/// A `top_k` (None: left out) and whether it is in 1..=max.
fn top_k(max: i64) -> impl Strategy<Value = (Option<Value>, bool)> {
    prop_oneof![
        2 => Just((None, true)),
        3 => (-5i64..60).prop_map(move |k| (Some(Value::from(k)), (1..=max).contains(&k))),
        1 => any::<i64>().prop_map(move |k| (Some(Value::from(k)), (1..=max).contains(&k))),
        1 => Just((Some(Value::from(u64::MAX)), false)),
        1 => Just((Some(json!(1e300)), false)),
        1 => Just((Some(json!(2.5)), false)),
        1 => Just((Some(json!("5")), false)),
        1 => Just((Some(Value::Null), false)),
    ]
}

/// A `source` (None: left out) and whether it is a valid source name.
fn source() -> impl Strategy<Value = (Option<Value>, bool)> {
    prop_oneof![
        3 => Just((None, true)),
        1 => Just((Some(Value::Null), true)),
        2 => Just((Some(json!("docs")), true)),
        1 => Just((Some(json!("other-source")), true)),
        2 => ".{0,70}".prop_map(|s| {
            let ok = !s.is_empty()
                && s.len() <= 64
                && s.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
            (Some(Value::from(s)), ok)
        }),
        1 => Just((Some(json!(7)), false)),
    ]
}

/// A search `filter` (None: left out), whether it is valid, and its source.
fn filter() -> impl Strategy<Value = (Option<Value>, bool, Option<String>)> {
    prop_oneof![
        3 => Just((None, true, None)),
        2 => (prop::option::of(".{0,80}"), source()).prop_map(|(prefix, (src, src_ok))| {
            let mut m = Map::new();
            if let Some(p) = prefix {
                m.insert("path_prefix".into(), Value::from(p));
            }
            let name = src.as_ref().and_then(|v| v.as_str().map(str::to_string));
            if let Some(v) = src {
                m.insert("source".into(), v);
            }
            (Some(Value::Object(m)), src_ok, name)
        }),
        1 => Just((Some(json!({ "path_prefix": "guides/", "extra": 1 })), false, None)),
        1 => Just((Some(json!({ "path_prefix": 3 })), false, None)),
        1 => Just((Some(json!("guides/")), false, None)),
    ]
}

/// A search body and whether it is valid.
fn search_body() -> impl Strategy<Value = (Value, bool)> {
    (text_field(), top_k(50), filter(), source(), any::<bool>()).prop_map(
        |((q, q_ok), (k, k_ok), (f, f_ok, f_src), (s, s_ok), unknown)| {
            let mut m = Map::new();
            m.insert("query".into(), q);
            if let Some(k) = k {
                m.insert("top_k".into(), k);
            }
            if let Some(f) = f {
                m.insert("filter".into(), f);
            }
            let s_name = s.as_ref().and_then(|v| v.as_str().map(str::to_string));
            if let Some(s) = s {
                m.insert("source".into(), s);
            }
            if unknown {
                m.insert("colour".into(), json!("blue"));
            }
            let conflict = matches!((&s_name, &f_src), (Some(a), Some(b)) if a != b);
            let valid = q_ok && k_ok && f_ok && s_ok && !conflict && !unknown;
            (Value::Object(m), valid)
        },
    )
}

/// A query body and whether it is valid.
fn query_body() -> impl Strategy<Value = (Value, bool)> {
    (text_field(), top_k(10), source(), any::<bool>()).prop_map(
        |((q, q_ok), (k, k_ok), (s, s_ok), unknown)| {
            let mut m = Map::new();
            m.insert("question".into(), q);
            if let Some(k) = k {
                m.insert("top_k".into(), k);
            }
            if let Some(s) = s {
                m.insert("source".into(), s);
            }
            if unknown {
                m.insert("filter".into(), json!({}));
            }
            (Value::Object(m), q_ok && k_ok && s_ok && !unknown)
        },
    )
}

/// Bytes that are almost JSON: random, truncated, or JSON with junk around it.
fn junk_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..200),
        any_json().prop_flat_map(|v| {
            let s = v.to_string().into_bytes();
            let n = s.len();
            (Just(s), 0..=n).prop_map(|(s, cut)| s[..cut].to_vec())
        }),
        Just(b"{\"query\": \"x\", \"top_k\": 99999999999999999999999999}".to_vec()),
        Just(b"{\"query\": \"\\ud800\"}".to_vec()),
        Just(b"{\"query\": \"x\"} trailing".to_vec()),
        Just(b"{\"query\": \"x\", \"query\": \"y\"}".to_vec()),
        Just(vec![b'['; 200]),
        Just(b"\xef\xbb\xbf{\"query\": \"bom\"}".to_vec()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn search_bodies_of_the_right_shape_get_200_or_a_4xx((body, valid) in search_body()) {
        check("/v1/search", body.to_string().into_bytes(), true, Some(valid));
    }

    #[test]
    fn query_bodies_of_the_right_shape_get_503_or_a_4xx((body, valid) in query_body()) {
        check("/v1/query", body.to_string().into_bytes(), true, Some(valid));
    }

    #[test]
    fn any_json_value_is_never_a_5xx(body in any_json(), query in any::<bool>()) {
        let route = if query { "/v1/query" } else { "/v1/search" };
        check(route, body.to_string().into_bytes(), true, None);
    }

    #[test]
    fn junk_bytes_are_a_4xx(body in junk_bytes(), query in any::<bool>(), json_type in any::<bool>()) {
        let route = if query { "/v1/query" } else { "/v1/search" };
        let valid = if json_type { None } else { Some(false) };
        check(route, body, json_type, valid);
    }
}

#[test]
fn named_edge_cases_get_the_documented_status() {
    let cases = [
        (json!({ "query": "install bun" }), true),
        (json!({ "query": "\u{0}" }), true), // no token the model keeps
        (json!({ "query": "\u{200b}\u{7f}" }), true),
        (json!({ "query": "🙂", "top_k": 50 }), true),
        (json!({ "query": "é".repeat(2000), "top_k": 1 }), true),
        (
            json!({ "query": "x", "filter": { "path_prefix": "\u{0}/../" } }),
            true,
        ),
        (
            json!({ "query": "x", "filter": { "path_prefix": "/".repeat(500) } }),
            true,
        ),
        (
            json!({ "query": "x", "source": "..", "filter": { "source": ".." } }),
            true,
        ),
        (json!({ "query": "x", "top_k": 0 }), false),
        (json!({ "query": "x", "top_k": -1 }), false),
        (json!({ "query": "x", "top_k": 51 }), false),
        (json!({ "query": "é".repeat(2001) }), false),
        (json!({ "query": "" }), false),
        (
            json!({ "query": "x", "source": "a", "filter": { "source": "b" } }),
            false,
        ),
    ];
    for (body, valid) in cases {
        check(
            "/v1/search",
            body.to_string().into_bytes(),
            true,
            Some(valid),
        );
    }
    check(
        "/v1/query",
        br#"{"question":"\u0000"}"#.to_vec(),
        true,
        Some(true),
    );
    check(
        "/v1/query",
        br#"{"question":"x","top_k":11}"#.to_vec(),
        true,
        Some(false),
    );
}
