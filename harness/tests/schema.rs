//! `summary.schema.json` against recorded summaries: every fixture validates, and the
//! harness's own types read it back (so the schema, the Rust types and real runs agree).

mod common;

use std::path::Path;

use common::assert_schema_valid;
use harness::summary::Summary;

#[test]
fn recorded_summaries_match_the_schema_and_the_types() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let value: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        if value.get("schema_version").and_then(|v| v.as_u64()) != Some(1) {
            continue;
        }
        assert_schema_valid(&value);
        let summary = Summary::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(summary.overall.requests > 0, "{}", path.display());
        checked += 1;
    }
    assert!(
        checked > 0,
        "no schema_version 1 fixture under {}",
        dir.display()
    );
}

#[test]
fn the_schema_rejects_a_summary_missing_a_section() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/summary-phase2.json");
    let mut value: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    value.as_object_mut().unwrap().remove("thresholds");
    let result = std::panic::catch_unwind(|| assert_schema_valid(&value));
    assert!(
        result.is_err(),
        "a summary without thresholds must not validate"
    );
}

/// Every object the schema describes by its properties allows no others, so a field the type
/// writes and the schema lacks fails validation (the test below) instead of passing unseen.
#[test]
fn the_schema_closes_every_object() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("summary.schema.json");
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut open = Vec::new();
    open_objects(&schema, "#", &mut open);
    assert!(
        open.is_empty(),
        "objects with properties but without \"additionalProperties\": false: {open:#?}"
    );
}

fn open_objects(node: &serde_json::Value, at: &str, out: &mut Vec<String>) {
    match node {
        serde_json::Value::Object(map) => {
            if map.get("properties").is_some_and(|p| p.is_object())
                && map.get("additionalProperties") != Some(&serde_json::Value::Bool(false))
            {
                out.push(at.to_string());
            }
            for (k, v) in map {
                open_objects(v, &format!("{at}/{k}"), out);
            }
        }
        serde_json::Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                open_objects(v, &format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
}

/// What the type writes matches the schema: each fixture read into a `Summary` and written
/// back, and one with every optional section filled, validate. With every object closed (the
/// test above), a field added to the type but not to the schema fails here.
#[test]
fn summaries_written_by_the_type_match_the_schema() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut written = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "json") {
            let summary =
                Summary::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            written.push((path.display().to_string(), summary));
        }
    }
    assert!(!written.is_empty());
    let mut filled = written[0].1.clone();
    filled.load.schedule_lag = Some(filled.overall.latency.clone());
    filled.load.planned = Some(1);
    filled.load.dropped = Some(0);
    filled.server_process.get_or_insert_with(Default::default);
    filled.gpu.get_or_insert_with(Default::default);
    filled.calibration = Some(Default::default());
    filled.load.generator_lag = Some(Default::default());
    filled.verdict.warnings = vec!["a warning".into()];
    filled.eval = Some(harness::eval::EvalSummary {
        settings: harness::eval::EvalSettings {
            hnsw_m: Some(16),
            embedder: Some("fastembed".into()),
            ..Default::default()
        },
        candidates: 50,
        sets: vec![harness::eval::SetResult {
            name: "descriptions".into(),
            queries: 3,
            hnsw_vs_exact_at_10: 0.9,
            ..Default::default()
        }],
        elapsed_s: 1.5,
    });
    filled.sweep = Some(harness::summary::SweepSummary {
        settings: harness::summary::SweepSettingsInfo {
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
        steps: Vec::new(),
        capacity_rps: Some(400.0),
        first_fail_rps: Some(420.0),
        limited_by: harness::summary::SweepLimit::Server,
    });
    written.push(("every optional section filled".into(), filled));
    for (name, summary) in &written {
        let value = serde_json::to_value(summary).unwrap();
        let result = std::panic::catch_unwind(|| assert_schema_valid(&value));
        assert!(result.is_ok(), "{name}, as the Summary type writes it");
    }
}
