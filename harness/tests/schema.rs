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
