//! The eval's console table: one row per set and method, the settings above it.

use super::record::EvalSummary;
use super::settings::describe_settings;
use crate::units;

/// The table printed after an eval.
pub fn render(e: &EvalSummary) -> String {
    let mut out = vec![
        "  retrieval quality (pages; passages of one page count once)".to_string(),
        format!("  settings: {}", describe_settings(&e.settings)),
        format!(
            "  {:<14} {:>7} {:<6} {:>8} {:>8} {:>9} {:>8} {:>10} {:>10} {:>11}",
            "set",
            "queries",
            "method",
            "recall@1",
            "recall@5",
            "recall@10",
            "MRR@10",
            "p50",
            "p95",
            "vs exact@10"
        ),
    ];
    for set in &e.sets {
        for (method, m, agreement) in [
            ("hnsw", &set.hnsw, units::share(set.hnsw_vs_exact_at_10)),
            ("exact", &set.exact, String::new()),
        ] {
            out.push(format!(
                "  {:<14} {:>7} {:<6} {:>8.3} {:>8.3} {:>9.3} {:>8.3} {:>10} {:>10} {:>11}",
                set.name,
                set.queries,
                method,
                m.recall_at_1,
                m.recall_at_5,
                m.recall_at_10,
                m.mrr_at_10,
                units::us(m.latency.p50_us as f64),
                units::us(m.latency.p95_us as f64),
                agreement
            ));
        }
    }
    out.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::record::{MethodResult, SetResult};

    #[test]
    fn one_row_per_set_and_method() {
        let e = EvalSummary {
            sets: vec![SetResult {
                name: "descriptions".into(),
                queries: 128,
                hnsw: MethodResult {
                    recall_at_1: 0.672,
                    ..Default::default()
                },
                hnsw_vs_exact_at_10: 0.99,
                ..Default::default()
            }],
            ..Default::default()
        };
        let table = render(&e);
        let rows: Vec<&str> = table
            .lines()
            .filter(|l| l.contains("descriptions"))
            .collect();
        assert_eq!(rows.len(), 2, "{table}");
        assert!(
            rows[0].contains("hnsw") && rows[0].contains("0.672"),
            "{table}"
        );
        assert!(rows[0].contains("99 %"), "{table}");
        assert!(rows[1].contains("exact"), "{table}");
    }
}
