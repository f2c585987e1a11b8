//! Retrieval quality in a run: the eval on the brought-up server (a scenario's `[eval]`,
//! before its load), and `harness eval`, a run that stops there: stack up, corpus ingested,
//! eval, `summary.json` with its eval section and no load, `report.html`, the eval table.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::bring_up::{self, Up};
use super::{RunError, RunOptions, RunResult};
use crate::auth::TokenMint;
use crate::eval::{self, EvalPlan, EvalSummary, search::Searcher};
use crate::load::client::Api;
use crate::measure::provenance;
use crate::output::{console, report};
use crate::scenario::{Scenario, StackKind};
use crate::summary::{self, LoadStats, StackInfo, Summary, Verdict};
use crate::verdict::rules::{self, Rule};
use ragbench_server::config::Config;

/// Passages asked of each eval search.
const CANDIDATES: usize = eval::search::MAX_CANDIDATES;

/// Runs `plan` against the server `up` brought up, and prints its table.
pub(super) async fn evaluate(
    scenario: &Scenario,
    up: &Up,
    plan: &EvalPlan,
    dir: &Path,
) -> Result<EvalSummary, RunError> {
    let corpus = corpus_folder(scenario, up, dir).await?;
    let sets = eval::labeled_sets(plan, &corpus)?;
    let token = TokenMint::new(&up.secret, Duration::from_secs(3 * 3600)).token("harness-eval")?;
    let searcher = Searcher::new(Api::new(&up.base_url), token, CANDIDATES);
    let summary = eval::evaluate(&searcher, &sets, settings(scenario, up)).await?;
    console::step(format!(
        "eval: {} sets, {} queries, HNSW and exact, in {:.1}s",
        summary.sets.len(),
        summary.sets.iter().map(|s| s.queries).sum::<usize>(),
        summary.elapsed_s
    ));
    Ok(summary)
}

/// The folder the server's passages came from: the one this run ingested, else the
/// scenario's corpus (an external server is taken to hold it).
async fn corpus_folder(scenario: &Scenario, up: &Up, dir: &Path) -> Result<PathBuf, RunError> {
    if let Some(path) = &up.corpus.path {
        return Ok(PathBuf::from(path));
    }
    let located =
        super::corpus::locate_corpus(scenario, "locating the corpus for the eval").await?;
    let (path, source) = super::corpus::prepare_subset(scenario, dir, located)?;
    console::step(format!(
        "eval: labels from {source}, which the server is taken to hold (this run did not \
         ingest it)"
    ));
    Ok(path)
}

/// The settings in effect: an embedded server's configuration as it read it (its file, this
/// process's environment, then the scenario's), or what an external one's `/health` says.
fn settings(scenario: &Scenario, up: &Up) -> eval::EvalSettings {
    if scenario.stack != StackKind::Embedded {
        return eval::settings::from_health(&up.health);
    }
    let env = std::env::vars().chain(scenario.server_env.clone());
    match Config::load_with_env(scenario.server_config.as_deref(), env) {
        Ok(cfg) => eval::settings::from_config(&cfg, &up.health),
        Err(e) => {
            console::step(format!("note: the eval's settings are unknown: {e}"));
            eval::settings::from_health(&up.health)
        }
    }
}

/// `harness eval`: the stack brought up as for a run, the eval (the scenario's `[eval]`, or
/// the descriptions set), and the run folder's outputs; no load. Of the scenario's rules only
/// the retrieval ones (`recall_at_10 >= 0.9`) are checked: the verdict fails (exit code 1)
/// when one does not hold.
pub async fn eval_run(scenario: &Scenario, opts: &RunOptions) -> Result<RunResult, RunError> {
    let dir = super::run_dir(scenario, opts)?;
    console::step(format!(
        "eval of scenario {} ({}), results in {}",
        scenario.name,
        scenario.file.display(),
        dir.display()
    ));
    let machine = provenance::machine();
    let git = provenance::git_revision(&opts.project_root);
    let plan = scenario.eval.clone().unwrap_or_default();
    eval::check(&plan)?;
    let mut up = bring_up::bring_up(scenario, opts, &dir).await?;
    let started_at = chrono::Utc::now();
    let result = evaluate(scenario, &up, &plan, &dir).await;
    let finished_at = chrono::Utc::now();
    up.stop_server().await;
    let eval = result?;
    let (startup_s, server_log) = up.startup.take().unzip();
    let mut summary = Summary {
        schema_version: summary::SCHEMA_VERSION,
        harness_version: env!("CARGO_PKG_VERSION").to_string(),
        scenario: super::assemble::scenario_info(scenario),
        started_at,
        finished_at,
        measured_from: started_at,
        measured_s: eval.elapsed_s,
        git_revision: git.0,
        git_dirty: git.1,
        machine,
        stack: StackInfo {
            kind: scenario.stack.kind(),
            base_url: up.base_url.clone(),
            server_version: up.health.version.clone(),
            health_before: Some(up.health.status),
            health_after: None,
            backends: up.health.backends.clone(),
            startup_s,
            server_log,
        },
        corpus: up.corpus.clone(),
        overall: Default::default(),
        endpoints: Default::default(),
        bad_token: Default::default(),
        series: Vec::new(),
        stages: Default::default(),
        // No load, so no cache figures: `unavailable`, as when /metrics cannot be scraped.
        cache: summary::CacheStats {
            source: "unavailable".into(),
            ..Default::default()
        },
        server_process: None,
        load: LoadStats {
            mode: scenario.mode.kind(),
            generator: "none: harness eval measures retrieval quality, without load".into(),
            warmup_requests: 0,
            primed_requests: 0,
            planned: None,
            dropped: None,
            schedule_lag: None,
            generator_lag: None,
            goose_requests: None,
            goose_reports: Vec::new(),
        },
        calibration: None,
        sweep: None,
        eval: Some(eval),
        thresholds: Vec::new(),
        verdict: Verdict {
            passed: true,
            exit_code: 0,
            failures: Vec::new(),
            warnings: Vec::new(),
        },
        gpu: None,
        notes: Vec::new(),
    };
    decide_retrieval(&scenario.rules, &mut summary);
    summary.notes.extend(up.store_note.take());
    write_outputs(&dir, &summary, opts)?;
    Ok(RunResult {
        run_dir: dir,
        summary,
    })
}

/// Checks the retrieval rules of `rules` (the others need a load) into `summary.thresholds`
/// and the verdict, and notes the rules left unchecked.
fn decide_retrieval(rules: &[Rule], summary: &mut Summary) {
    let (checked, skipped): (Vec<Rule>, Vec<Rule>) =
        rules.iter().cloned().partition(|r| r.metric.is_retrieval());
    summary.thresholds = rules::evaluate(&checked, summary);
    let failures: Vec<String> = summary
        .thresholds
        .iter()
        .filter(|t| !t.passed)
        .map(|t| format!("{}: {}", t.rule, t.message.as_deref().unwrap_or("failed")))
        .collect();
    summary.verdict = Verdict {
        passed: failures.is_empty(),
        exit_code: if failures.is_empty() { 0 } else { 1 },
        failures,
        warnings: Vec::new(),
    };
    if !skipped.is_empty() {
        let names: Vec<&str> = skipped.iter().map(|r| r.text.as_str()).collect();
        summary.notes.push(format!(
            "harness eval: retrieval quality only; no load was driven, so the scenario's load \
             thresholds were not checked ({})",
            names.join(", ")
        ));
    }
}

/// `summary.json`, `report.html` (unless `--no-report`) and the eval table.
fn write_outputs(dir: &Path, summary: &Summary, opts: &RunOptions) -> Result<(), RunError> {
    summary.write(&dir.join(summary::SUMMARY_FILE))?;
    if !opts.no_report
        && let Err(e) = report::write_report(dir, summary, None)
    {
        console::step(format!("warning: report.html was not written: {e}"));
    }
    if let Some(eval) = &summary.eval {
        println!("{}", eval::table::render(eval));
    }
    for t in &summary.thresholds {
        let mark = if t.passed { "pass" } else { "FAIL" };
        match &t.message {
            Some(why) => println!("  {mark}  {}: {why}", t.rule),
            None => println!("  {mark}  {} (observed {})", t.rule, t.observed_display),
        }
    }
    println!("  results: {}", dir.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::{EvalSummary, MethodResult, SetResult};
    use crate::verdict::rules::parse_rule;

    fn eval_summary(recall_at_10: f64) -> Summary {
        let mut summary: Summary =
            serde_json::from_str(include_str!("../../tests/fixtures/summary-phase2.json"))
                .expect("the recorded phase2 summary parses");
        summary.eval = Some(EvalSummary {
            sets: vec![SetResult {
                name: "descriptions".into(),
                hnsw: MethodResult {
                    recall_at_10,
                    ..Default::default()
                },
                ..Default::default()
            }],
            ..Default::default()
        });
        summary.notes.clear();
        summary
    }

    #[test]
    fn eval_checks_only_retrieval_rules_and_fails_on_one() {
        let rules = vec![
            parse_rule("recall_at_10 >= 0.9").unwrap(),
            parse_rule("search.p95 < 1us").unwrap(),
        ];
        let mut passing = eval_summary(0.95);
        decide_retrieval(&rules, &mut passing);
        assert_eq!(
            passing.thresholds.len(),
            1,
            "the latency rule is not checked"
        );
        assert!(passing.verdict.passed);
        assert_eq!(passing.verdict.exit_code, 0);
        assert!(
            passing.notes[0].contains("search.p95 < 1us"),
            "{:?}",
            passing.notes
        );

        let mut failing = eval_summary(0.85);
        decide_retrieval(&rules, &mut failing);
        assert!(!failing.verdict.passed);
        assert_eq!(failing.verdict.exit_code, 1);
        assert!(
            failing.verdict.failures[0].starts_with("recall_at_10 >= 0.9: observed 0.850"),
            "{:?}",
            failing.verdict.failures
        );
    }
}
