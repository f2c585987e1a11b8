//! How the HTTP backends behave when their server misbehaves: down (503 naming the backend,
//! `/health` down), not yet up (connection errors retried with backoff), failing (never
//! retried: the server may have done the work), silent (read timeout). Stand-in servers on
//! loopback; the OpenAI answers are recorded from llama-cpp-python 0.3.36's server.

mod remote_common;

use std::time::{Duration, Instant};

use axum::http::StatusCode;
use ragbench_server::api::error::ApiError;
use ragbench_server::backend::BackendState;
use ragbench_server::config::{GeneratorBackend, GeneratorConfig};
use ragbench_server::generate::{GenerateError, Generator, GuardedGenerator, OpenAiGenerator};
use ragbench_server::remote::{Api, Endpoint, RemoteError, Settings};
use remote_common::{Reply, StandIn, closed_port, hit};
use serde_json::json;

/// Events in the form llama-cpp-python 0.3.36's server streams them for SmolLM2 (a role
/// delta, content deltas, an empty delta with the finish reason, `[DONE]`), fields as sent.
const RECORDED: [&str; 5] = [
    r#"{"id": "chatcmpl-1", "model": "x", "created": 1795655855, "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"role": "assistant"}, "logprobs": null, "finish_reason": null}]}"#,
    r#"{"id": "chatcmpl-1", "model": "x", "created": 1795655855, "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"content": "B"}, "logprobs": null, "finish_reason": null}]}"#,
    r#"{"id": "chatcmpl-1", "model": "x", "created": 1795655855, "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"content": "un is"}, "logprobs": null, "finish_reason": null}]}"#,
    r#"{"id": "chatcmpl-1", "model": "x", "created": 1795655855, "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {}, "logprobs": null, "finish_reason": "length"}]}"#,
    "[DONE]",
];

fn settings(url: &str, retries: u32) -> Settings<'_> {
    Settings {
        section: "generator",
        api: Api::OpenAi,
        url: Some(url),
        api_key: None,
        connect_timeout_secs: 2,
        read_timeout_secs: 1,
        retries,
    }
}

/// Posts to `url` through an endpoint that tries `retries` more times: the error, and how long
/// it took to come.
async fn failed_post(url: &str, retries: u32) -> (RemoteError, Duration) {
    let endpoint = Endpoint::new(settings(url, retries)).unwrap();
    let started = Instant::now();
    let err = endpoint
        .post("/v1/chat/completions", &json!({}))
        .await
        .unwrap_err();
    (err, started.elapsed())
}

fn openai(base: &str) -> GeneratorConfig {
    GeneratorConfig {
        backend: GeneratorBackend::Openai,
        url: Some(base.into()),
        model: Some("smollm2".into()),
        ..GeneratorConfig::default()
    }
}

#[tokio::test]
async fn a_recorded_answer_streams_through_the_openai_generator() {
    let server = StandIn::start(vec![(
        "POST /v1/chat/completions",
        vec![Reply::sse(&RECORDED)],
    )])
    .await;
    let g = OpenAiGenerator::connect(&openai(&server.base))
        .await
        .unwrap();
    let answer = g
        .generate(
            "What is Bun?",
            &[hit("index.mdx", "Bun is a JavaScript runtime.")],
        )
        .await
        .unwrap();
    assert_eq!(answer.text, "Bun is");
    assert_eq!(
        answer.tokens, 2,
        "no usage in the stream: one token a piece"
    );
    let (path, request) = server.seen().pop().unwrap();
    assert_eq!(path, "POST /v1/chat/completions");
    assert_eq!(request["model"], "smollm2");
    assert_eq!(request["stream"], true);
    assert_eq!(request["max_tokens"], 128);
    assert_eq!(request["temperature"], json!(0.0));
    assert_eq!(request["messages"][0]["role"], "system");
}

#[tokio::test]
async fn a_generator_whose_server_went_down_is_a_503_naming_it_and_down_in_health() {
    let server = StandIn::start(vec![]).await;
    let backend = OpenAiGenerator::connect(&openai(&server.base))
        .await
        .unwrap();
    let guarded = GuardedGenerator::new(std::sync::Arc::new(backend), Duration::from_secs(10));
    assert_eq!(guarded.health().await.state, BackendState::Up);
    server.stop().await;

    let err = guarded
        .generate("What is Bun?", &[hit("index.mdx", "Bun.")])
        .await
        .unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, GenerateError::Unavailable(_)), "{message}");
    assert!(
        message.contains(&format!(
            "openai-compatible at {}/v1/chat/completions cannot be reached",
            server.base
        )) && message.contains("[generator] url"),
        "{message}"
    );
    let api = ApiError::from(err);
    assert_eq!(api.status, StatusCode::SERVICE_UNAVAILABLE);

    let health = guarded.health().await;
    assert_eq!(health.state, BackendState::Down);
    assert!(
        health.detail.contains("cannot be reached"),
        "{}",
        health.detail
    );
}

#[tokio::test]
async fn connection_errors_are_retried_with_backoff_then_reported() {
    let url = format!("http://127.0.0.1:{}", closed_port());
    let (err, took) = failed_post(&url, 2).await;
    assert!(
        matches!(&err, RemoteError::Unreachable { attempts: 3, .. }),
        "{err}"
    );
    // Two pauses: 250 ms, then 500 ms.
    assert!(took >= Duration::from_millis(750), "{took:?}");
}

#[tokio::test]
async fn a_server_that_comes_up_during_the_retries_is_used() {
    let port = closed_port();
    let url = format!("http://127.0.0.1:{port}");
    let late = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(400)).await;
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .unwrap();
        StandIn::serve(
            listener,
            vec![("POST /v1/embeddings", vec![Reply::json(r#"{"data": []}"#)])],
        )
    });
    let endpoint = Endpoint::new(settings(&url, 4)).unwrap();
    let response = endpoint.post("/v1/embeddings", &json!({"input": []})).await;
    assert!(response.is_ok(), "{:?}", response.err());
    let server = late.await.unwrap();
    assert_eq!(
        server.paths(),
        ["POST /v1/embeddings"],
        "sent once, when it could be"
    );
}

#[tokio::test]
async fn an_error_answer_is_never_retried() {
    let server = StandIn::start(vec![(
        "POST /v1/chat/completions",
        vec![Reply::error(
            500,
            r#"{"error": {"message": "out of memory", "type": "server_error"}}"#,
        )],
    )])
    .await;
    let endpoint = Endpoint::new(settings(&server.base, 3)).unwrap();
    let err = endpoint
        .post("/v1/chat/completions", &json!({}))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, RemoteError::Status { status: 500, message, .. } if message == "out of memory"),
        "{err}"
    );
    assert_eq!(
        server.paths().len(),
        1,
        "the server may have done the work: no second try"
    );
}

#[tokio::test]
async fn a_server_that_stops_sending_hits_the_read_timeout() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    // Accepts, reads the request, never answers.
    tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut buf = [0u8; 4096];
        let _ = tokio::io::AsyncReadExt::read(&mut socket, &mut buf).await;
        tokio::time::sleep(Duration::from_secs(30)).await;
    });
    let (err, took) = failed_post(&url, 2).await;
    assert!(
        matches!(&err, RemoteError::Silent { secs: 1, .. })
            && err.to_string().contains("read_timeout_secs"),
        "{err}"
    );
    assert!(took < Duration::from_secs(5), "{took:?}");
}

#[tokio::test]
async fn an_openai_url_is_required_and_checked() {
    let cfg = GeneratorConfig {
        backend: GeneratorBackend::Openai,
        ..GeneratorConfig::default()
    };
    let Err(err) = OpenAiGenerator::connect(&cfg).await else {
        panic!("no url must be refused");
    };
    assert!(
        matches!(&err, GenerateError::Load(m) if m.contains("[generator] url is not set")),
        "{err}"
    );
    let Err(err) = Endpoint::new(settings("localhost:8000", 0)) else {
        panic!("a URL without a scheme must be refused");
    };
    assert!(err.to_string().contains("[generator] url"), "{err}");
}
