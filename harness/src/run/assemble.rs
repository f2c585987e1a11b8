//! The summary of what a run measured, before the verdict is written into it.

use super::bring_up::Up;
use super::measure::Measured;
use crate::measure::prom;
use crate::scenario::{LoadMode, Scenario, StackKind};
use crate::summary::{self, LoadStats, ScenarioInfo, StackInfo, Summary, Verdict};

/// The summary of what was measured, before the verdict.
pub(crate) fn assemble(
    scenario: &Scenario,
    up: &Up,
    m: Measured,
    machine: summary::Machine,
    (git_revision, git_dirty): (Option<String>, Option<bool>),
) -> Summary {
    let mut notes = Vec::new();
    if let Some(why) = &m.outcome.stopped_early {
        notes.push(format!("the load stopped early: {why}"));
    }
    let mut cache = match (&m.window.cache_before, &m.window.cache_after) {
        (Some(before), Some(after)) => prom::cache_delta(before, after),
        _ => {
            notes.push("the server's /metrics could not be scraped: no cache hit rate".into());
            summary::CacheStats {
                source: "unavailable".into(),
                ..Default::default()
            }
        }
    };
    cache.responses_hit = m.recorded.responses_hit;
    cache.responses_miss = m.recorded.responses_miss;
    let (startup_s, server_log) = up.startup.clone().unzip();
    Summary {
        schema_version: summary::SCHEMA_VERSION,
        harness_version: env!("CARGO_PKG_VERSION").to_string(),
        scenario: scenario_info(scenario),
        started_at: m.window.load_started_at,
        finished_at: m.window.end_at,
        measured_from: m.window.start_at,
        measured_s: m.window.measured().as_secs_f64(),
        git_revision,
        git_dirty,
        machine,
        stack: StackInfo {
            kind: scenario.stack.kind(),
            base_url: up.base_url.clone(),
            server_version: up.health.version.clone(),
            health_before: Some(up.health.status),
            health_after: m.health_after.map(|h| h.status),
            backends: up.health.backends.clone(),
            startup_s,
            server_log,
        },
        corpus: up.corpus.clone(),
        overall: m.recorded.overall,
        endpoints: m.recorded.endpoints,
        bad_token: m.recorded.bad_token,
        series: m.recorded.series,
        stages: m.recorded.stages,
        cache,
        server_process: m.server_stats,
        load: LoadStats {
            mode: scenario.mode.kind(),
            generator: match scenario.mode {
                LoadMode::Closed { .. } => "goose 0.19 (closed loop)".into(),
                LoadMode::Open { .. } => "open-loop scheduler (tokio + reqwest)".into(),
            },
            warmup_requests: m.recorded.warmup_requests,
            primed_requests: m.primed,
            planned: m.outcome.planned,
            dropped: m.outcome.dropped,
            schedule_lag: m.recorded.schedule_lag,
            generator_lag: m.recorded.generator_lag,
            goose_requests: m.outcome.goose_requests,
            goose_reports: m.outcome.goose_reports,
        },
        calibration: m.calibration,
        sweep: None,
        eval: None,
        thresholds: Vec::new(),
        verdict: Verdict {
            passed: true,
            exit_code: 0,
            failures: Vec::new(),
            warnings: Vec::new(),
        },
        gpu: Some(m.gpu),
        notes,
    }
}

/// The scenario as it ran, for the summary.
pub(super) fn scenario_info(scenario: &Scenario) -> ScenarioInfo {
    let (vus, rate, arrival, max_in_flight, think_ms) = match &scenario.mode {
        LoadMode::Closed { vus, think_time } => (
            Some(*vus),
            None,
            None,
            None,
            think_time.as_secs_f64() * 1000.0,
        ),
        LoadMode::Open {
            rate,
            arrival,
            max_in_flight,
        } => (None, Some(*rate), Some(*arrival), Some(*max_in_flight), 0.0),
    };
    ScenarioInfo {
        name: scenario.name.clone(),
        file: scenario.file.display().to_string(),
        description: scenario.description.clone(),
        stack: scenario.stack.kind(),
        mode: scenario.mode.kind(),
        vus,
        rate_per_s: rate,
        arrival,
        max_in_flight,
        duration_s: scenario.duration.as_secs_f64(),
        warmup_s: scenario.warmup.as_secs_f64(),
        think_time_ms: think_ms,
        mix: [
            ("search".to_string(), scenario.mix.search),
            ("query".to_string(), scenario.mix.query),
            ("health".to_string(), scenario.mix.health),
        ]
        .into_iter()
        .collect(),
        questions: scenario.questions.len(),
        bad_token_share: scenario.bad_token_share,
        fresh_share: scenario.fresh_share,
        generator: matches!(
            scenario.stack,
            StackKind::Embedded | StackKind::Containers(_)
        )
        .then_some(scenario.generator),
        rules: scenario.rules.iter().map(|r| r.text.clone()).collect(),
    }
}
