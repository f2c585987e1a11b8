//! The command line: `ingest` skips bad files without aborting, the store survives a restart,
//! and SIGTERM shuts the server down cleanly.

mod common;

use std::process::Command;

use common::{client, scratch, start, token};
use serde_json::Value;

#[test]
fn ingest_skips_bad_files_and_the_store_survives_a_restart() {
    let corpus = scratch("mixed");
    std::fs::write(
        corpus.join("good.md"),
        "---\ntitle: Widgets\n---\n# Widgets\n\nWidgets are configured with `widget.toml`.\n\n## Colors\n\nRed and blue.\n",
    )
    .unwrap();
    std::fs::write(corpus.join("latin1.md"), b"caf\xe9 au lait\n").unwrap();
    std::fs::write(corpus.join("notes.txt"), "not markdown").unwrap();
    let data = scratch("cli-data");

    let out = Command::new(env!("CARGO_BIN_EXE_ragbench-server"))
        .arg("ingest")
        .arg(&corpus)
        .arg("--data-dir")
        .arg(&data)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("ingested 1 files, 2 chunks"), "{stdout}");
    assert!(stdout.contains("skipped latin1.md: not UTF-8"), "{stdout}");
    // The folder's name is the default source.
    assert!(stdout.contains("source \"ragbench-it-mixed-"), "{stdout}");
    let bad_source = Command::new(env!("CARGO_BIN_EXE_ragbench-server"))
        .arg("ingest")
        .arg(&corpus)
        .args(["--source", "no spaces please", "--data-dir"])
        .arg(&data)
        .output()
        .unwrap();
    assert!(!bad_source.status.success());
    assert!(
        String::from_utf8_lossy(&bad_source.stderr).contains("source name \"no spaces please\""),
        "{}",
        String::from_utf8_lossy(&bad_source.stderr)
    );

    let missing = Command::new(env!("CARGO_BIN_EXE_ragbench-server"))
        .args(["ingest", "/nonexistent/folder", "--data-dir"])
        .arg(&data)
        .output()
        .unwrap();
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("is not a readable folder"));

    // The same data dir served: the vectors written by `ingest` are there.
    let secret = "cli-secret";
    let (mut child, stdin, base) = start(&data, secret, &["--no-generator"]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let health: Value = rt.block_on(async {
        client()
            .get(format!("{base}/health"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    });
    assert_eq!(health["vectors"], 2, "{health}");
    assert_eq!(health["status"], "green");
    assert_eq!(health["backends"]["generator"]["state"], "disabled");
    let status = rt.block_on(async {
        client()
            .post(format!("{base}/v1/query"))
            .bearer_auth(token(secret, 60))
            .json(&serde_json::json!({ "question": "colors?" }))
            .send()
            .await
            .unwrap()
            .status()
    });
    assert_eq!(
        status, 503,
        "a disabled generator is unavailable, not an error"
    );

    // SIGTERM: graceful shutdown, exit 0.
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let exit = child.wait().unwrap();
    assert!(exit.success(), "server exited with {exit}");
    drop(stdin);
}

#[test]
fn help_explains_the_configuration() {
    let out = Command::new(env!("CARGO_BIN_EXE_ragbench-server"))
        .arg("--help")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    for key in [
        "[server]",
        "jwt_secret",
        "RAGBENCH_JWT_SECRET",
        "[generator]",
        "chunk_tokens",
    ] {
        assert!(text.contains(key), "--help lacks {key}");
    }
}

#[test]
fn serve_without_a_secret_fails_with_advice() {
    let out = Command::new(env!("CARGO_BIN_EXE_ragbench-server"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(scratch("nosecret"))
        .env_remove("RAGBENCH_JWT_SECRET")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("RAGBENCH_JWT_SECRET"));
}
