//! The HTML report rendered from recorded `summary.json` files: every section, one inline SVG per
//! chart, the "no NVIDIA GPU" box, the baseline comparison, the regression gate, `harness report
//! A [B]` (and its error for a file of another schema version), escaping, and nothing loaded
//! from outside the page.

mod report_common;

use harness::output::report;
use harness::verdict::regression;
use report_common::{external_references, render_gpu_vs_cpu, summary, temp_dir};

const SECTIONS: [&str; 7] = [
    "id=\"verdict\"",
    "id=\"run-facts\"",
    "id=\"endpoints\"",
    "id=\"latency\"",
    "id=\"stages\"",
    "id=\"gpu\"",
    "id=\"server\"",
];

const CPU_CHARTS: [&str; 6] = [
    "chart-latency-time",
    "chart-throughput-time",
    "chart-latency-distribution",
    "chart-stages",
    "chart-server-cpu",
    "chart-server-rss",
];
const GPU_CHARTS: [&str; 2] = ["chart-gpu-util", "chart-gpu-memory"];

/// The markup of the chart block with this id, up to the next chart block or section.
fn chart_block<'a>(html: &'a str, id: &str) -> &'a str {
    let start = html
        .find(&format!("<div class=\"chart\" id=\"{id}\">"))
        .unwrap_or_else(|| panic!("no chart block {id}"));
    let rest = &html[start + 1..];
    let end = [rest.find("<div class=\"chart\""), rest.find("</section>")]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(rest.len());
    &html[start..start + 1 + end]
}

fn count(hay: &str, needle: &str) -> usize {
    hay.matches(needle).count()
}

/// Asserts that the page holds each of `items` (`what` names them in the failure).
fn assert_holds(html: &str, what: &str, items: &[&str]) {
    for item in items {
        assert!(html.contains(item), "{what} {item:?}");
    }
}

#[test]
fn fixtures_are_harness_summaries() {
    for name in [
        "report-phase2-cpu.json",
        "report-phase3-gpu.json",
        "report-smoke-recorded.json",
    ] {
        let s = summary(name);
        assert_eq!(s.schema_version, harness::summary::SCHEMA_VERSION);
        assert!(s.overall.requests > 0, "{name}");
    }
}

#[test]
fn gpu_run_against_cpu_baseline_has_every_section_and_one_svg_per_chart() {
    let dir = temp_dir("report-gpu");
    let path = render_gpu_vs_cpu(&dir);
    assert_eq!(path, dir.join("report.html"));
    let html = std::fs::read_to_string(&path).unwrap();

    for s in SECTIONS.iter().chain(["id=\"comparison\""].iter()) {
        assert!(html.contains(s), "missing section {s}");
    }
    for id in CPU_CHARTS.iter().chain(GPU_CHARTS.iter()) {
        let block = chart_block(&html, id);
        assert_eq!(
            count(block, "<svg"),
            1,
            "chart {id} must hold exactly one <svg>"
        );
        assert_eq!(count(block, "</svg>"), 1, "chart {id}");
    }
    assert_eq!(count(&html, "<svg"), CPU_CHARTS.len() + GPU_CHARTS.len());
    assert!(!html.contains("id=\"no-gpu\""));

    // Verdict and thresholds.
    assert!(html.contains("badge pass"));
    assert_holds(
        &html,
        "threshold",
        &[
            "search.p95 &lt; 0.5ms",
            "throughput &gt; 500/s",
            "gpu_util &gt;= 60%",
        ],
    );
    // Run facts.
    assert_holds(
        &html,
        "fact",
        &[
            "phase3: GPU (scenarios/phase3.toml)",
            "closed loop, 50 virtual users (goose 0.19)",
            "bun-types@1.3.14: 332 files, 1,543 chunks",
            "Intel(R) Xeon(R) Platinum 8480+, 16 logical cores (8 physical)",
            "1 x NVIDIA H100 80GB HBM3 (80 GiB)",
            "4f1c2ab9d03e",
            "3 m 0 s measured, after 10 s of warm-up",
        ],
    );
    // Endpoints with percentiles, cached and uncached apart.
    assert_holds(
        &html,
        "endpoint row",
        &[
            "<td>search</td>",
            "<td>query</td>",
            "<td>health</td>",
            "search: cache hits",
            "search: cache misses",
            "all requests",
        ],
    );
    // Stage table.
    assert_holds(
        &html,
        "stage",
        &[
            "<td>embed</td>",
            "<td>search</td>",
            "<td>generate</td>",
            "<td>cache</td>",
        ],
    );
    // The CPU vs GPU table: side by side with improvement factors, colored.
    assert!(html.contains("CPU vs GPU: phase2 \u{2192} phase3"));
    assert!(html.contains("phase2 \u{b7} CPU (baseline)"));
    assert!(count(&html, "class=\"num better\"") >= 10);
    assert!(html.contains("Regression gate passed"));
    // P50 of all requests went from 1.21 ms to 168 us: 7.2x.
    assert!(html.contains("7.20x"), "P50 improvement factor");

    let refs = external_references(&html);
    assert!(refs.is_empty(), "the report must load nothing: {refs:#?}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn cpu_run_alone_shows_the_no_gpu_box_and_the_failed_threshold() {
    let dir = temp_dir("report-cpu");
    let s = summary("report-phase2-cpu.json");
    let path = report::write_report(&dir, &s, None).unwrap();
    let html = std::fs::read_to_string(path).unwrap();

    for s in SECTIONS {
        assert!(html.contains(s), "missing section {s}");
    }
    assert!(!html.contains("id=\"comparison\""));
    for id in CPU_CHARTS {
        assert_eq!(count(chart_block(&html, id), "<svg"), 1, "chart {id}");
    }
    assert_eq!(count(&html, "<svg"), CPU_CHARTS.len());
    assert!(html.contains("id=\"no-gpu\""));
    assert!(html.contains("No NVIDIA GPU detected"));
    assert!(html.contains("libnvidia-ml.so: cannot open shared object file"));

    assert!(html.contains("badge fail"));
    assert!(html.contains("1 of 6 thresholds failed: search.p95 &lt; 2ms"));
    assert!(html.contains("Exit code 1."));
    assert!(html.contains("<span class=\"status fail\">fail</span>"));
    assert_eq!(count(&html, "<span class=\"status pass\">pass</span>"), 5);
    assert!(html.contains("Response cache over the measured window: hit rate 81.2 %"));
    assert!(external_references(&html).is_empty());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn regression_gate_compares_p95_and_throughput() {
    let cpu = summary("report-phase2-cpu.json");
    let gpu = summary("report-phase3-gpu.json");
    // The GPU run is far better than the CPU baseline: no finding at any limit.
    assert!(regression::check(&gpu, &cpu, 0.0).is_empty());
    // The other way round both P95 and throughput regress, overall and per endpoint.
    let findings = regression::check(&cpu, &gpu, 10.0);
    let overall: Vec<_> = findings.iter().filter(|f| f.scope == "overall").collect();
    assert_eq!(overall.len(), 2, "{findings:#?}");
    assert!(
        findings
            .iter()
            .any(|f| f.scope == "search" && f.metric == regression::RegressionMetric::P95)
    );
    assert!(findings.iter().all(|f| f.worse_pct > 10.0));
    // A run against itself never regresses.
    assert!(regression::check(&cpu, &cpu, 0.0).is_empty());
    assert_eq!(regression::parse_percent("10%").unwrap(), 10.0);

    // With a limit, the comparison shows the gate and the verdict fails on it.
    let mut cpu = cpu;
    harness::verdict::gate(&mut cpu, &gpu, 10.0);
    let html = report::render_html(&cpu, Some(&gpu), &report::ReportOptions::default()).unwrap();
    assert!(html.contains("Regression gate failed (limit 10 %)"));
    assert!(html.contains("P95 of overall regressed"));
    assert!(html.contains("the regression gate failed against the baseline"));
    assert!(count(&html, "class=\"num worse\"") >= 10);
}

#[test]
fn report_command_renders_one_run_or_compares_two() {
    let root = temp_dir("report-cli");
    let (a, b) = (root.join("phase3-run"), root.join("phase2-run"));
    for (dir, fixture) in [
        (&a, "report-phase3-gpu.json"),
        (&b, "report-phase2-cpu.json"),
    ] {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::copy(
            report_common::fixtures().join(fixture),
            dir.join("summary.json"),
        )
        .unwrap();
    }
    // One run: report.html next to its summary.
    let one = report::render_cli(&a, None, None).unwrap();
    assert_eq!(one, a.join("report.html"));
    assert!(
        !std::fs::read_to_string(&one)
            .unwrap()
            .contains("id=\"comparison\"")
    );
    // Two runs, given as a folder and a file.
    let two = report::render_cli(&a, Some(&b.join("summary.json")), None).unwrap();
    assert_eq!(two, a.join("report-vs-phase2.html"));
    assert!(
        std::fs::read_to_string(&two)
            .unwrap()
            .contains("id=\"comparison\"")
    );
    // --out as a file and as a folder.
    let out = root.join("out/cmp.html");
    assert_eq!(report::render_cli(&a, Some(&b), Some(&out)).unwrap(), out);
    assert!(out.is_file());
    let out_dir = root.join("outdir");
    assert_eq!(
        report::render_cli(&a, None, Some(&out_dir)).unwrap(),
        out_dir.join("report.html")
    );
    // A folder without a summary is a clear error.
    let err = report::render_cli(&root, None, None)
        .unwrap_err()
        .to_string();
    assert!(err.contains("no summary.json"), "{err}");
    // The default baseline: the latest phase1 run under reports/out/ (none here).
    assert!(report::baseline::find_latest(&root, "phase1", None).is_none());
    assert_eq!(
        report::baseline::find_latest(&root, "phase2", None).unwrap(),
        b.join("summary.json")
    );
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn a_summary_from_another_schema_version_is_a_clear_error() {
    let dir = temp_dir("report-version");
    let mut value: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(report_common::fixtures().join("report-phase2-cpu.json")).unwrap(),
    )
    .unwrap();
    value["schema_version"] = 2.into();
    std::fs::write(dir.join("summary.json"), value.to_string()).unwrap();
    let err = report::render_cli(&dir, None, None)
        .unwrap_err()
        .to_string();
    assert!(err.contains("has schema_version 2"), "{err}");
    // Something that is not a summary at all fails the same way, naming the file.
    std::fs::write(dir.join("summary.json"), r#"{ "totals": {} }"#).unwrap();
    let err = report::render_cli(&dir, None, None)
        .unwrap_err()
        .to_string();
    assert!(err.contains("is not a harness summary.json"), "{err}");
    assert!(!dir.join("report.html").exists());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_run_without_requests_renders_with_gaps_marked_and_text_escaped() {
    let mut s = summary("report-smoke-recorded.json");
    s.scenario.description = Some("<script>alert(1)</script>".into());
    s.overall = Default::default();
    s.endpoints.clear();
    s.bad_token = Default::default();
    s.series.clear();
    s.stages.clear();
    s.server_process = None;
    s.gpu = None;
    s.thresholds.clear();
    s.verdict.passed = false;
    s.verdict.exit_code = 1;
    s.verdict.failures = vec!["no requests were made".into()];
    let html = report::render_html(&s, None, &report::ReportOptions::default()).unwrap();
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(!html.contains("<script"));
    assert!(html.contains("No requests were recorded in this run."));
    assert!(html.contains("No per-second latency series was recorded in this run."));
    assert!(html.contains("No latency distribution was recorded in this run."));
    assert!(html.contains("No Server-Timing stages were recorded in this run."));
    assert!(html.contains("No server CPU samples were recorded in this run"));
    assert!(html.contains("No NVIDIA GPU detected"));
    assert!(html.contains("the GPU sampler did not run in this run"));
    assert!(html.contains("No requests were made"));
    assert!(html.contains("<span>Peak RSS</span><b>not recorded</b>"));
    assert_eq!(count(&html, "<svg"), 0);
    for s in SECTIONS {
        assert!(html.contains(s), "missing section {s}");
    }
}

#[test]
fn every_recorded_fixture_renders() {
    for entry in std::fs::read_dir(report_common::fixtures()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let s = summary(&name);
        let html = report::render_html(&s, None, &report::ReportOptions::default())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        for section in SECTIONS {
            assert!(html.contains(section), "{name}: missing section {section}");
        }
        for endpoint in s.endpoints.keys() {
            assert!(
                html.contains(&format!("<td>{endpoint}</td>")),
                "{name}: {endpoint}"
            );
        }
        for id in CPU_CHARTS {
            assert_eq!(
                count(chart_block(&html, id), "<svg"),
                1,
                "{name}: chart {id}"
            );
        }
        assert!(external_references(&html).is_empty(), "{name}");
    }
}

#[test]
fn a_recorded_smoke_run_renders_every_chart() {
    // `harness smoke` on a 2-core machine without a GPU, paths made relative.
    let dir = temp_dir("report-smoke");
    let s = summary("report-smoke-recorded.json");
    let html = std::fs::read_to_string(report::write_report(&dir, &s, None).unwrap()).unwrap();
    for s in SECTIONS {
        assert!(html.contains(s), "missing section {s}");
    }
    for id in CPU_CHARTS {
        assert_eq!(count(chart_block(&html, id), "<svg"), 1, "chart {id}");
    }
    assert!(html.contains("id=\"no-gpu\""));
    assert!(html.contains("badge pass"));
    for text in [
        "<td>search</td>",
        "search: cache hits",
        "bad token (401 expected)",
        "<dt>Embedder</dt>",
        "closed loop, 5 virtual users",
    ] {
        assert!(html.contains(text), "{text}");
    }
    assert!(external_references(&html).is_empty());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_instrument_floor_and_its_warnings_are_in_the_report() {
    let mut s = summary("summary-phase2.json");
    s.calibration = Some(harness::summary::Calibration {
        shape: "closed, 50 VUs, think time 1s".into(),
        measured_s: 3.0,
        response_bytes: 2700,
        latency: harness::summary::LatencyStats {
            count: 150,
            p50_us: 246,
            p95_us: 428,
            p99_us: 2_200,
            ..Default::default()
        },
        throughput_rps: 50.0,
        generator_lag: None,
        max_rps: Some(18_313.0),
    });
    s.verdict.warnings =
        vec!["search.p95 < 0.5ms: this instrument cannot resolve 500 µs here".into()];
    let html = report::render_html(&s, None, &report::ReportOptions::default()).unwrap();
    let endpoints =
        &html[html.find("id=\"endpoints\"").unwrap()..html.find("id=\"latency\"").unwrap()];
    assert!(endpoints.contains("class=\"floor\""), "no floor row");
    assert!(
        endpoints.contains("instrument floor (trivial loopback endpoint"),
        "no floor row"
    );
    assert!(endpoints.contains("P95 428 µs"), "floor figures missing");
    assert!(
        endpoints.contains("18,313"),
        "highest sustained rate missing"
    );
    let verdict =
        &html[html.find("id=\"verdict\"").unwrap()..html.find("id=\"run-facts\"").unwrap()];
    assert!(
        verdict.contains("cannot resolve 500 µs"),
        "warning missing from the verdict"
    );

    s.calibration = None;
    s.verdict.warnings.clear();
    let html = report::render_html(&s, None, &report::ReportOptions::default()).unwrap();
    assert!(html.contains("floor was not measured"));
    assert!(!html.contains("class=\"floor\""));
    assert!(!html.contains("<ul class=\"instrument-warnings\">"));
}
