//! `harness merge`: the summaries of two recorders merge into exactly what one recorder fed
//! with every sample reports; runs of different scenarios or schema versions are refused;
//! inputs without histograms merge with a note; the command writes a valid summary.

mod common;

use std::time::{Duration, Instant};

use harness::load::workload::Endpoint;
use harness::measure::recorder::{Outcome, Recorder, Status};
use harness::output::merge::{MergeError, merge};
use harness::summary::{LatencyStats, Summary};

use common::{assert_schema_valid, harness, show};

const WINDOW: Duration = Duration::from_secs(5);

fn template() -> Summary {
    serde_json::from_str(include_str!("fixtures/summary-phase2.json"))
        .expect("the recorded phase2 summary parses")
}

/// One synthetic request: when it started (offset into the window), how long it took, ...
struct Sample {
    offset: Duration,
    endpoint: Endpoint,
    bad_token: bool,
    latency: Duration,
    status: Status,
    timing: Option<String>,
}

/// Deterministic samples spread over the window, latencies from 40 us to about 2 s,
/// successes and errors, cache hits and misses, bad tokens.
fn samples(n: usize) -> Vec<Sample> {
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    (0..n)
        .map(|_| {
            let r = next();
            let offset = Duration::from_micros(r % (WINDOW.as_micros() as u64 - 1));
            let endpoint = [Endpoint::Search, Endpoint::Search, Endpoint::Query][(r >> 20) as usize % 3];
            // Log-uniform latency: 40 us .. ~2.6 s.
            let exp = (r >> 24) % 16;
            let latency = Duration::from_micros(40 * (1 << exp) + (r >> 40) % 997);
            let bad_token = (r >> 8) % 29 == 0;
            let status = match (r >> 12) % 50 {
                0 => Status::Http(503),
                1 => Status::Transport,
                2 if bad_token => Status::Http(200),
                _ if bad_token => Status::Http(401),
                _ => Status::Http(200),
            };
            let timing = match (r >> 16) % 3 {
                0 => None,
                1 => Some(format!(
                    "cache;desc=\"hit\";dur=0.0{}, total;dur=0.{:03}",
                    r % 10,
                    (r >> 4) % 1000
                )),
                _ => Some(format!(
                    "cache;desc=\"miss\";dur=0.010, embed;dur={}.{:03}, search;dur=0.{:03}, total;dur={}.5",
                    (r >> 5) % 9,
                    (r >> 6) % 1000,
                    (r >> 7) % 1000,
                    (r >> 5) % 9 + 1
                )),
            };
            Sample {
                offset,
                endpoint,
                bad_token,
                latency,
                status,
                timing,
            }
        })
        .collect()
}

fn recorder<'a>(t0: Instant, samples: impl Iterator<Item = &'a Sample>) -> Recorder {
    let r = Recorder::new();
    r.start_window(t0);
    for s in samples {
        r.record(&Outcome {
            endpoint: s.endpoint,
            bad_token: s.bad_token,
            started: t0 + s.offset,
            latency: s.latency,
            status: s.status,
            server_timing: s.timing.as_deref(),
        });
    }
    r.end_window(t0 + WINDOW);
    r
}

/// A summary around what `r` recorded (the rest from the recorded phase2 run).
fn summary_of(r: &Recorder) -> Summary {
    let rec = r.finish(WINDOW, &[Endpoint::Search, Endpoint::Query]);
    let mut s = template();
    s.overall = rec.overall;
    s.endpoints = rec.endpoints;
    s.bad_token = rec.bad_token;
    s.series = rec.series;
    s.stages = rec.stages;
    s.cache.responses_hit = rec.responses_hit;
    s.cache.responses_miss = rec.responses_miss;
    s.load.warmup_requests = rec.warmup_requests;
    s.measured_s = WINDOW.as_secs_f64();
    s
}

/// The figures of a latency summary, without the histogram they came from.
fn figures(l: &LatencyStats) -> serde_json::Value {
    let mut l = l.clone();
    l.hdr_base64 = None;
    serde_json::to_value(l).unwrap()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

#[test]
fn two_recorders_merge_into_what_one_recorder_reports() {
    let all = samples(20_000);
    let t0 = Instant::now();
    let a = summary_of(&recorder(t0, all.iter().step_by(2)));
    let b = summary_of(&recorder(t0, all.iter().skip(1).step_by(2)));
    let one = summary_of(&recorder(t0, all.iter()));
    assert!(a.overall.requests > 0 && b.overall.requests > 0);

    let merged = merge(&[a, b]).expect("runs of one scenario merge");

    let endpoints = |s: &Summary| {
        let mut v = vec![("all".to_string(), s.overall.clone())];
        v.extend(s.endpoints.clone());
        v
    };
    let (got, want) = (endpoints(&merged), endpoints(&one));
    assert_eq!(
        got.iter().map(|e| &e.0).collect::<Vec<_>>(),
        want.iter().map(|e| &e.0).collect::<Vec<_>>()
    );
    for ((name, g), (_, w)) in got.iter().zip(&want) {
        assert_eq!(g.requests, w.requests, "{name} requests");
        assert_eq!(g.errors, w.errors, "{name} errors");
        assert_eq!(
            g.errors_by_status, w.errors_by_status,
            "{name} errors by status"
        );
        assert_eq!(g.status_counts, w.status_counts, "{name} status counts");
        assert_eq!(figures(&g.latency), figures(&w.latency), "{name} latency");
        assert_eq!(
            serde_json::to_value(&g.percentiles).unwrap(),
            serde_json::to_value(&w.percentiles).unwrap(),
            "{name} percentile curve"
        );
        for (what, gc, wc) in [
            ("cached", &g.cached, &w.cached),
            ("uncached", &g.uncached, &w.uncached),
        ] {
            let (gc, wc) = (gc.as_ref().unwrap(), wc.as_ref().unwrap());
            assert_eq!(figures(gc), figures(wc), "{name} {what}");
        }
        assert!(
            close(g.throughput_rps, w.throughput_rps),
            "{name} throughput {} vs {}",
            g.throughput_rps,
            w.throughput_rps
        );
        assert!(close(g.error_rate, w.error_rate), "{name} error rate");
    }
    assert!(one.overall.latency.p50_us < one.overall.latency.p99_us);

    assert_eq!(
        merged.stages.keys().collect::<Vec<_>>(),
        one.stages.keys().collect::<Vec<_>>()
    );
    for (stage, w) in &one.stages {
        assert_eq!(figures(&merged.stages[stage]), figures(w), "stage {stage}");
    }
    assert_eq!(merged.bad_token.requests, one.bad_token.requests);
    assert_eq!(merged.bad_token.rejected, one.bad_token.rejected);
    assert_eq!(merged.bad_token.unexpected, one.bad_token.unexpected);
    assert_eq!(
        figures(&merged.bad_token.latency),
        figures(&one.bad_token.latency)
    );
    assert_eq!(merged.cache.responses_hit, one.cache.responses_hit);
    assert_eq!(merged.cache.responses_miss, one.cache.responses_miss);

    assert_eq!(merged.series.len(), one.series.len());
    for (g, w) in merged.series.iter().zip(&one.series) {
        let strip = |p: &harness::summary::SecondPoint| {
            let mut p = p.clone();
            p.hdr_base64 = None;
            serde_json::to_value(p).unwrap()
        };
        assert_eq!(strip(g), strip(w), "second {}", w.t);
    }

    // Thresholds are re-evaluated on the merged figures: the same as on one recorder's.
    let mut expected = one.clone();
    let rules: Vec<_> = one
        .scenario
        .rules
        .iter()
        .map(|r| harness::verdict::rules::parse_rule(r).unwrap())
        .collect();
    harness::verdict::decide(&rules, &mut expected, None, None);
    assert_eq!(merged.thresholds.len(), expected.thresholds.len());
    for (g, w) in merged.thresholds.iter().zip(&expected.thresholds) {
        assert_eq!(g.rule, w.rule);
        assert_eq!(g.passed, w.passed, "{}", g.rule);
        match (g.observed, w.observed) {
            (Some(x), Some(y)) => assert!(close(x, y), "{}: {x} vs {y}", g.rule),
            (x, y) => assert_eq!(x, y, "{}", g.rule),
        }
    }
    assert_eq!(merged.verdict.exit_code, expected.verdict.exit_code);
    assert!(
        !merged.notes.iter().any(|n| n.contains("upper bound")),
        "nothing is approximate: {:?}",
        merged.notes
    );
    assert_schema_valid(&serde_json::to_value(&merged).unwrap());
}

#[test]
fn runs_of_different_scenarios_are_refused() {
    let a = template();
    let mut b = template();
    b.scenario.name = "phase3".into();
    let err = merge(&[a.clone(), b]).unwrap_err();
    assert!(matches!(err, MergeError::Scenario { run: 2, .. }), "{err}");
    assert!(err.to_string().contains("phase3"), "{err}");

    let mut c = template();
    c.scenario.rules.push("p99 < 1s".into());
    assert!(matches!(
        merge(&[a.clone(), c]).unwrap_err(),
        MergeError::Scenario { .. }
    ));

    let mut d = template();
    d.schema_version = 2;
    assert!(matches!(
        merge(&[a, d]).unwrap_err(),
        MergeError::Version { run: 2, found: 2 }
    ));
    assert!(matches!(merge(&[]).unwrap_err(), MergeError::Empty));
}

#[test]
fn runs_without_histograms_merge_with_a_note() {
    // The recorded phase2 run predates stored histograms.
    let a = template();
    let mut b = template();
    b.measured_from += chrono::TimeDelta::milliseconds(2_400);
    b.machine.hostname = Some("second-load-machine".into());
    let merged = merge(&[a.clone(), b]).unwrap();
    assert_eq!(merged.overall.requests, 2 * a.overall.requests);
    assert_eq!(merged.overall.errors, 2 * a.overall.errors);
    assert!(close(
        merged.overall.throughput_rps,
        2.0 * a.overall.throughput_rps
    ));
    assert_eq!(merged.overall.latency.max_us, a.overall.latency.max_us);
    assert_eq!(merged.overall.latency.p95_us, a.overall.latency.p95_us);
    assert!(close(
        merged.overall.latency.mean_us,
        a.overall.latency.mean_us
    ));
    assert!(merged.overall.hdr_base64.is_none());
    let notes = merged.notes.join("\n");
    let approximate = merged
        .notes
        .iter()
        .find(|n| n.starts_with("percentiles are upper bounds"))
        .expect("a note names the approximate figures");
    assert!(approximate.contains("all requests latency"), "{notes}");
    assert!(
        notes.contains("aligned to the nearest whole second"),
        "{notes}"
    );
    // 2.4 s later rounds to 2 whole seconds: the series grows by two.
    assert_eq!(merged.series.len(), a.series.len() + 2);
    assert_eq!(merged.series[0].requests, a.series[0].requests);
    assert_eq!(
        merged.series[2].requests,
        a.series[2].requests + a.series[0].requests
    );
    assert_eq!(merged.scenario.vus, a.scenario.vus.map(|v| 2 * v));
    assert!((merged.measured_s - (a.measured_s + 2.4)).abs() < 1e-5);
    assert_schema_valid(&serde_json::to_value(&merged).unwrap());
}

#[test]
fn the_command_writes_a_valid_summary_and_refuses_mixed_scenarios() {
    let dir = tempfile::tempdir().unwrap();
    let all = samples(2_000);
    let t0 = Instant::now();
    let a = summary_of(&recorder(t0, all.iter().step_by(2)));
    let b = summary_of(&recorder(t0, all.iter().skip(1).step_by(2)));
    let (pa, pb) = (dir.path().join("a"), dir.path().join("b.json"));
    std::fs::create_dir(&pa).unwrap();
    a.write(&pa.join("summary.json")).unwrap();
    b.write(&pb).unwrap();
    let out_dir = dir.path().join("merged");
    let out = harness(
        &[
            "merge",
            pa.to_str().unwrap(),
            pb.to_str().unwrap(),
            "--out",
            out_dir.to_str().unwrap(),
        ],
        &[],
    );
    let merged = Summary::read(&out_dir.join("summary.json"))
        .unwrap_or_else(|e| panic!("{e}\n{}", show(&out)));
    assert_eq!(
        out.status.code(),
        Some(merged.verdict.exit_code),
        "{}",
        show(&out)
    );
    assert_eq!(
        merged.overall.requests,
        a.overall.requests + b.overall.requests
    );
    assert!(out_dir.join("junit.xml").is_file());
    let text = std::fs::read_to_string(out_dir.join("summary.json")).unwrap();
    assert_schema_valid(&serde_json::from_str(&text).unwrap());

    let mut c = b.clone();
    c.scenario.name = "phase3".into();
    let pc = dir.path().join("c.json");
    c.write(&pc).unwrap();
    let out = harness(
        &[
            "merge",
            pa.to_str().unwrap(),
            pc.to_str().unwrap(),
            "--out",
            dir.path().join("x").to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not the same scenario"),
        "{}",
        show(&out)
    );
}
