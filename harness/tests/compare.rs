//! `harness compare`: two recorded runs side by side give the expected rows, a console table
//! and an HTML page with one column per run.

mod common;

use harness::output::compare::{compare, render_console, render_html};
use harness::output::report::compare::Outcome;
use harness::summary::Summary;

use common::{harness, show};

fn fixture(name: &str) -> Summary {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    Summary::read(&path).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn cpu_and_gpu_runs_side_by_side() {
    let (cpu, gpu) = (
        fixture("report-phase2-cpu.json"),
        fixture("report-phase3-gpu.json"),
    );
    let c = compare(&[cpu.clone(), gpu.clone()]);
    assert_eq!(
        c.runs.iter().map(|r| r.label.as_str()).collect::<Vec<_>>(),
        ["phase2", "phase3"]
    );
    assert_eq!(c.runs[1].device, "GPU");

    let scopes: Vec<(&str, &str)> = c
        .rows
        .iter()
        .map(|r| (r.metric.as_str(), r.scope.as_str()))
        .collect();
    let mut expected = Vec::new();
    for scope in ["all requests", "health", "query", "search"] {
        for metric in ["P50", "P95", "P99", "throughput", "error rate"] {
            expected.push((metric, scope));
        }
    }
    expected.extend([
        ("cache hit rate", "server cache"),
        ("mean CPU", "server process"),
        ("peak RSS", "server process"),
        ("mean GPU utilization", "GPU"),
    ]);
    assert_eq!(scopes, expected);

    let find = |metric: &str, scope: &str| {
        c.rows
            .iter()
            .find(|r| r.metric == metric && r.scope == scope)
            .unwrap()
    };
    let p95 = find("P95", "all requests");
    assert_eq!(p95.cells.len(), 2);
    assert_eq!(p95.cells[0].value, Some(cpu.overall.latency.p95_us as f64));
    assert_eq!(p95.cells[1].value, Some(gpu.overall.latency.p95_us as f64));
    assert!(p95.cells[0].change.is_none());
    let ch = p95.cells[1].change.as_ref().unwrap();
    assert_eq!(ch.outcome, Outcome::Better);
    let factor = cpu.overall.latency.p95_us as f64 / gpu.overall.latency.p95_us as f64;
    assert!((ch.factor.unwrap() - factor).abs() < 1e-9);
    let pct = (gpu.overall.latency.p95_us as f64 / cpu.overall.latency.p95_us as f64 - 1.0) * 100.0;
    assert!((ch.pct.unwrap() - pct).abs() < 1e-9);
    assert!(ch.pct_text.starts_with('-'), "{}", ch.pct_text);

    let tp = find("throughput", "all requests");
    assert_eq!(
        tp.cells[1].change.as_ref().unwrap().outcome,
        Outcome::Better
    );
    let gpu_row = find("mean GPU utilization", "GPU");
    assert_eq!(gpu_row.cells[0].text, "-");
    assert_eq!(
        gpu_row.cells[1].change.as_ref().unwrap().outcome,
        Outcome::Info
    );

    let console = render_console(&c);
    let lines: Vec<&str> = console.lines().collect();
    assert_eq!(lines.len(), c.rows.len() + 2, "{console}");
    assert!(
        lines[0].starts_with("metric") && lines[0].contains("phase3"),
        "{console}"
    );
    assert!(console.contains(&ch.text), "{console}");

    let html = render_html(&c).unwrap();
    assert_eq!(
        html.matches("<th class=\"num run\">").count(),
        2,
        "one column per run"
    );
    assert!(html.contains(">phase2</th>") && html.contains(">phase3</th>"));
    assert!(!html.contains("<script"), "no scripts");
    assert!(
        !html.contains("{{") && !html.contains("{%"),
        "the template rendered"
    );
}

#[test]
fn runs_of_one_scenario_get_telling_labels() {
    let a = fixture("summary-phase2.json");
    let mut b = a.clone();
    b.git_revision = Some("0123456789abcdef".into());
    let c = compare(&[a.clone(), b, a.clone()]);
    let labels: Vec<&str> = c.runs.iter().map(|r| r.label.as_str()).collect();
    assert_eq!(labels[1], "phase2 @ 0123456789");
    assert_ne!(labels[0], labels[2], "{labels:?}");
    // The same run twice: every change is 1.00x, judged "same".
    let p50 = &c.rows[0];
    let ch = p50.cells[2].change.as_ref().unwrap();
    assert_eq!(ch.factor_text, "1.00x");
    assert_eq!(ch.outcome, Outcome::Same);
    assert_eq!(ch.pct_text, "+0.0 %");
}

#[test]
fn the_command_prints_the_table_and_writes_the_page() {
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("cmp.html");
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let out = harness(
        &[
            "compare",
            fixtures.join("report-phase2-cpu.json").to_str().unwrap(),
            fixtures.join("report-phase3-gpu.json").to_str().unwrap(),
            "--out",
            page.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("P95") && stdout.contains("phase3"),
        "{}",
        show(&out)
    );
    let html = std::fs::read_to_string(&page).expect("the page was written");
    assert_eq!(html.matches("<th class=\"num run\">").count(), 2);

    let out = harness(
        &[
            "compare",
            fixtures.join("report-phase2-cpu.json").to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(
        out.status.code(),
        Some(2),
        "one run is a usage error: {}",
        show(&out)
    );
}
