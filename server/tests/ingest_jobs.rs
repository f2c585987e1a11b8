//! Ingest jobs against a real server: `POST /v1/ingest` with `"wait": false` answers 202 with a
//! job id, `GET /v1/ingest/{id}` follows it to the same summary a synchronous ingest gives;
//! one job per source at a time (409), one ingestion at a time (the rest queued), unknown ids
//! 404, the `ingest` scope required, and a job's failure reported with the synchronous
//! call's status, code and message.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::{client, ingest_token, scratch, start_with_env, token};
use serde_json::{Value, json};

/// `[ingest] max_files` of the test server: the "too many" folder has more.
const MAX_FILES: usize = 25;

struct Server {
    base: String,
    secret: String,
    root: PathBuf,
    _child: Child,
    _stdin: ChildStdin,
}

/// One server for the binary, with `root` as its only allowed root.
fn server() -> &'static Server {
    static SERVER: OnceLock<Server> = OnceLock::new();
    SERVER.get_or_init(|| {
        let root = scratch("jobs-root");
        let secret = format!("jobs-secret-{}", std::process::id());
        let roots = root.display().to_string();
        let max_files = MAX_FILES.to_string();
        let (child, stdin, base) = start_with_env(
            &scratch("jobs-data"),
            &secret,
            &["--no-generator"],
            &[
                ("RAGBENCH_INGEST__ALLOWED_ROOTS", &roots),
                ("RAGBENCH_INGEST__MAX_FILES", &max_files),
            ],
        );
        Server {
            base,
            secret,
            root,
            _child: child,
            _stdin: stdin,
        }
    })
}

/// The first `n` corpus files copied under the allowed root as `name`.
fn folder(name: &str, n: usize) -> PathBuf {
    let s = server();
    let dest = s.root.join(name);
    copy_dir(&common::corpus_subset(n), &dest);
    dest
}

fn copy_dir(from: &Path, to: &Path) {
    for entry in walkdir::WalkDir::new(from)
        .into_iter()
        .filter_map(Result::ok)
    {
        let rel = entry.path().strip_prefix(from).unwrap();
        let target = to.join(rel);
        if entry.file_type().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

async fn call(
    method: reqwest::Method,
    route: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = client().request(method, format!("{}{route}", server().base));
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    if let Some(body) = body {
        req = req.json(&body);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

fn writer() -> String {
    ingest_token(&server().secret, 3600)
}

async fn post_ingest(body: Value) -> (u16, Value) {
    call(
        reqwest::Method::POST,
        "/v1/ingest",
        Some(&writer()),
        Some(body),
    )
    .await
}

async fn job(id: &str) -> Value {
    let (status, body) = call(
        reqwest::Method::GET,
        &format!("/v1/ingest/{id}"),
        Some(&writer()),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body
}

/// Polls a job until it has finished; returns every view seen, the last one finished.
async fn follow(id: &str) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(600);
    let mut seen = Vec::new();
    loop {
        let view = job(id).await;
        let finished = matches!(view["state"].as_str(), Some("done" | "failed"));
        seen.push(view);
        if finished {
            return seen;
        }
        assert!(
            Instant::now() < deadline,
            "job {id} did not finish: {:?}",
            seen.last()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Runtime::new().unwrap()
}

#[test]
fn a_job_ingests_what_a_synchronous_call_does() {
    let dir = folder("same", 12);
    rt().block_on(async {
        let (status, sync) = post_ingest(json!({ "path": dir, "source": "same-sync" })).await;
        assert_eq!(status, 200, "{sync}");

        let (status, started) =
            post_ingest(json!({ "path": dir, "source": "same-job", "wait": false })).await;
        assert_eq!(status, 202, "{started}");
        let id = started["job"].as_str().unwrap().to_string();
        assert_eq!(started["status_url"], format!("/v1/ingest/{id}"));
        assert_eq!(started["source"], "same-job");
        assert!(
            matches!(started["state"].as_str(), Some("queued" | "running")),
            "{started}"
        );

        let views = follow(&id).await;
        let last = views.last().unwrap();
        assert_eq!(last["state"], "done", "{last}");
        assert_eq!(last["id"], id.as_str());
        assert!(last["error"].is_null(), "{last}");
        let summary = &last["summary"];
        // The same folder as another source: the same work, counted the same way.
        for key in ["files", "chunks", "upserted", "deleted"] {
            assert_eq!(
                summary[key], sync[key],
                "{key}: job {summary} vs sync {sync}"
            );
        }
        assert_eq!(summary["source"], "same-job");
        assert_eq!(summary["skipped"], sync["skipped"]);
        // Progress: finished, every file read, every passage embedded, and it never went back.
        let progress = &last["progress"];
        assert_eq!(progress["stage"], "finished", "{last}");
        assert_eq!(progress["files_read"], summary["files"], "{last}");
        assert_eq!(progress["passages"], summary["chunks"], "{last}");
        assert_eq!(progress["embedded"], summary["upserted"], "{last}");
        let embedded: Vec<u64> = views
            .iter()
            .map(|v| v["progress"]["embedded"].as_u64().unwrap())
            .collect();
        assert!(embedded.windows(2).all(|w| w[0] <= w[1]), "{embedded:?}");

        // Both sources hold the same passages; a finished job stays readable.
        let (_, sources) = call(
            reqwest::Method::GET,
            "/v1/sources",
            Some(&token(&server().secret, 600)),
            None,
        )
        .await;
        let count = |name: &str| {
            sources["sources"]
                .as_array()
                .unwrap()
                .iter()
                .find(|s| s["name"] == name)
                .map(|s| s["passages"].clone())
        };
        assert_eq!(count("same-job"), count("same-sync"), "{sources}");
        assert_eq!(count("same-job"), Some(sync["chunks"].clone()), "{sources}");
        assert_eq!(job(&id).await["summary"], *summary);

        // Re-ingesting as a job is idempotent too.
        let (status, again) =
            post_ingest(json!({ "path": dir, "source": "same-job", "wait": false })).await;
        assert_eq!(status, 202, "{again}");
        let again = follow(again["job"].as_str().unwrap()).await;
        let again = &again.last().unwrap()["summary"];
        assert_eq!(
            (&again["upserted"], &again["deleted"]),
            (&json!(0), &json!(0)),
            "{again}"
        );
    });
}

#[test]
fn one_job_per_source_and_one_ingestion_at_a_time() {
    let big = folder("busy", 20);
    let other = folder("other", 3);
    rt().block_on(async {
        let (status, first) =
            post_ingest(json!({ "path": big, "source": "busy", "wait": false })).await;
        assert_eq!(status, 202, "{first}");
        let first_id = first["job"].as_str().unwrap().to_string();

        // The same source again, as a job or waiting: refused while the first is under way.
        for wait in [false, true] {
            let (status, body) =
                post_ingest(json!({ "path": big, "source": "busy", "wait": wait })).await;
            assert_eq!(status, 409, "wait {wait}: {body}");
            assert_eq!(body["error"]["code"], "conflict", "{body}");
            let message = body["error"]["message"].as_str().unwrap();
            assert!(message.contains("\"busy\""), "{message}");
            assert!(
                message.contains(&format!("/v1/ingest/{first_id}")),
                "{message}"
            );
        }
        // Another source is accepted, and waits for its turn.
        let (status, second) =
            post_ingest(json!({ "path": other, "source": "other", "wait": false })).await;
        assert_eq!(status, 202, "{second}");
        let second_id = second["job"].as_str().unwrap().to_string();
        // Read the second, then the first: if the first is still running at the later read,
        // it was at the earlier one too, and the second had to be waiting.
        let second_view = job(&second_id).await;
        let first_view = job(&first_id).await;
        if first_view["state"] == "running" {
            assert_eq!(second_view["state"], "queued", "{second_view}");
            assert_eq!(second_view["progress"]["embedded"], 0, "{second_view}");
        }

        let first_done = follow(&first_id).await;
        assert_eq!(first_done.last().unwrap()["state"], "done");
        let second_done = follow(&second_id).await;
        assert_eq!(second_done.last().unwrap()["state"], "done");
        // Free again once finished.
        let (status, body) = post_ingest(json!({ "path": big, "source": "busy" })).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["upserted"], 0, "{body}");
    });
}

#[test]
fn unknown_jobs_are_404() {
    rt().block_on(async {
        for id in ["nope", "0-1", "ffffffffff-999999"] {
            let (status, body) = call(
                reqwest::Method::GET,
                &format!("/v1/ingest/{id}"),
                Some(&writer()),
                None,
            )
            .await;
            assert_eq!(status, 404, "{id}: {body}");
            assert_eq!(body["error"]["code"], "not_found", "{body}");
        }
    });
}

#[test]
fn jobs_need_the_ingest_scope_and_an_allowed_folder() {
    let dir = folder("scoped", 2);
    rt().block_on(async {
        let reader = token(&server().secret, 600);
        let (status, body) = call(
            reqwest::Method::POST,
            "/v1/ingest",
            Some(&reader),
            Some(json!({ "path": dir, "wait": false })),
        )
        .await;
        assert_eq!(status, 403, "{body}");
        let (status, _) = call(
            reqwest::Method::POST,
            "/v1/ingest",
            None,
            Some(json!({ "path": dir, "wait": false })),
        )
        .await;
        assert_eq!(status, 401);

        // Outside the allowed root: refused before any job exists.
        let outside = scratch("jobs-outside");
        std::fs::write(outside.join("a.md"), "# A\n\nText.\n").unwrap();
        let (status, body) = post_ingest(json!({ "path": outside, "wait": false })).await;
        assert_eq!(status, 403, "{body}");
        assert!(body.get("job").is_none(), "{body}");

        // Following a job needs the scope too.
        let (status, started) = post_ingest(json!({ "path": dir, "wait": false })).await;
        assert_eq!(status, 202, "{started}");
        let id = started["job"].as_str().unwrap();
        assert_eq!(started["source"], "scoped");
        let route = format!("/v1/ingest/{id}");
        let (status, body) = call(reqwest::Method::GET, &route, Some(&reader), None).await;
        assert_eq!(status, 403, "{body}");
        let (status, _) = call(reqwest::Method::GET, &route, None, None).await;
        assert_eq!(status, 401);
        assert_eq!(follow(id).await.last().unwrap()["state"], "done");

        // `wait` must be a boolean.
        let (status, body) = post_ingest(json!({ "path": dir, "wait": "no" })).await;
        assert_eq!(status, 400, "{body}");
    });
}

#[test]
fn a_failed_job_reports_the_synchronous_error() {
    let dir = folder("too-many", MAX_FILES + 3);
    rt().block_on(async {
        let (status, sync) = post_ingest(json!({ "path": dir })).await;
        assert_eq!(status, 413, "{sync}");
        let (status, started) = post_ingest(json!({ "path": dir, "wait": false })).await;
        assert_eq!(status, 202, "{started}");
        let views = follow(started["job"].as_str().unwrap()).await;
        let last = views.last().unwrap();
        assert_eq!(last["state"], "failed", "{last}");
        assert!(last["summary"].is_null(), "{last}");
        assert_eq!(last["error"]["status"], 413, "{last}");
        assert_eq!(last["error"]["code"], sync["error"]["code"], "{last}");
        assert_eq!(last["error"]["message"], sync["error"]["message"], "{last}");
        assert_eq!(last["progress"]["embedded"], 0, "nothing written: {last}");
        // The source is free again after a failure.
        let (status, again) = post_ingest(json!({ "path": dir, "wait": false })).await;
        assert_eq!(status, 202, "{again}");
        follow(again["job"].as_str().unwrap()).await;
    });
}
