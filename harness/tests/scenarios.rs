//! Usage errors: a broken scenario exits 2 and says where and what.

mod common;

use common::{harness, show};

fn write(dir: &std::path::Path, name: &str, text: &str) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn broken_scenario_exits_2_naming_file_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "broken.toml",
        "name = \"broken\"\n\n[load]\nmode = \"closed\"\nvus = \"fifty\"\nduration = \"10s\"\n",
    );
    let out = harness(&["run", file.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("{}:5:", file.display())),
        "the error names file and line 5: {}",
        show(&out)
    );
    assert!(
        stderr.contains("load.vus"),
        "the error names the field: {}",
        show(&out)
    );
}

#[test]
fn unknown_key_exits_2_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "typo.toml",
        "[load]\nvus = 5\nduraton = \"10s\"\n",
    );
    let out = harness(&["run", file.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(":3:"), "{}", show(&out));
    assert!(stderr.contains("duraton"), "{}", show(&out));
}

#[test]
fn invalid_threshold_rule_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "rules.toml",
        "thresholds = [\"error_rate < 1%\", \"p95 < 2 parsecs\"]\n",
    );
    let out = harness(&["run", file.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("thresholds[1]"), "{}", show(&out));
    assert!(
        stderr.contains(&format!("{}:1:", file.display())),
        "the error names the rule's line: {}",
        show(&out)
    );
    assert!(stderr.contains("p95 < 2 parsecs"), "{}", show(&out));
}

#[test]
fn containers_stack_is_rejected_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "c.toml", "[stack]\nkind = \"containers\"\n");
    let out = harness(&["run", file.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("scale-out"),
        "{}",
        show(&out)
    );
}

#[test]
fn shipped_scenarios_parse() {
    // `--vus 1 --vus` conflicts are usage errors too; here only that each file loads:
    // an external base URL with no secret stops right after loading, before any work.
    for name in ["phase1", "phase2", "phase3", "smoke"] {
        let out = harness(
            &[name, "--base-url", "http://127.0.0.1:9", "--no-report"],
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
fn vus_and_rate_conflict() {
    let out = harness(&["smoke", "--vus", "5", "--rate", "10"], &[]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("exclude each other"));
}
