//! `[stack] kind = "containers"` end to end. With no Docker daemon reachable (these machines),
//! the run must stop before anything starts, with one line saying so and exit 2; the real run
//! is then skipped with a printed `SKIPPED:` line saying why. With a daemon, a short scenario
//! runs for real: Qdrant in a container, the server as a child process against it (generator
//! off, so no Ollama model is pulled), ingest, load, summary, and no container left behind.

mod common;

use std::io::Write;
use std::path::Path;

use common::{assert_schema_valid, harness, show, summary_json};
use ragbench_containers::ContainerError;

/// A 10-file, few-second scenario on the containers stack, written beside the question set.
fn write_scenario(dir: &Path) -> std::path::PathBuf {
    std::fs::copy(common::questions_file(), dir.join("questions.txt")).unwrap();
    let file = dir.join("containers-smoke.toml");
    std::fs::write(
        &file,
        r#"name = "containers-smoke"
thresholds = ["requests > 0", "vectors > 0"]

[stack]
kind = "containers"
startup_timeout = "10m"

[server]
generator = false

[corpus]
prefix = "guides/"
limit = 10

[load]
vus = 2
duration = "3s"
warmup = "1s"

[workload]
search = 90
health = 10
"#,
    )
    .unwrap();
    file
}

fn daemon() -> Result<(), ContainerError> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(ragbench_containers::check_daemon())
}

/// Containers labeled as ragbench's, counted through the daemon.
fn ragbench_containers_running() -> usize {
    let out = std::process::Command::new("docker")
        .args(["ps", "-aq", "--filter", "label=ragbench"])
        .output()
        .expect("the docker CLI runs");
    String::from_utf8_lossy(&out.stdout).lines().count()
}

#[test]
fn containers_stack_runs_or_says_there_is_no_docker() {
    let dir = tempfile::tempdir().unwrap();
    let file = write_scenario(dir.path());
    let out_dir = dir.path().join("run");
    let args = [
        "run",
        file.to_str().unwrap(),
        "--out",
        out_dir.to_str().unwrap(),
        "--no-report",
    ];
    match daemon() {
        Err(why) => {
            let out = harness(&args, &[]);
            assert_eq!(out.status.code(), Some(2), "{}", show(&out));
            let stderr = String::from_utf8_lossy(&out.stderr);
            let errors: Vec<&str> = stderr
                .lines()
                .filter(|l| l.starts_with("harness: error:"))
                .collect();
            assert_eq!(errors.len(), 1, "{}", show(&out));
            assert!(
                errors[0].contains("no Docker daemon is reachable")
                    && errors[0].contains("start Docker"),
                "{}",
                show(&out)
            );
            assert!(
                !out_dir.exists(),
                "nothing is started or written before the check: {}",
                show(&out)
            );
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED: the real containers run (Qdrant container, ingest, load): {why}"
            );
        }
        Ok(()) => {
            let before = ragbench_containers_running();
            let out = harness(&args, &[]);
            assert_eq!(out.status.code(), Some(0), "{}", show(&out));
            let s = summary_json(&out_dir);
            assert_schema_valid(&s);
            assert_eq!(s["stack"]["kind"], "containers");
            assert_eq!(s["scenario"]["stack"], "containers");
            assert!(
                s["corpus"]["vectors"].as_u64().unwrap() > 0,
                "{}",
                show(&out)
            );
            let qdrant = &s["stack"]["backends"]["store"];
            assert!(
                qdrant.to_string().to_lowercase().contains("qdrant"),
                "the server stored vectors in the Qdrant container: {qdrant}"
            );
            let log = std::fs::read_to_string(out_dir.join("containers/qdrant.log")).unwrap();
            assert!(!log.is_empty(), "Qdrant's log was saved");
            assert!(out_dir.join("server.log").is_file());
            assert_eq!(
                ragbench_containers_running(),
                before,
                "every container was removed: {}",
                show(&out)
            );
        }
    }
}
