//! The capacity sweep: against a server of known capacity it finds the knee; the `capacity`
//! threshold reads the knee (and says what to do when there is none); `[sweep]` in a scenario
//! is read and checked like the flags.

mod common;

use std::path::Path;
use std::time::Duration;

use common::limited::ConcurrencyLimitedDouble;
use common::{SECRET, assert_schema_valid, double_scenario, harness, questions_file, show};
use harness::scenario::{self, Overrides};
use harness::summary::{
    StepOutcome, Summary, SweepLimit, SweepPhase, SweepSettingsInfo, SweepStep, SweepSummary,
};
use harness::verdict::rules::{evaluate, parse_rule};

/// 4 workers x 10 ms: 400 requests per second, and steps short enough for a test. Above
/// capacity the queue grows by the excess every second, so a P95 limit of 10 service times
/// fails a step a few percent past the knee, while a hiccup of a shared machine (tens of
/// milliseconds) does not fail a step below it.
#[test]
fn a_sweep_finds_the_knee_of_a_server_of_known_capacity() {
    let double = ConcurrencyLimitedDouble::start(4, Duration::from_millis(10));
    let dir = tempfile::tempdir().unwrap();
    let body = format!(
        "thresholds = [\"search.p95 < 100ms\", \"error_rate < 1%\", \"capacity > 100/s\"]\n\n\
         [sweep]\nstart_rate = 50.0\nstep_duration = \"3s\"\nstep_warmup = \"500ms\"\n\
         precision = \"5%\"\n\n\
         [load]\nmode = \"open\"\nrate = 1.0\narrival = \"constant\"\nmax_in_flight = 256\n\
         request_timeout = \"10s\"\n\n\
         [workload]\nsearch = 1\nquestions = \"{}\"\n",
        questions_file().display()
    );
    let file = double_scenario(dir.path(), "limited", &double.base_url, &body);
    let out_dir = dir.path().join("run");
    let out = harness(
        &[
            "sweep",
            file.to_str().unwrap(),
            "--out",
            out_dir.to_str().unwrap(),
        ],
        &[("RAGBENCH_JWT_SECRET", SECRET)],
    );
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let value = common::summary_json(&out_dir);
    assert_schema_valid(&value);
    let summary = Summary::read(&out_dir.join("summary.json")).unwrap();
    let sweep = summary
        .sweep
        .as_ref()
        .expect("the summary records the sweep");
    let capacity = sweep.capacity_rps.expect("a knee was found");
    // The one timing assertion: the knee within 20 % of workers / service time.
    assert!(
        (capacity - double.capacity_rps).abs() <= 0.2 * double.capacity_rps,
        "knee {capacity:.1}/s, the double serves {:.0}/s\n{}",
        double.capacity_rps,
        show(&out)
    );
    assert_eq!(sweep.limited_by, SweepLimit::Server, "{}", show(&out));
    assert!(sweep.first_fail_rps.unwrap() > capacity);
    assert_eq!(sweep.steps[0].offered_rps, 50.0);
    assert!(sweep.steps.iter().any(|s| s.phase == SweepPhase::Bisect));
    assert!(sweep.steps.iter().any(|s| s.outcome == StepOutcome::Fail));
    // The run's figures are the knee step's, and the capacity rule read the knee.
    assert_eq!(summary.scenario.rate_per_s, Some(capacity));
    let rule = summary
        .thresholds
        .iter()
        .find(|t| t.metric == "capacity")
        .unwrap();
    assert!(rule.passed && rule.observed == Some(capacity), "{rule:?}");
    // Each step is a line as it finishes, and the knee closes the search.
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("step 1 (ramp) 50 req/s offered"),
        "{}",
        show(&out)
    );
    assert!(stderr.contains("capacity: "), "{}", show(&out));
    let report = std::fs::read_to_string(out_dir.join("report.html")).unwrap();
    assert!(
        report.contains("id=\"chart-sweep\""),
        "the report plots the sweep"
    );
    assert!(report.contains("knee"), "the report marks the knee");
}

fn fixture() -> Summary {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/summary-phase2.json");
    Summary::read(&path).unwrap()
}

fn step(offered: f64, outcome: StepOutcome) -> SweepStep {
    SweepStep {
        phase: SweepPhase::Ramp,
        offered_rps: offered,
        achieved_rps: offered,
        requests: 100,
        p50_us: 1000,
        p95_us: 2000,
        p99_us: 3000,
        error_rate: 0.0,
        generator_lag_p99_us: Some(40),
        dropped: Some(0),
        outcome,
        reasons: Vec::new(),
    }
}

fn swept(capacity: Option<f64>, limited_by: SweepLimit) -> SweepSummary {
    SweepSummary {
        settings: SweepSettingsInfo {
            start_rate_per_s: 50.0,
            max_rate_per_s: 20_000.0,
            growth: 2.0,
            precision: 0.05,
            step_duration_s: 10.0,
            step_warmup_s: 2.0,
            min_achieved: 0.95,
            arrival: harness::scenario::Arrival::Poisson,
            max_in_flight: 256,
            rules: vec!["search.p95 < 2ms".into()],
        },
        steps: vec![
            step(50.0, StepOutcome::Pass),
            step(100.0, StepOutcome::Fail),
        ],
        capacity_rps: capacity,
        first_fail_rps: Some(100.0),
        limited_by,
    }
}

#[test]
fn the_capacity_threshold_reads_the_knee() {
    let rule = parse_rule("capacity > 500/s").unwrap();
    assert_eq!(rule.limit, 500.0);
    let mut s = fixture();
    s.sweep = Some(swept(Some(612.5), SweepLimit::Server));
    let t = &evaluate(std::slice::from_ref(&rule), &s)[0];
    assert!(t.passed, "{t:?}");
    assert_eq!(t.observed, Some(612.5));
    assert_eq!(t.observed_display, "612.5/s");
    s.sweep = Some(swept(Some(450.0), SweepLimit::Server));
    let t = &evaluate(std::slice::from_ref(&rule), &s)[0];
    assert!(!t.passed);
    assert!(t.message.as_deref().unwrap().contains("450.0/s"), "{t:?}");
    // The summary with the sweep reads back and matches the schema.
    assert_schema_valid(&serde_json::to_value(&s).unwrap());
}

#[test]
fn the_capacity_threshold_says_what_to_do_without_a_knee() {
    let rule = parse_rule("capacity >= 100/s").unwrap();
    let mut s = fixture();
    assert!(s.sweep.is_none(), "an old summary reads without a sweep");
    let t = &evaluate(std::slice::from_ref(&rule), &s)[0];
    assert!(!t.passed);
    assert!(
        t.message.as_deref().unwrap().contains("harness sweep"),
        "{t:?}"
    );
    s.sweep = Some(swept(None, SweepLimit::StartRate));
    let t = &evaluate(std::slice::from_ref(&rule), &s)[0];
    assert!(!t.passed);
    assert!(
        t.message.as_deref().unwrap().contains("lower `start_rate`"),
        "{t:?}"
    );
    assert!(
        parse_rule("search.capacity > 5/s")
            .unwrap_err()
            .to_string()
            .contains("not per endpoint")
    );
}

fn scenario_with(sweep: &str) -> Result<scenario::Scenario, String> {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("s.toml");
    let text = format!(
        "thresholds = [\"search.p95 < 2ms\"]\n\n{sweep}\n\n[workload]\nquestions = \"{}\"\n",
        questions_file().display()
    );
    std::fs::write(&file, text).unwrap();
    scenario::load(&file, &Overrides::default()).map_err(|e| e.to_string())
}

#[test]
fn a_scenario_asks_for_a_sweep_with_a_sweep_table() {
    let s = scenario_with(
        "[sweep]\nstart_rate = 20.0\nmax_rate = 5000.0\ngrowth = 1.5\nprecision = \"2%\"\n\
         step_duration = \"5s\"\nstep_warmup = \"1s\"\nmin_achieved = \"90%\"\n",
    )
    .unwrap();
    let sweep = s.sweep.expect("[sweep] read");
    assert_eq!(sweep.start_rate, 20.0);
    assert_eq!(sweep.max_rate, 5000.0);
    assert_eq!(sweep.growth, 1.5);
    assert!((sweep.precision - 0.02).abs() < 1e-12);
    assert_eq!(sweep.step_duration, Duration::from_secs(5));
    assert_eq!(sweep.step_warmup, Duration::from_secs(1));
    assert!((sweep.min_achieved - 0.9).abs() < 1e-12);
    // An empty table asks for a sweep with the defaults; no table asks for none.
    assert_eq!(
        scenario_with("[sweep]\n").unwrap().sweep,
        Some(Default::default())
    );
    assert!(scenario_with("").unwrap().sweep.is_none());
}

#[test]
fn a_bad_sweep_table_names_the_line_and_the_key() {
    let e = scenario_with("[sweep]\nstart_rate = 50.0\nstep_duration = \"100ms\"\n").unwrap_err();
    assert!(e.contains(":5:1: sweep.step_duration:"), "{e}");
    assert!(e.contains("at least 1s"), "{e}");
    let e = scenario_with("[sweep]\nstep_size = 3\n").unwrap_err();
    assert!(e.contains("sweep.step_size: unknown field"), "{e}");
    let e = scenario_with("[sweep]\nprecision = \"lots\"\n").unwrap_err();
    assert!(e.contains("sweep.precision: `lots` is not a share"), "{e}");
}
