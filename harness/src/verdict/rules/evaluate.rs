//! Rules checked against a summary: what each observed, and whether it held.

use super::{CacheFilter, Metric, Op, RetrievalKind, Rule, display, health_code};
use crate::summary::{EndpointStats, Summary, ThresholdResult};

fn endpoint<'a>(summary: &'a Summary, rule: &Rule) -> Result<&'a EndpointStats, String> {
    match &rule.endpoint {
        None => Ok(&summary.overall),
        Some(e) => summary.endpoints.get(e).ok_or_else(|| {
            format!("the workload sent no `{e}` requests: give it a weight in [workload] or drop the rule")
        }),
    }
}

/// What a rule observed, in the metric's base unit.
fn observe(summary: &Summary, rule: &Rule) -> Result<f64, String> {
    match rule.metric {
        Metric::Latency(kind) => {
            let ep = endpoint(summary, rule)?;
            let stats = match rule.cache {
                None => Some(&ep.latency),
                Some(CacheFilter::Cached) => ep.cached.as_ref(),
                Some(CacheFilter::Uncached) => ep.uncached.as_ref(),
            };
            match stats {
                Some(s) if s.count > 0 => Ok(kind.of(s)),
                _ => Err("no requests to measure".into()),
            }
        }
        Metric::Throughput => Ok(endpoint(summary, rule)?.throughput_rps),
        Metric::ErrorRate => match &rule.endpoint {
            Some(_) => Ok(endpoint(summary, rule)?.error_rate),
            None => {
                let unexpected: u64 = summary.bad_token.unexpected.values().sum();
                let total = summary.overall.requests + summary.bad_token.requests;
                if total == 0 {
                    Err("no requests to measure".into())
                } else {
                    Ok((summary.overall.errors + unexpected) as f64 / total as f64)
                }
            }
        },
        Metric::Requests => Ok(endpoint(summary, rule)?.requests as f64),
        Metric::Errors => Ok(endpoint(summary, rule)?.errors as f64),
        Metric::CacheHitRate => {
            let rate = match &rule.endpoint {
                None => summary.cache.hit_rate,
                Some(route) => summary.cache.by_route.get(route).and_then(|r| r.hit_rate),
            };
            rate.ok_or_else(|| {
                "no cache lookups were counted: the server's /metrics had no ragbench_cache_* counters, or the workload made no cacheable requests".into()
            })
        }
        Metric::Vectors => summary
            .corpus
            .vectors
            .map(|v| v as f64)
            .ok_or_else(|| "/health did not report a vector count".into()),
        Metric::Health => summary
            .stack
            .health_before
            .map(health_code)
            .ok_or_else(|| "/health did not answer with a status".into()),
        Metric::GpuUtil => match &summary.gpu {
            None => Err("the GPU was not sampled in this run".into()),
            // The sampler's reason already starts with "no NVIDIA GPU detected".
            Some(gpu) if !gpu.available => Err(gpu.describe()),
            Some(gpu) => gpu
                .mean_utilization_pct()
                .ok_or_else(|| "no GPU samples were taken".into()),
        },
        Metric::ServerCpu => summary
            .server_process
            .as_ref()
            .map(|p| p.cpu_mean_pct)
            .ok_or_else(|| "server CPU is measured for the embedded stack only".into()),
        Metric::ServerRss => summary
            .server_process
            .as_ref()
            .map(|p| p.peak_rss_bytes as f64)
            .ok_or_else(|| "server memory is measured for the embedded stack only".into()),
        Metric::Capacity => capacity(summary),
        Metric::Retrieval(kind) => retrieval(summary, rule, kind),
        Metric::IngestTime => summary
            .corpus
            .ingest_wall_s
            .map(|s| s * 1e6)
            .ok_or_else(|| "this run did not ingest".into()),
    }
}

/// The knee of the run's capacity sweep, or why there is none.
fn capacity(summary: &Summary) -> Result<f64, String> {
    let Some(sweep) = &summary.sweep else {
        return Err(
            "`capacity` is found by a capacity sweep and this run was not one: run \
                    `harness sweep SCENARIO`, or add a `[sweep]` table to the scenario"
                .into(),
        );
    };
    sweep.capacity_rps.ok_or_else(|| {
        format!(
            "the sweep found no capacity: even its start rate ({:.1}/s) missed the step rules; \
             lower `start_rate` (--start-rate)",
            sweep.settings.start_rate_per_s
        )
    })
}

/// A retrieval figure of the HNSW index on the first labeled set the eval evaluated (the
/// `descriptions` set, unless it was left out), or why there is none.
fn retrieval(summary: &Summary, rule: &Rule, kind: RetrievalKind) -> Result<f64, String> {
    let Some(eval) = &summary.eval else {
        return Err(format!(
            "`{}` is measured by the retrieval eval and this run had none: run `harness eval \
             SCENARIO`, or add an `[eval]` table to the scenario",
            rule.metric_name
        ));
    };
    eval.sets
        .first()
        .map(|set| kind.of(&set.hnsw))
        .ok_or_else(|| "the eval evaluated no labeled set".into())
}

/// Evaluates rules against a summary (whose `thresholds` and `verdict` are not read).
pub fn evaluate(rules: &[Rule], summary: &Summary) -> Vec<ThresholdResult> {
    rules
        .iter()
        .map(|rule| {
            let observed = observe(summary, rule);
            let (observed_value, passed, message, observed_display) = match observed {
                Ok(v) => {
                    let passed = rule.op.holds(v, rule.limit);
                    let message = (!passed).then(|| {
                        format!(
                            "observed {} {} {}: the rule wants {} {} {}",
                            display(rule.metric, v),
                            negate(rule.op),
                            display(rule.metric, rule.limit),
                            rule.metric_name,
                            rule.op,
                            display(rule.metric, rule.limit)
                        )
                    });
                    (Some(v), passed, message, display(rule.metric, v))
                }
                Err(why) => (None, false, Some(why), "n/a".to_string()),
            };
            ThresholdResult {
                rule: rule.text.clone(),
                metric: rule.metric_name.clone(),
                endpoint: rule.endpoint.clone(),
                op: rule.op.to_string(),
                limit: rule.limit,
                observed: observed_value,
                limit_display: display(rule.metric, rule.limit),
                observed_display,
                passed,
                message,
            }
        })
        .collect()
}

fn negate(op: Op) -> &'static str {
    match op {
        Op::Lt => ">=",
        Op::Le => ">",
        Op::Gt => "<=",
        Op::Ge => "<",
        Op::Eq => "!=",
        Op::Ne => "==",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::{EvalSummary, MethodResult, SetResult};
    use crate::verdict::rules::parse_rule;

    fn with_eval(recall_at_10: f64, mrr_at_10: f64) -> Summary {
        let set = |name: &str, r10: f64| SetResult {
            name: name.into(),
            queries: 10,
            hnsw: MethodResult {
                recall_at_10: r10,
                mrr_at_10,
                ..Default::default()
            },
            // Exact search's figures are not what a rule checks: users get the index's.
            exact: MethodResult {
                recall_at_10: 1.0,
                mrr_at_10: 1.0,
                ..Default::default()
            },
            ..Default::default()
        };
        Summary {
            eval: Some(EvalSummary {
                sets: vec![set("descriptions", recall_at_10), set("beir", 0.1)],
                ..Default::default()
            }),
            ..recorded()
        }
    }

    /// A run without an eval (a recorded phase2 run).
    fn recorded() -> Summary {
        serde_json::from_str(include_str!("../../../tests/fixtures/summary-phase2.json"))
            .expect("the recorded phase2 summary parses")
    }

    fn check(rule: &str, summary: &Summary) -> ThresholdResult {
        evaluate(&[parse_rule(rule).unwrap()], summary).remove(0)
    }

    #[test]
    fn retrieval_rules_read_the_index_on_the_first_set() {
        let summary = with_eval(0.938, 0.768);
        let held = check("recall_at_10 >= 0.9", &summary);
        assert!(held.passed, "{held:?}");
        assert_eq!(held.observed, Some(0.938));
        assert_eq!(held.observed_display, "0.938");
        let failed = check("mrr_at_10 >= 0.8", &summary);
        assert!(!failed.passed);
        assert_eq!(
            failed.message.as_deref(),
            Some("observed 0.768 < 0.800: the rule wants mrr_at_10 >= 0.800")
        );
    }

    #[test]
    fn a_retrieval_rule_without_an_eval_says_how_to_get_one() {
        let result = check("recall_at_1 > 0.5", &recorded());
        assert!(!result.passed);
        assert_eq!(result.observed, None);
        let message = result.message.unwrap();
        assert!(message.contains("`recall_at_1`"), "{message}");
        assert!(message.contains("harness eval"), "{message}");
        let empty = Summary {
            eval: Some(EvalSummary::default()),
            ..recorded()
        };
        assert!(
            check("recall_at_5 > 0.5", &empty)
                .message
                .unwrap()
                .contains("no labeled set")
        );
    }
}
