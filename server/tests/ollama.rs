//! The Ollama backends against Ollama's native API as its documentation records it
//! (`docs/api.md` of the ollama repository: "Pull a Model", "List Local Models", "Generate a
//! chat completion", "Load a model", "Generate Embeddings"): a stand-in server answers with the
//! documented responses, and the requests ragbench sends are checked against the documented
//! request shapes. No Ollama runs here; its `/v1` endpoints are the OpenAI-compatible path
//! (tests/openai_compat.rs).

mod remote_common;

use ragbench_server::config::{EmbedderBackend, EmbedderConfig, GeneratorBackend, GeneratorConfig};
use ragbench_server::embed::{EmbedError, Embedder, HttpEmbedder};
use ragbench_server::generate::{GenerateError, Generator, OllamaGenerator};
use ragbench_server::remote::Api;
use remote_common::{Reply, StandIn, hit};
use serde_json::{Value, json};

/// `GET /api/tags`, as documented.
const TAGS: &str = r#"{
  "models": [
    {
      "name": "codellama:13b",
      "modified_at": "2023-11-04T14:56:49.277302595-07:00",
      "size": 7365960935,
      "digest": "9f438cb9cd581fc025612d27f7c1a6669ff83a8bb0ed86c94fcf4c5440555697",
      "details": {"format": "gguf", "family": "llama", "families": null,
                  "parameter_size": "13B", "quantization_level": "Q4_0"}
    },
    {
      "name": "llama3:latest",
      "modified_at": "2023-12-07T09:32:18.757212583-08:00",
      "size": 3825819519,
      "digest": "fe938a131f40e6f6d40083c9f0f430a515233eb2edaa6d72eb85c50d64f2300e",
      "details": {"format": "gguf", "family": "llama", "families": null,
                  "parameter_size": "7B", "quantization_level": "Q4_0"}
    }
  ]
}"#;

/// `POST /api/pull`, streamed, as documented.
const PULL: [&str; 6] = [
    r#"{"status": "pulling manifest"}"#,
    r#"{"status": "downloading digestname", "digest": "digestname", "total": 2142590208, "completed": 241970}"#,
    r#"{"status": "verifying sha256 digest"}"#,
    r#"{"status": "writing manifest"}"#,
    r#"{"status": "removing any unused layers"}"#,
    r#"{"status": "success"}"#,
];

/// `POST /api/chat` with no messages ("Load a model"), as documented.
const LOADED: &str = r#"{
  "model": "llama3.2",
  "created_at": "2024-09-12T21:17:29.110811Z",
  "message": {"role": "assistant", "content": ""},
  "done_reason": "load",
  "done": true
}"#;

/// `POST /api/chat` streamed ("Chat Request (Streaming)"): a piece, then the final object.
const CHAT: [&str; 2] = [
    r#"{"model": "llama3.2", "created_at": "2023-08-04T08:52:19.385406455-07:00",
        "message": {"role": "assistant", "content": "The", "images": null}, "done": false}"#,
    r#"{"model": "llama3.2", "created_at": "2023-08-04T19:22:45.499127Z", "done": true,
        "total_duration": 4883583458, "load_duration": 1334875, "prompt_eval_count": 26,
        "prompt_eval_duration": 342546000, "eval_count": 282, "eval_duration": 4535599000}"#,
];

/// `POST /api/embed` with one input, as documented.
const EMBED_ONE: &str = r#"{
  "model": "all-minilm",
  "embeddings": [[
    0.010071029, -0.0017594862, 0.05007221, 0.04692972, 0.054916814,
    0.008599704, 0.105441414, -0.025878139, 0.12958129, 0.031952348
  ]],
  "total_duration": 14143917,
  "load_duration": 1019500,
  "prompt_eval_count": 8
}"#;

/// `POST /api/embed` with two inputs, as documented.
const EMBED_TWO: &str = r#"{
  "model": "all-minilm",
  "embeddings": [[
    0.010071029, -0.0017594862, 0.05007221, 0.04692972, 0.054916814,
    0.008599704, 0.105441414, -0.025878139, 0.12958129, 0.031952348
  ],[
    -0.0098027075, 0.06042469, 0.025257962, -0.006364387, 0.07272725,
    0.017194884, 0.09032035, -0.051705178, 0.09951512, 0.09072481
  ]]
}"#;

fn generator(base: &str, model: &str) -> GeneratorConfig {
    GeneratorConfig {
        backend: GeneratorBackend::Ollama,
        url: Some(base.into()),
        model: Some(model.into()),
        ..GeneratorConfig::default()
    }
}

fn body(seen: &(String, Value)) -> &Value {
    &seen.1
}

/// An Ollama that has `llama3:latest` (the documented list) and answers chats with `chats` in
/// turn after the load, and a generator started on it.
async fn started_with(chats: Reply) -> (StandIn, OllamaGenerator) {
    let ollama = StandIn::start(vec![
        ("GET /api/tags", vec![Reply::json(TAGS)]),
        ("POST /api/chat", vec![Reply::json(LOADED), chats]),
    ])
    .await;
    let g = OllamaGenerator::connect(&generator(&ollama.base, "llama3"))
        .await
        .unwrap();
    (ollama, g)
}

#[tokio::test]
async fn a_missing_model_is_pulled_then_loaded_before_the_generator_is_ready() {
    let ollama = StandIn::start(vec![
        ("GET /api/tags", vec![Reply::json(TAGS)]),
        ("POST /api/pull", vec![Reply::ndjson(&PULL)]),
        ("POST /api/chat", vec![Reply::json(LOADED)]),
    ])
    .await;
    let g = OllamaGenerator::connect(&generator(&ollama.base, "llama3.2"))
        .await
        .expect("the generator starts once the model is pulled and loaded");
    assert_eq!(
        ollama.paths(),
        ["GET /api/tags", "POST /api/pull", "POST /api/chat"]
    );
    let seen = ollama.seen();
    // The documented pull request, streamed.
    assert_eq!(
        body(&seen[1]),
        &json!({"model": "llama3.2", "stream": true})
    );
    // The documented load request, with keep_alive so the model stays loaded.
    assert_eq!(
        body(&seen[2]),
        &json!({"model": "llama3.2", "messages": [], "stream": false, "keep_alive": "30m"})
    );
    let info = g.info();
    assert_eq!(info.name, "ollama");
    assert_eq!(info.detail, format!("llama3.2 at {}", ollama.base));
}

#[tokio::test]
async fn a_model_the_server_has_is_loaded_without_a_pull() {
    let ollama = StandIn::start(vec![
        ("GET /api/tags", vec![Reply::json(TAGS)]),
        ("POST /api/chat", vec![Reply::json(LOADED)]),
    ])
    .await;
    // `llama3` is `llama3:latest`, which the documented list holds.
    let mut cfg = generator(&ollama.base, "llama3");
    cfg.keep_alive = "-1".into();
    OllamaGenerator::connect(&cfg).await.unwrap();
    assert_eq!(ollama.paths(), ["GET /api/tags", "POST /api/chat"]);
    // A number of seconds goes as a number (-1: loaded for ever), as Ollama reads it.
    assert_eq!(body(&ollama.seen()[1])["keep_alive"], json!(-1));
}

#[tokio::test]
async fn an_answer_is_read_from_the_documented_stream() {
    let (ollama, g) = started_with(Reply::ndjson(&CHAT)).await;
    let passages = [hit(
        "install.mdx",
        "Run curl -fsSL https://bun.sh/install | bash",
    )];
    let answer = g.generate("why is the sky blue?", &passages).await.unwrap();
    assert_eq!(answer.text, "The");
    assert_eq!(answer.tokens, 282, "eval_count of the final object");
    assert_eq!(
        answer.prompt_tokens, 26,
        "prompt_eval_count of the final object"
    );
    assert_eq!(answer.passages_used, 1);

    let seen = ollama.seen();
    let request = body(seen.last().unwrap());
    assert_eq!(request["model"], "llama3");
    assert_eq!(request["stream"], true);
    assert_eq!(request["keep_alive"], "30m");
    assert_eq!(
        request["options"],
        json!({"temperature": 0.0, "seed": 42, "num_predict": 128})
    );
    let messages = request["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 2);
    assert_eq!(messages[0]["role"], "system");
    assert_eq!(messages[1]["role"], "user");
    let user = messages[1]["content"].as_str().unwrap();
    assert!(
        user.contains("why is the sky blue?") && user.contains("bun.sh/install"),
        "{user}"
    );
}

#[tokio::test]
async fn an_error_in_the_stream_fails_the_answer_with_the_servers_words() {
    let (_ollama, g) = started_with(Reply::ndjson(&[
        CHAT[0],
        r#"{"error": "an error was encountered while running the model"}"#,
    ]))
    .await;
    let err = g
        .generate("why?", &[hit("a.md", "text")])
        .await
        .unwrap_err();
    assert!(
        matches!(&err, GenerateError::Inference(m) if m.contains("while running the model")),
        "{err}"
    );
}

#[tokio::test]
async fn an_answer_cut_short_is_an_error_not_a_partial_answer() {
    let (_ollama, g) = started_with(Reply::ndjson(&CHAT[..1])).await;
    let err = g
        .generate("why?", &[hit("a.md", "text")])
        .await
        .unwrap_err();
    assert!(err.to_string().contains("ended before"), "{err}");
}

#[tokio::test]
async fn a_failed_pull_stops_the_start_with_the_servers_reason() {
    let ollama = StandIn::start(vec![
        ("GET /api/tags", vec![Reply::json(TAGS)]),
        (
            "POST /api/pull",
            vec![Reply::ndjson(&[
                PULL[0],
                r#"{"error": "pull model manifest: file does not exist"}"#,
            ])],
        ),
    ])
    .await;
    let Err(err) = OllamaGenerator::connect(&generator(&ollama.base, "no-such-model")).await else {
        panic!("a model that cannot be pulled must stop the start");
    };
    let message = err.to_string();
    assert!(
        message.contains("no-such-model") && message.contains("file does not exist"),
        "{message}"
    );
    assert!(
        message.contains(&format!("ollama at {}/api/pull", ollama.base)),
        "{message}"
    );
}

#[tokio::test]
async fn a_generator_without_a_model_name_says_which_key_to_set() {
    let cfg = GeneratorConfig {
        backend: GeneratorBackend::Ollama,
        url: Some("http://127.0.0.1:9".into()),
        ..GeneratorConfig::default()
    };
    let Err(err) = OllamaGenerator::connect(&cfg).await else {
        panic!("no model name must be refused");
    };
    assert!(err.to_string().contains("[generator] model"), "{err}");
}

/// An Ollama that has `all-minilm:latest` and answers embeddings with `answers` in turn, and
/// an embedder started on it (its first answer is the dimension probe's).
async fn embedder_with(answers: Vec<Reply>, batch_size: usize) -> (StandIn, HttpEmbedder) {
    let ollama = StandIn::start(vec![
        (
            "GET /api/tags",
            vec![Reply::json(
                r#"{"models": [{"name": "all-minilm:latest"}]}"#,
            )],
        ),
        ("POST /api/embed", answers),
    ])
    .await;
    let cfg = EmbedderConfig {
        backend: EmbedderBackend::Ollama,
        url: Some(ollama.base.clone()),
        model: Some("all-minilm".into()),
        batch_size,
        ..EmbedderConfig::default()
    };
    let embedder = HttpEmbedder::connect(&cfg, Api::Ollama).await.unwrap();
    (ollama, embedder)
}

fn unit(v: &[f32]) -> Vec<f32> {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.iter().map(|x| x / norm).collect()
}

fn documented(response: &str, i: usize) -> Vec<f32> {
    let v: Value = serde_json::from_str(response).unwrap();
    serde_json::from_value(v["embeddings"][i].clone()).unwrap()
}

#[tokio::test]
async fn embeddings_come_from_the_documented_answers() {
    let (ollama, embedder) = embedder_with(
        vec![
            Reply::json(EMBED_ONE),
            Reply::json(EMBED_TWO),
            Reply::json(r#"{"model": "all-minilm", "embeddings": [[0.1, 0.2, 0.3]]}"#),
        ],
        2,
    )
    .await;
    assert_eq!(embedder.dimension(), 10, "read from the probe's answer");
    let texts = vec![
        "Why is the sky blue?".to_string(),
        "Why is the grass green?".to_string(),
    ];
    let vectors = embedder.embed_batch(texts.clone()).await.unwrap();
    assert_eq!(vectors.len(), 2);
    for (i, v) in vectors.iter().enumerate() {
        let expected = unit(&documented(EMBED_TWO, i));
        assert!(
            v.iter().zip(&expected).all(|(a, b)| (a - b).abs() < 1e-6),
            "vector {i} is not the documented one at unit length"
        );
    }
    let seen = ollama.seen();
    assert_eq!(
        ollama.paths(),
        ["GET /api/tags", "POST /api/embed", "POST /api/embed"],
        "no pull: the server has the model"
    );
    assert_eq!(
        body(&seen[2]),
        &json!({"model": "all-minilm", "input": texts, "keep_alive": "30m", "truncate": true})
    );
    // A vector of another size than at start (the model changed under the server) is
    // refused, never stored beside the others.
    let err = embedder.embed_query("short").await.unwrap_err();
    assert!(
        err.to_string()
            .contains("3-dimensional vector; the model made 10-dimensional ones"),
        "{err}"
    );
}

#[tokio::test]
async fn an_answer_with_too_few_vectors_is_refused() {
    let (_ollama, embedder) = embedder_with(vec![Reply::json(EMBED_ONE)], 32).await;
    let err = embedder
        .embed_batch(vec!["a".into(), "b".into()])
        .await
        .unwrap_err();
    assert!(
        matches!(&err, EmbedError::Inference(m) if m.contains("1 vectors for 2 texts")),
        "{err}"
    );
}
