//! `harness smoke` end to end: the real server as a child process, a 30-file corpus subset
//! ingested, load through goose, thresholds, summary.json valid against its schema.
//! Needs the model assets (fetched from the package registries on first use).

mod common;

use common::{assert_schema_valid, harness, show, summary_json};

#[test]
fn smoke_runs_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("smoke");
    let out = harness(&["smoke", "--out", out_dir.to_str().unwrap()], &[]);
    let code = out.status.code();
    assert!(
        code == Some(0) || code == Some(1),
        "smoke must run (0 pass, 1 a threshold failed): {}",
        show(&out)
    );
    let s = summary_json(&out_dir);
    assert_schema_valid(&s);
    assert_eq!(s["schema_version"], 1);
    assert_eq!(s["scenario"]["name"], "smoke");
    assert_eq!(s["stack"]["kind"], "embedded");
    assert!(
        s["overall"]["requests"].as_u64().unwrap() > 0,
        "{}",
        show(&out)
    );
    assert!(s["corpus"]["ingested"].as_bool().unwrap());
    assert_eq!(s["corpus"]["files"], 30, "the 30-file subset was ingested");
    assert!(s["corpus"]["vectors"].as_u64().unwrap() > 0);
    assert!(s["server_process"]["peak_rss_bytes"].as_u64().unwrap() > 0);
    assert!(s["endpoints"]["search"]["requests"].as_u64().unwrap() > 0);
    assert_eq!(
        s["bad_token"]["requests"], s["bad_token"]["rejected"],
        "every bad token got 401"
    );
    assert!(
        s["gpu"].is_object(),
        "the GPU section is always there (available or why not)"
    );
    // The verdict matches the exit code, and a failure is a threshold, not a broken run.
    let exit = s["verdict"]["exit_code"].as_i64().unwrap();
    assert_eq!(Some(exit as i32), code);
    if exit == 1 {
        assert!(
            s["thresholds"]
                .as_array()
                .unwrap()
                .iter()
                .any(|t| t["passed"] == false),
            "exit 1 names a failed threshold: {}",
            show(&out)
        );
    }
    assert!(out_dir.join("junit.xml").is_file());
    assert!(out_dir.join("server.log").is_file());
    assert!(out_dir.join("report.html").is_file(), "{}", show(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("verdict:"), "{}", show(&out));
}

#[test]
fn a_repeat_run_starts_from_the_cached_store_and_embeds_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let stores = dir.path().join("stores");
    let env = [("RAGBENCH_STORE_CACHE", stores.to_str().unwrap())];
    let run = |name: &str, extra: &[&str]| {
        let out_dir = dir.path().join(name);
        let mut args = vec![
            "smoke",
            "--out",
            out_dir.to_str().unwrap(),
            "--corpus-limit",
            "8",
            "--duration",
            "2s",
            "--warmup",
            "1s",
            "--no-calibrate",
        ];
        args.extend_from_slice(extra);
        let out = harness(&args, &env);
        assert!(matches!(out.status.code(), Some(0 | 1)), "{}", show(&out));
        (summary_json(&out_dir), show(&out))
    };
    let notes = |s: &serde_json::Value| s["notes"].to_string();

    let (first, shown) = run("first", &[]);
    assert!(first["corpus"]["upserted"].as_u64().unwrap() > 0, "{shown}");
    assert!(!notes(&first).contains("harness's cache"), "{shown}");
    let entries: Vec<_> = std::fs::read_dir(&stores).unwrap().collect();
    assert_eq!(
        entries.len(),
        1,
        "one cached store after the first run: {shown}"
    );

    let (second, shown) = run("second", &[]);
    assert_eq!(second["corpus"]["upserted"], 0, "{shown}");
    assert_eq!(
        second["corpus"]["vectors"], first["corpus"]["vectors"],
        "{shown}"
    );
    assert!(
        notes(&second).contains("came from the harness's cache"),
        "{shown}"
    );

    let (fresh, shown) = run("fresh", &["--fresh-store"]);
    assert_eq!(
        fresh["corpus"]["upserted"], first["corpus"]["upserted"],
        "{shown}"
    );
    assert!(!notes(&fresh).contains("harness's cache"), "{shown}");
}
