//! What merges without histograms: the load shape, provenance, cache counters, server
//! processes, the load's own figures and the GPUs.

use std::collections::BTreeSet;

use super::latency::merge_opt_latency;
use super::{MergeError, Notes};
use crate::measure::gpu::GpuTelemetry;
use crate::scenario::Stack;
use crate::summary::{CacheStats, HealthStatus, LoadStats, ProcessStats, Summary};

/// Load shape: the merged run drove the sum of the runs' users or rates.
pub(super) fn merge_scenario(out: &mut Summary, runs: &[Summary]) {
    let s = &mut out.scenario;
    s.vus = sum_opt(runs.iter().map(|r| r.scenario.vus.map(u64::from)))
        .map(|v| u32::try_from(v).unwrap_or(u32::MAX));
    s.rate_per_s = runs
        .iter()
        .filter_map(|r| r.scenario.rate_per_s)
        .reduce(|a, b| a + b);
    s.max_in_flight = sum_opt(runs.iter().map(|r| r.scenario.max_in_flight.map(u64::from)))
        .map(|v| u32::try_from(v).unwrap_or(u32::MAX));
}

/// Machine, revision and server facts: run 1's, with a note where the runs differ.
pub(super) fn merge_provenance(out: &mut Summary, runs: &[Summary], notes: &mut Notes) {
    let revisions: BTreeSet<_> = runs.iter().map(|r| r.git_revision.clone()).collect();
    if revisions.len() > 1 {
        out.git_revision = None;
        notes.push(format!(
            "git_revision: the runs were made from different revisions ({})",
            revisions
                .iter()
                .map(|r| r.as_deref().unwrap_or("unknown"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    out.git_dirty = runs
        .iter()
        .filter_map(|r| r.git_dirty)
        .reduce(|a, b| a || b);
    let hosts: BTreeSet<&str> = runs
        .iter()
        .map(|r| r.machine.hostname.as_deref().unwrap_or("?"))
        .collect();
    if runs.len() > 1 {
        notes.push(format!(
            "machine: run 1's; the load came from {} harness processes on {}",
            runs.len(),
            hosts.into_iter().collect::<Vec<_>>().join(", ")
        ));
    }
    let urls: BTreeSet<&str> = runs.iter().map(|r| r.stack.base_url.as_str()).collect();
    if urls.len() > 1 {
        notes.push(format!(
            "stack: run 1's; the runs loaded {} base URLs ({})",
            urls.len(),
            urls.into_iter().collect::<Vec<_>>().join(", ")
        ));
    }
    // `HealthStatus` orders red < yellow < green, so the worst is the least.
    let worst = |get: fn(&Summary) -> Option<HealthStatus>| runs.iter().filter_map(get).min();
    out.stack.health_before = worst(|r| r.stack.health_before);
    out.stack.health_after = worst(|r| r.stack.health_after);
    if runs.iter().filter(|r| r.calibration.is_some()).count() > 1 {
        notes.push("calibration: run 1's (each machine measured its own floor)");
    }
}

/// Whether every run loaded one and the same external server, whose counters then cover all
/// runs' traffic.
fn shared_server(runs: &[Summary]) -> bool {
    let first = &runs[0].stack;
    // Embedded and containers runs each start their own server.
    first.kind == Stack::External
        && runs
            .iter()
            .all(|r| r.stack.kind == first.kind && r.stack.base_url == first.base_url)
}

pub(super) fn merge_cache(runs: &[Summary], notes: &mut Notes) -> CacheStats {
    let lookups = |c: &CacheStats| c.hits.unwrap_or(0) + c.misses.unwrap_or(0);
    let mut out = if shared_server(runs) {
        let (i, busiest) = runs
            .iter()
            .enumerate()
            .max_by_key(|(_, r)| lookups(&r.cache))
            .map(|(i, r)| (i, &r.cache))
            .unwrap_or((0, &runs[0].cache));
        if runs.len() > 1 && busiest.hits.is_some() {
            notes.push(format!(
                "cache: every run loaded the same server, whose /metrics counters include all \
                 runs' requests: hits, misses and hit rate are run {}'s (the most lookups), \
                 not a sum",
                i + 1
            ));
        }
        busiest.clone()
    } else {
        let mut out = CacheStats {
            hits: sum_opt(runs.iter().map(|r| r.cache.hits)),
            misses: sum_opt(runs.iter().map(|r| r.cache.misses)),
            source: runs[0].cache.source.clone(),
            ..CacheStats::default()
        };
        let counted = runs.iter().filter(|r| r.cache.hits.is_some()).count();
        if counted > 0 && counted < runs.len() {
            notes.push(format!(
                "cache: only {counted} of {} runs had the server's cache counters; the hit rate \
                 is theirs",
                runs.len()
            ));
        }
        out.hit_rate = rate(out.hits.unwrap_or(0), out.misses.unwrap_or(0));
        for r in runs {
            for (route, c) in &r.cache.by_route {
                let e = out.by_route.entry(route.clone()).or_default();
                e.hits += c.hits;
                e.misses += c.misses;
            }
        }
        for c in out.by_route.values_mut() {
            c.hit_rate = rate(c.hits, c.misses);
        }
        out
    };
    out.responses_hit = runs.iter().map(|r| r.cache.responses_hit).sum();
    out.responses_miss = runs.iter().map(|r| r.cache.responses_miss).sum();
    out
}

fn rate(hits: u64, misses: u64) -> Option<f64> {
    (hits + misses > 0).then(|| hits as f64 / (hits + misses) as f64)
}

/// Server processes (embedded stacks, one per run): mean CPU is the mean over the servers,
/// the maxima the highest; the samples are the first server's.
pub(super) fn merge_process(runs: &[Summary], notes: &mut Notes) -> Option<ProcessStats> {
    let procs: Vec<&ProcessStats> = runs
        .iter()
        .filter_map(|r| r.server_process.as_ref())
        .collect();
    let first = (*procs.first()?).clone();
    if procs.len() == 1 {
        return Some(first);
    }
    notes.push(format!(
        "server_process: {} servers (one per run): mean CPU is the mean over them, max CPU and \
         peak RSS the highest, the samples the first's",
        procs.len()
    ));
    Some(ProcessStats {
        cpu_mean_pct: procs.iter().map(|p| p.cpu_mean_pct).sum::<f64>() / procs.len() as f64,
        cpu_max_pct: procs.iter().map(|p| p.cpu_max_pct).fold(0.0, f64::max),
        peak_rss_bytes: procs.iter().map(|p| p.peak_rss_bytes).max().unwrap_or(0),
        ..first
    })
}

pub(super) fn merge_load(runs: &[Summary], notes: &mut Notes) -> Result<LoadStats, MergeError> {
    let mut out = runs[0].load.clone();
    out.warmup_requests = runs.iter().map(|r| r.load.warmup_requests).sum();
    out.primed_requests = runs.iter().map(|r| r.load.primed_requests).sum();
    out.planned = sum_opt(runs.iter().map(|r| r.load.planned));
    out.dropped = sum_opt(runs.iter().map(|r| r.load.dropped));
    out.goose_requests = sum_opt(runs.iter().map(|r| r.load.goose_requests));
    // Goose's reports stay in each run's folder; their relative paths mean nothing here.
    out.goose_reports = Vec::new();
    let lag: Vec<_> = runs.iter().map(|r| r.load.schedule_lag.as_ref()).collect();
    out.schedule_lag = merge_opt_latency(&lag, "schedule lag", notes)?;
    let own: Vec<_> = runs.iter().map(|r| r.load.generator_lag.as_ref()).collect();
    out.generator_lag = merge_opt_latency(&own, "generator lag", notes)?;
    Ok(out)
}

/// The GPUs of all runs side by side, device indices renumbered so they stay distinct.
pub(super) fn merge_gpu(runs: &[Summary], notes: &mut Notes) -> Option<GpuTelemetry> {
    let all: Vec<&GpuTelemetry> = runs.iter().filter_map(|r| r.gpu.as_ref()).collect();
    let seen: Vec<&GpuTelemetry> = all.iter().copied().filter(|g| g.available).collect();
    match seen.len() {
        0 => all.first().map(|g| (*g).clone()),
        1 => Some(seen[0].clone()),
        n => {
            notes.push(format!(
                "gpu: the GPUs of {n} runs side by side (device indices renumbered)"
            ));
            let mut out = GpuTelemetry {
                available: true,
                ..GpuTelemetry::default()
            };
            let mut offset = 0;
            for g in seen {
                let span = g.devices.iter().map(|d| d.index + 1).max().unwrap_or(0);
                out.devices.extend(g.devices.iter().cloned().map(|mut d| {
                    d.index += offset;
                    d
                }));
                out.samples.extend(g.samples.iter().cloned().map(|mut s| {
                    s.device += offset;
                    s
                }));
                offset += span;
            }
            Some(out)
        }
    }
}

fn sum_opt(values: impl Iterator<Item = Option<u64>>) -> Option<u64> {
    values.fold(None, |acc, v| match (acc, v) {
        (None, v) => v,
        (Some(a), v) => Some(a + v.unwrap_or(0)),
    })
}
