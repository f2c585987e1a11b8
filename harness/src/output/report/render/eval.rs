//! The retrieval-quality section: per labeled set, the index's and exact search's figures
//! side by side, with the settings they were measured with.

use serde::Serialize;

use super::us;
use crate::eval::EvalSummary;
use crate::eval::settings::describe_settings;
use crate::summary::Summary;
use crate::units;

#[derive(Serialize)]
struct EvalRow {
    set: String,
    origin: String,
    queries: usize,
    method: &'static str,
    is_exact: bool,
    recall_at_1: String,
    recall_at_5: String,
    recall_at_10: String,
    mrr_at_10: String,
    p50: String,
    p95: String,
    agreement: String,
}

#[derive(Serialize)]
pub(super) struct EvalView {
    explain: String,
    settings: String,
    rows: Vec<EvalRow>,
}

/// The section, when the run measured retrieval quality.
pub(super) fn eval_view(d: &Summary) -> Option<EvalView> {
    d.eval.as_ref().map(view)
}

fn view(e: &EvalSummary) -> EvalView {
    let mut rows = Vec::new();
    for set in &e.sets {
        for (method, m, is_exact) in [
            ("HNSW index", &set.hnsw, false),
            ("exact", &set.exact, true),
        ] {
            rows.push(EvalRow {
                set: if is_exact {
                    String::new()
                } else {
                    set.name.clone()
                },
                origin: if is_exact {
                    String::new()
                } else {
                    set.origin.clone()
                },
                queries: set.queries,
                method,
                is_exact,
                recall_at_1: format!("{:.3}", m.recall_at_1),
                recall_at_5: format!("{:.3}", m.recall_at_5),
                recall_at_10: format!("{:.3}", m.recall_at_10),
                mrr_at_10: format!("{:.3}", m.mrr_at_10),
                p50: us(m.latency.p50_us),
                p95: us(m.latency.p95_us),
                agreement: if is_exact {
                    String::new()
                } else {
                    units::share(set.hnsw_vs_exact_at_10)
                },
            });
        }
    }
    EvalView {
        explain: format!(
            "Each query searched once through the HNSW index and once exactly (every vector \
             compared), {} passages each; recall and MRR are over pages (passages of one page \
             count once). Agreement: the share of exact search's first 10 passages that the \
             index's first 10 hold. Latency from the harness, cached answers left out.",
            e.candidates
        ),
        settings: describe_settings(&e.settings),
        rows,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::{MethodResult, SetResult};

    #[test]
    fn two_rows_per_set_with_the_agreement_on_the_index_row() {
        let e = EvalSummary {
            candidates: 50,
            sets: vec![SetResult {
                name: "descriptions".into(),
                queries: 3,
                hnsw: MethodResult {
                    recall_at_10: 2.0 / 3.0,
                    ..Default::default()
                },
                hnsw_vs_exact_at_10: 0.975,
                ..Default::default()
            }],
            ..Default::default()
        };
        let v = view(&e);
        assert_eq!(v.rows.len(), 2);
        assert_eq!(v.rows[0].set, "descriptions");
        assert_eq!(v.rows[0].recall_at_10, "0.667");
        assert_eq!(v.rows[0].agreement, "97.5 %");
        assert!(v.rows[1].is_exact && v.rows[1].agreement.is_empty());
        assert!(v.explain.contains("50 passages"), "{}", v.explain);
    }
}
