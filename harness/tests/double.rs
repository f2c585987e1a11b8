//! Runs against a server double: the open loop sees a stall (coordinated omission), an
//! impossible threshold fails the run with a JUnit failure and a warning that the instrument
//! cannot resolve it, bad tokens are counted apart, every run carries the instrument's
//! calibrated floor (unless `--no-calibrate`), and every summary matches the schema.

mod common;

use std::time::Duration;

use common::{
    StallingServerDouble, assert_schema_valid, questions_file, run_against, show, summary_json,
};

fn open_loop_p99(stall_every: u64) -> (u64, serde_json::Value) {
    let double = StallingServerDouble::start(stall_every, Duration::from_millis(200));
    let dir = tempfile::tempdir().unwrap();
    let body = format!(
        "thresholds = [\"requests > 0\"]\n\n[load]\nmode = \"open\"\nrate = 100.0\n\
         arrival = \"constant\"\nmax_in_flight = 2\nduration = \"4s\"\nwarmup = \"1s\"\n\n\
         [workload]\nsearch = 1\nquestions = \"{}\"\n",
        questions_file().display()
    );
    let (out, out_dir) = run_against(&double, dir.path(), "open-stall", &body, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let s = summary_json(&out_dir);
    assert_schema_valid(&s);
    let p99 = s["endpoints"]["search"]["latency"]["p99_us"]
        .as_u64()
        .unwrap();
    (p99, s)
}

#[test]
fn a_stalling_server_raises_p99_in_open_loop_mode() {
    let (plain, plain_summary) = open_loop_p99(0);
    // Every 10th search stalls 200 ms: at 100 req/s with 2 slots, requests queue behind the
    // stalls, and latency counted from the intended start shows it.
    let (stalled, stalled_summary) = open_loop_p99(10);
    assert!(
        stalled >= 200_000,
        "a 200 ms stall on 10 % of requests must be in the P99 (got {stalled} us)"
    );
    assert!(
        stalled > plain,
        "P99 with stalls ({stalled} us) must exceed P99 without ({plain} us)"
    );
    assert_eq!(plain_summary["load"]["mode"], "open");
    assert!(stalled_summary["load"]["planned"].as_u64().unwrap() > 0);
    assert!(
        stalled_summary["load"]["schedule_lag"]["max_us"]
            .as_u64()
            .unwrap()
            > 0
    );
    // The generator's own lateness is recorded apart from the waits for a slot that the
    // stalls caused, and the instrument's floor was measured with the same open-loop shape.
    assert!(
        stalled_summary["load"]["generator_lag"]["count"]
            .as_u64()
            .unwrap()
            > 0
    );
    for s in [&plain_summary, &stalled_summary] {
        let c = &s["calibration"];
        assert!(
            c["shape"]
                .as_str()
                .unwrap()
                .starts_with("open 100/s constant"),
            "{c}"
        );
        assert!(c["latency"]["count"].as_u64().unwrap() > 0, "{c}");
        assert!(c["max_rps"].as_f64().unwrap() > 0.0, "{c}");
        assert!(c["generator_lag"]["count"].as_u64().unwrap() > 0, "{c}");
    }
}

#[test]
fn no_calibrate_skips_the_floor() {
    let double = StallingServerDouble::start(0, Duration::ZERO);
    let dir = tempfile::tempdir().unwrap();
    let body = format!(
        "thresholds = [\"requests > 0\"]\n\n[load]\nmode = \"open\"\nrate = 50.0\n\
         duration = \"1s\"\nwarmup = \"0s\"\n\n[workload]\nsearch = 1\nquestions = \"{}\"\n",
        questions_file().display()
    );
    let (out, out_dir) = run_against(
        &double,
        dir.path(),
        "no-calibrate",
        &body,
        &["--no-calibrate"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let s = summary_json(&out_dir);
    assert_schema_valid(&s);
    assert!(s["calibration"].is_null(), "{}", s["calibration"]);
    assert!(!String::from_utf8_lossy(&out.stdout).contains("instrument floor"));
}

#[test]
fn impossible_threshold_exits_1_and_junit_shows_it() {
    let double = StallingServerDouble::start(0, Duration::ZERO);
    let dir = tempfile::tempdir().unwrap();
    let body = format!(
        "thresholds = [\"search.p95 < 1us\", \"requests > 0\", \"cache_hit_rate > 50%\"]\n\n\
         [load]\nmode = \"closed\"\nvus = 4\nduration = \"3s\"\nwarmup = \"1s\"\n\n\
         [workload]\nsearch = 9\nhealth = 1\nbad_token_share = 0.1\nprime = true\nquestions = \"{}\"\n",
        questions_file().display()
    );
    let (out, out_dir) = run_against(&double, dir.path(), "impossible", &body, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("verdict: FAIL"), "{}", show(&out));

    let junit = std::fs::read_to_string(out_dir.join("junit.xml")).unwrap();
    assert!(junit.contains(r#"name="search.p95 &lt; 1us""#), "{junit}");
    assert!(junit.contains("<failure"), "{junit}");
    assert!(junit.contains("vs limit &lt; 1 µs"), "{junit}");
    assert_eq!(
        junit.matches("<failure").count(),
        1,
        "only the impossible rule fails: {junit}"
    );

    let s = summary_json(&out_dir);
    assert_schema_valid(&s);
    assert_eq!(s["verdict"]["passed"], false);
    assert_eq!(s["verdict"]["exit_code"], 1);
    // 1 us is far below what any instrument resolves: the verdict says so, naming the
    // floor's own P95, and the console shows the floor and the warning.
    let warnings = s["verdict"]["warnings"].as_array().unwrap();
    assert!(
        warnings.iter().any(|w| {
            let w = w.as_str().unwrap();
            w.starts_with("search.p95 < 1us") && w.contains("its own p95 is")
        }),
        "{warnings:?}"
    );
    assert!(
        s["calibration"]["shape"]
            .as_str()
            .unwrap()
            .starts_with("closed, 4 VUs")
    );
    assert!(stdout.contains("instrument floor"), "{}", show(&out));
    assert!(stdout.contains("cannot resolve 1 µs"), "{}", show(&out));
    // Closed loop through goose: requests were made and goose counted them too.
    assert!(s["overall"]["requests"].as_u64().unwrap() > 0);
    assert!(s["load"]["goose_requests"].as_u64().unwrap() > 0);
    assert!(s["endpoints"]["health"]["requests"].as_u64().unwrap() > 0);
    // Bad tokens were sent, rejected with 401, and are not errors.
    assert!(s["bad_token"]["requests"].as_u64().unwrap() > 0);
    assert_eq!(s["bad_token"]["requests"], s["bad_token"]["rejected"]);
    assert_eq!(s["overall"]["errors"], 0);
    // Cache figures come from the double's /metrics counters (3 of 4 searches hit).
    assert_eq!(s["cache"]["source"], "metrics");
    let rate = s["cache"]["hit_rate"].as_f64().unwrap();
    assert!(rate > 0.5 && rate < 1.0, "{rate}");
    // Server-Timing was parsed into stages and cached/uncached latency.
    assert!(s["stages"]["total"]["count"].as_u64().unwrap() > 0);
    assert!(
        s["endpoints"]["search"]["cached"]["count"]
            .as_u64()
            .unwrap()
            > 0
    );
    assert!(
        s["endpoints"]["search"]["uncached"]["count"]
            .as_u64()
            .unwrap()
            > 0
    );
    assert!(!s["series"].as_array().unwrap().is_empty());
    assert!(s["load"]["primed_requests"].as_u64().unwrap() > 0);
}
