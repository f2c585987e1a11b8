//! Usage errors: a broken scenario exits 2 and says where and what.

mod common;

use std::path::PathBuf;

use common::{harness, show};

/// Runs scenario `text`, written as `name`, which must be a usage error (exit 2). Returns the
/// file's path, the stderr, and all the run printed (for assertion messages).
fn usage_error(name: &str, text: &str) -> (PathBuf, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(name);
    std::fs::write(&file, text).unwrap();
    let out = harness(&["run", file.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (file, stderr, show(&out))
}

#[test]
fn broken_scenario_exits_2_naming_file_line_and_field() {
    let (file, stderr, shown) = usage_error(
        "broken.toml",
        "name = \"broken\"\n\n[load]\nmode = \"closed\"\nvus = \"fifty\"\nduration = \"10s\"\n",
    );
    assert!(
        stderr.contains(&format!("{}:5:", file.display())),
        "the error names file and line 5: {shown}"
    );
    assert!(
        stderr.contains("load.vus"),
        "the error names the field: {shown}"
    );
}

#[test]
fn unknown_key_exits_2_naming_it() {
    let (_, stderr, shown) = usage_error("typo.toml", "[load]\nvus = 5\nduraton = \"10s\"\n");
    assert!(stderr.contains(":3:"), "{shown}");
    assert!(stderr.contains("duraton"), "{shown}");
}

#[test]
fn invalid_threshold_rule_is_named() {
    let (file, stderr, shown) = usage_error(
        "rules.toml",
        "thresholds = [\"error_rate < 1%\", \"p95 < 2 parsecs\"]\n",
    );
    assert!(stderr.contains("thresholds[1]"), "{shown}");
    assert!(
        stderr.contains(&format!("{}:1:", file.display())),
        "the error names the rule's line: {shown}"
    );
    assert!(stderr.contains("p95 < 2 parsecs"), "{shown}");
}

#[test]
fn a_bad_containers_key_exits_2_naming_it() {
    let (_, stderr, shown) = usage_error(
        "c.toml",
        "[stack]\nkind = \"containers\"\nollama_image = \"ollama/ollama\"\n",
    );
    assert!(
        stderr.contains(":3:")
            && stderr.contains("stack.ollama_image")
            && stderr.contains("no tag"),
        "{shown}"
    );
}

#[test]
fn shipped_scenarios_parse() {
    // `--vus 1 --vus` conflicts are usage errors too; here only that each file loads:
    // an external base URL with no secret stops right after loading, before any work
    // (phase3's GPU preflight, which would stop first on a machine without a GPU, is skipped).
    for name in ["phase1", "phase2", "phase3", "smoke"] {
        let out = harness(
            &[
                name,
                "--base-url",
                "http://127.0.0.1:9",
                "--no-report",
                "--no-preflight",
            ],
            &[("RAGBENCH_JWT_SECRET", "")],
        );
        assert_eq!(out.status.code(), Some(2), "{name}: {}", show(&out));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("JWT secret"),
            "{name} loaded and asked for the secret: {}",
            show(&out)
        );
    }
}

#[test]
fn a_gpu_scenario_without_a_gpu_stops_at_the_preflight_with_the_reason() {
    if std::path::Path::new("/dev/nvidia0").exists() {
        eprintln!("skipped: this machine has an NVIDIA GPU, so the preflight may pass");
        return;
    }
    let out = harness(&["phase3", "--no-report"], &[]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("preflight gpu FAILED") && stderr.contains("--no-preflight"),
        "{}",
        show(&out)
    );
}

#[test]
fn vus_and_rate_conflict() {
    let out = harness(&["smoke", "--vus", "5", "--rate", "10"], &[]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("exclude each other"));
}
