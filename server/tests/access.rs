//! Who may ingest what, tokens checked to the letter, and caches that follow the data: a real
//! server with `[ingest] allowed_roots` and limits, `[auth] issuer`, `audience` and leeway.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin};
use std::sync::OnceLock;

use common::{client, ingest_token, now, scratch, signed, start, start_with_env};
use serde_json::{Value, json};

const ISSUER: &str = "ragbench-tests";
const AUDIENCE: &str = "ragbench";
const LEEWAY: i64 = 30;

struct Access {
    base: String,
    secret: String,
    /// The one allowed root.
    root: PathBuf,
    /// A sibling of `root` with a file nobody may ingest.
    outside: PathBuf,
    _child: Child,
    _stdin: ChildStdin,
}

/// Every successful ingest bumps the data generation: tests that ingest or count on the
/// cache run one at a time.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn server() -> &'static Access {
    static SERVER: OnceLock<Access> = OnceLock::new();
    SERVER.get_or_init(|| {
        let base_dir = scratch("access");
        let root = base_dir.join("root");
        let outside = base_dir.join("outside");
        std::fs::create_dir_all(&root).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(
            outside.join("secret.md"),
            "# Secret\n\nThe launch code is swordfish.\n",
        )
        .unwrap();
        let secret = format!("access-secret-{}", std::process::id());
        let roots = root.display().to_string();
        let leeway = LEEWAY.to_string();
        let (child, stdin, base) = start_with_env(
            &scratch("access-data"),
            &secret,
            &["--no-generator"],
            &[
                ("RAGBENCH_INGEST__ALLOWED_ROOTS", &roots),
                ("RAGBENCH_INGEST__MAX_FILE_BYTES", "4096"),
                ("RAGBENCH_INGEST__MAX_FILES", "5"),
                ("RAGBENCH_AUTH__ISSUER", ISSUER),
                ("RAGBENCH_AUTH__AUDIENCE", AUDIENCE),
                ("RAGBENCH_AUTH__LEEWAY_SECS", &leeway),
            ],
        );
        Access {
            base,
            secret,
            root,
            outside,
            _child: child,
            _stdin: stdin,
        }
    })
}

/// A token this server accepts, with `changes` applied (`null` removes a claim).
fn token_with(changes: Value) -> String {
    let now = now();
    let mut claims = json!({
        "sub": "tester", "iat": now, "exp": now + 600,
        "iss": ISSUER, "aud": AUDIENCE, "scope": "search ingest",
    });
    let map = claims.as_object_mut().unwrap();
    for (k, v) in changes.as_object().unwrap() {
        if v.is_null() {
            map.remove(k);
        } else {
            map.insert(k.clone(), v.clone());
        }
    }
    signed(&server().secret, &claims)
}

async fn ingest_as(token: &str, path: &Path) -> (u16, Value) {
    let resp = client()
        .post(format!("{}/v1/ingest", server().base))
        .bearer_auth(token)
        .json(&json!({ "path": path }))
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

async fn ingest(path: &Path) -> (u16, Value) {
    ingest_as(&token_with(json!({})), path).await
}

async fn search_as(token: &str, query: &str, prefix: &str) -> (u16, Value) {
    let resp = client()
        .post(format!("{}/v1/search", server().base))
        .bearer_auth(token)
        .json(&json!({ "query": query, "top_k": 3, "filter": { "path_prefix": prefix } }))
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

/// Cached searches answered in front of the router, so far.
async fn fast_hits() -> f64 {
    common::metric(
        &server().base,
        "ragbench_cache_fast_hits_total{route=\"search\"}",
    )
    .await
}

async fn search(query: &str, prefix: &str) -> Value {
    let (status, body) = search_as(&token_with(json!({})), query, prefix).await;
    assert_eq!(status, 200, "{body}");
    body
}

fn folder(name: &str, files: &[(&str, &str)]) -> PathBuf {
    let dir = server().root.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    for (file, text) in files {
        std::fs::write(dir.join(file), text).unwrap();
    }
    dir
}

fn first_text(body: &Value) -> String {
    body["hits"][0]["text"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test]
async fn cached_answers_follow_an_ingest() {
    let _serial = SERIAL.lock().await;
    let doc = |color: &str| format!("# Widget colors\n\nThe standard widget is painted {color}.\n");
    let dir = folder("cache", &[("widget-colors.md", &doc("cobalt blue"))]);
    let (status, body) = ingest(&dir).await;
    assert_eq!(status, 200, "{body}");

    // One token throughout, so exact repeats are answered in front of the router once it
    // knows the body (the third search on): those must follow the ingest too.
    let reader = token_with(json!({}));
    let search = |query: &'static str, prefix: &'static str| {
        let reader = reader.clone();
        async move {
            let (status, body) = search_as(&reader, query, prefix).await;
            assert_eq!(status, 200, "{body}");
            body
        }
    };
    let query = "What color is the standard widget?";
    let first = search(query, "widget-colors.md").await;
    assert_eq!(first["cached"], false, "{first}");
    assert!(first_text(&first).contains("cobalt blue"), "{first}");
    let fast_before = fast_hits().await;
    for _ in 0..2 {
        let again = search(query, "widget-colors.md").await;
        assert_eq!(again["cached"], true, "{again}");
    }
    assert!(
        fast_hits().await > fast_before,
        "an exact repeat was answered before the router"
    );

    std::fs::write(dir.join("widget-colors.md"), doc("signal orange")).unwrap();
    let (status, body) = ingest(&dir).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["upserted"].as_u64().unwrap() >= 1, "{body}");
    assert!(body["deleted"].as_u64().unwrap() >= 1, "{body}");

    let third = search(query, "widget-colors.md").await;
    assert_eq!(
        third["cached"], false,
        "the ingest changed passages: {third}"
    );
    assert!(first_text(&third).contains("signal orange"), "{third}");
    assert!(!third.to_string().contains("cobalt"), "{third}");

    // Re-ingesting the unchanged folder writes nothing, so the cache stays warm.
    let (status, body) = ingest(&dir).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["upserted"], 0, "{body}");
    assert_eq!(search(query, "widget-colors.md").await["cached"], true);
}

#[tokio::test]
async fn ingest_needs_the_ingest_scope() {
    let _serial = SERIAL.lock().await;
    let dir = folder(
        "scoped",
        &[("scoped-page.md", "# Scoped\n\nScoped text.\n")],
    );
    for scope in [json!(null), json!("search"), json!("ingestion"), json!("")] {
        let (status, body) = ingest_as(&token_with(json!({ "scope": scope })), &dir).await;
        assert_eq!(status, 403, "scope {scope}: {body}");
        assert_eq!(body["error"]["code"], "forbidden", "{body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains("`ingest` scope"), "{message}");
    }
    // A token without the scope still searches.
    let (status, body) = search_as(
        &token_with(json!({ "scope": null })),
        "scoped text",
        "scoped-page.md",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = ingest_as(&token_with(json!({ "scope": "search ingest" })), &dir).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["files"], 1, "{body}");
}

#[tokio::test]
async fn only_folders_inside_the_allowed_roots() {
    let s = server();
    let escape = s.root.join("escape");
    if !escape.exists() {
        std::os::unix::fs::symlink(&s.outside, &escape).unwrap();
    }
    for path in [
        s.outside.clone(),
        s.root.join("..").join("outside"),
        escape,
        s.root.join("missing"),
        PathBuf::from("/"),
        PathBuf::from("relative/docs"),
    ] {
        let (status, body) = ingest(&path).await;
        assert_eq!(status, 403, "{}: {body}", path.display());
        assert_eq!(body["error"]["code"], "forbidden", "{body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains("allowed_roots"), "{message}");
        assert!(
            !message.contains(&s.root.display().to_string()),
            "{message}"
        );
    }
    let body = search("launch code", "secret.md").await;
    assert_eq!(body["hits"], json!([]), "{body}");
}

#[tokio::test]
async fn links_inside_a_root_are_not_followed() {
    let _serial = SERIAL.lock().await;
    let s = server();
    let dir = folder("links", &[("own-notes.md", "# Notes\n\nOur own notes.\n")]);
    for (name, target) in [
        ("leak.md", s.outside.join("secret.md")),
        ("leakdir", s.outside.clone()),
    ] {
        if !dir.join(name).exists() {
            std::os::unix::fs::symlink(target, dir.join(name)).unwrap();
        }
    }
    let (status, body) = ingest(&dir).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["files"], 1, "{body}");
    let skipped = body["skipped"].as_array().unwrap();
    for name in ["leak.md", "leakdir"] {
        assert!(
            skipped
                .iter()
                .any(|s| s["path"] == name
                    && s["reason"].as_str().unwrap().contains("symbolic link")),
            "{name} not reported: {body}"
        );
    }
    for prefix in ["leak.md", "leakdir", "leakdir/secret.md"] {
        let body = search("launch code", prefix).await;
        assert_eq!(body["hits"], json!([]), "{prefix}: {body}");
    }
}

#[tokio::test]
async fn limits_on_file_size_and_count() {
    let _serial = SERIAL.lock().await;
    let big = folder(
        "big",
        &[("huge.md", &format!("# Huge\n\n{}\n", "word ".repeat(1000)))],
    );
    let (status, body) = ingest(&big).await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(body["error"]["code"], "payload_too_large", "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("huge.md") && message.contains("max_file_bytes"),
        "{message}"
    );

    let files: Vec<(String, String)> = (0..6)
        .map(|i| (format!("many-{i}.md"), format!("# Page {i}\n\nText {i}.\n")))
        .collect();
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    let (status, body) = ingest(&folder("many", &refs)).await;
    assert_eq!(status, 413, "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("max_files"), "{message}");
    // Refused before anything was written.
    let body = search("Page", "many-0.md").await;
    assert_eq!(body["hits"], json!([]), "{body}");
}

#[tokio::test]
async fn token_times_issuer_and_audience_are_checked() {
    let now = now();
    let cases: Vec<(&str, Value, u16, &str)> = vec![
        ("valid", json!({}), 200, ""),
        (
            "nbf 5 min ahead",
            json!({ "nbf": now + 300 }),
            401,
            "not valid yet",
        ),
        ("nbf within leeway", json!({ "nbf": now + 10 }), 200, ""),
        ("nbf passed", json!({ "nbf": now - 10 }), 200, ""),
        (
            "iat 5 min ahead",
            json!({ "iat": now + 300 }),
            401,
            "issued in the future",
        ),
        ("iat within leeway", json!({ "iat": now + 10 }), 200, ""),
        (
            "expired beyond leeway",
            json!({ "exp": now - 120 }),
            401,
            "expired",
        ),
        ("expired within leeway", json!({ "exp": now - 10 }), 200, ""),
        ("no iss", json!({ "iss": null }), 401, ISSUER),
        ("wrong iss", json!({ "iss": "someone-else" }), 401, ISSUER),
        ("no aud", json!({ "aud": null }), 401, AUDIENCE),
        ("wrong aud", json!({ "aud": "another-api" }), 401, AUDIENCE),
        (
            "aud list",
            json!({ "aud": ["another-api", AUDIENCE] }),
            200,
            "",
        ),
        (
            "exp as text",
            json!({ "exp": "tomorrow" }),
            401,
            "integer unix seconds",
        ),
        (
            "scope as a list",
            json!({ "scope": ["ingest"] }),
            401,
            "strings",
        ),
    ];
    for (case, changes, want, fragment) in cases {
        let (status, body) = search_as(&token_with(changes), "widgets", "").await;
        assert_eq!(status, want, "{case}: {body}");
        if want == 401 {
            assert_eq!(body["error"]["code"], "unauthorized", "{case}: {body}");
            let message = body["error"]["message"].as_str().unwrap();
            assert!(message.contains(fragment), "{case}: {message}");
        }
    }
}

#[tokio::test]
async fn bad_token_messages_hold_no_parser_internals() {
    let s = server();
    let b64 = |v: &str| {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v)
    };
    let claims = b64(&json!({ "exp": now() + 600, "iss": ISSUER, "aud": AUDIENCE }).to_string());
    let hs512 = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS512),
        &json!({ "exp": now() + 600, "iss": ISSUER, "aud": AUDIENCE }),
        &jsonwebtoken::EncodingKey::from_secret(s.secret.as_bytes()),
    )
    .unwrap();
    let cases = [
        (
            "alg none",
            format!("{}.{claims}.", b64(r#"{"alg":"none"}"#)),
            "HS256",
        ),
        ("HS512", hs512, "HS256"),
        (
            "header not JSON",
            format!("{}.{claims}.x", b64("nope")),
            "header",
        ),
        (
            "claims not JSON",
            token_parts_with_claims(&b64("[1, 2"), &s.secret),
            "claims",
        ),
        ("two parts", "abc.def".into(), "three base64url parts"),
        ("not base64", "!!!.@@@.###".into(), "base64url"),
    ];
    for (case, token, fragment) in cases {
        let (status, body) = search_as(&token, "widgets", "").await;
        assert_eq!(status, 401, "{case}: {body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains(fragment), "{case}: {message}");
        for internal in [
            "unknown variant",
            "expected one of",
            "invalid type",
            "EOF",
            "line ",
            "column",
            "Error",
        ] {
            assert!(
                !message.contains(internal),
                "{case} leaks {internal:?}: {message}"
            );
        }
    }
}

/// A correctly signed token whose claims part is `claims_b64` (not necessarily JSON).
fn token_parts_with_claims(claims_b64: &str, secret: &str) -> String {
    use base64::Engine;
    let header =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(r#"{"alg":"HS256","typ":"JWT"}"#);
    let input = format!("{header}.{claims_b64}");
    let signature = jsonwebtoken::crypto::sign(
        input.as_bytes(),
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
        jsonwebtoken::Algorithm::HS256,
    )
    .unwrap();
    format!("{input}.{signature}")
}

#[tokio::test]
async fn without_allowed_roots_http_ingest_is_off() {
    let secret = "no-roots-secret";
    let corpus = scratch("no-roots-corpus");
    std::fs::write(corpus.join("page.md"), "# Page\n\nText.\n").unwrap();
    let (_child, _stdin, base) = start(&scratch("no-roots-data"), secret, &["--no-generator"]);
    let resp = client()
        .post(format!("{base}/v1/ingest"))
        .bearer_auth(ingest_token(secret, 600))
        .json(&json!({ "path": corpus }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "forbidden", "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("allowed_roots") && message.contains("ingest` subcommand"),
        "{message}"
    );
}
