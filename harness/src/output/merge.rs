//! `harness merge`: one summary from the summaries of the same scenario run on several
//! machines at once, the way to drive more load than one machine gives.
//!
//! Every latency figure comes from a histogram where the inputs carry one: the runs' HDR
//! histograms are added and the statistics recomputed with the recorder's own functions
//! ([`recorder::latency_stats`], [`recorder::histogram_stats`], [`recorder::percentile_points`],
//! [`recorder::second_point`]), so a merged summary reads as if one recorder had seen every
//! request. Where an input lacks a histogram (a file from before they were written), counts,
//! min, max, mean and standard deviation still merge exactly, percentiles become an upper
//! bound (the largest of the runs': a mixture's quantile lies between its parts'), and a note
//! says which figure that is.
//!
//! Time: the measured window is the union of the runs' wall-clock windows
//! (`measured_from` .. `measured_from + measured_s`), and throughput is the **sum of the runs'
//! rates**, each over its own window: right when the windows overlap, which is what merging is
//! for (a note says when they do not). The per-second series aligns on wall-clock time, each
//! run's seconds shifted by its start to the nearest whole second.
//!
//! Server-side figures: when every run loaded the same external server (same `base_url`),
//! each run's `/metrics` delta already counts every machine's traffic, so the cache figures are
//! the run's with the most lookups, not a sum; otherwise (one embedded server per run) they
//! add. Thresholds are re-evaluated with the scenario's rules; a regression gate is not (merge
//! first, then `harness report MERGED BASELINE --max-regression`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use chrono::{DateTime, TimeDelta, Utc};
use hdrhistogram::Histogram;

use crate::measure::gpu::GpuTelemetry;
use crate::measure::recorder;
use crate::scenario::Stack;
use crate::summary::{
    self, BadTokenStats, CacheStats, EndpointStats, HealthStatus, LatencyStats, LoadStats,
    ProcessStats, Quantile, SecondPoint, Summary, SummaryError,
};
use crate::verdict::rules::{self, RuleError};

/// The file name of the JUnit report in the merged run's folder.
pub const JUNIT_FILE: &str = "junit.xml";

/// Why runs could not be merged.
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    /// No summary was given.
    #[error("nothing to merge: give the summaries of at least one run")]
    Empty,
    /// A run was written with another schema version than this harness reads.
    #[error(
        "run {run} has schema_version {found}, this harness merges version {}: re-run it with \
         this harness",
        summary::SCHEMA_VERSION
    )]
    Version {
        /// Which input, counted from 1.
        run: usize,
        /// Its version.
        found: u32,
    },
    /// The runs are not of one scenario, so their figures do not add up to one run's.
    #[error(
        "run {run} is not the same scenario as run 1: its {field} is {found}, run 1's is {expected}"
    )]
    Scenario {
        /// Which input, counted from 1.
        run: usize,
        /// What differs (`scenario name`, `load mode`, `threshold rules`, `workload mix`).
        field: &'static str,
        /// Run 1's value.
        expected: String,
        /// This run's value.
        found: String,
    },
    /// A stored histogram could not be decoded: the file is damaged, not merely old.
    #[error("run {run}: the histogram of {what} (hdr_base64) does not decode")]
    Histogram {
        /// Which input, counted from 1.
        run: usize,
        /// The figure it belongs to.
        what: String,
    },
    /// A histogram could not take another's values (their ranges differ).
    #[error("run {run}: the histogram of {what} does not fit the merged one's range")]
    Range {
        /// Which input, counted from 1.
        run: usize,
        /// The figure it belongs to.
        what: String,
    },
    /// The scenario's rules no longer parse with this harness.
    #[error("threshold rule {rule:?}: {source}")]
    Rule {
        /// The rule as written in the summary.
        rule: String,
        /// Why it does not parse.
        source: RuleError,
    },
    /// Writing the merged summary failed.
    #[error(transparent)]
    Summary(#[from] SummaryError),
    /// Creating the folder or writing `junit.xml` failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Merges the summaries of one scenario run at the same time from several machines.
pub fn merge(runs: &[Summary]) -> Result<Summary, MergeError> {
    let first = runs.first().ok_or(MergeError::Empty)?;
    check_compatible(runs)?;
    let mut notes = Notes::default();
    let window = Window::of(runs);
    let mut out = first.clone();
    out.schema_version = summary::SCHEMA_VERSION;
    out.harness_version = env!("CARGO_PKG_VERSION").to_string();
    out.started_at = runs
        .iter()
        .map(|r| r.started_at)
        .min()
        .unwrap_or(first.started_at);
    out.finished_at = runs
        .iter()
        .map(|r| r.finished_at)
        .max()
        .unwrap_or(first.finished_at);
    out.measured_from = window.from;
    out.measured_s = window.seconds();
    merge_scenario(&mut out, runs);
    merge_provenance(&mut out, runs, &mut notes);
    let throughput_sum = window.throughput_note(runs);
    notes.extend(throughput_sum);

    out.overall = merge_endpoint(
        &runs.iter().map(|r| Some(&r.overall)).collect::<Vec<_>>(),
        "all requests",
        &mut notes,
    )?;
    out.endpoints = BTreeMap::new();
    for name in keys(runs.iter().map(|r| &r.endpoints)) {
        let parts: Vec<_> = runs.iter().map(|r| r.endpoints.get(&name)).collect();
        let merged = merge_endpoint(&parts, &name, &mut notes)?;
        out.endpoints.insert(name, merged);
    }
    out.bad_token = merge_bad_token(runs, &mut notes)?;
    out.series = merge_series(runs, window.from, &mut notes)?;
    out.stages = BTreeMap::new();
    for name in keys(runs.iter().map(|r| &r.stages)) {
        let parts: Vec<_> = runs.iter().map(|r| r.stages.get(&name)).collect();
        let what = format!("stage {name}");
        if let Some(merged) = merge_opt_latency(&parts, &what, &mut notes)? {
            out.stages.insert(name, merged);
        }
    }
    out.cache = merge_cache(runs, &mut notes);
    out.server_process = merge_process(runs, &mut notes);
    out.load = merge_load(runs, &mut notes)?;
    out.gpu = merge_gpu(runs, &mut notes);

    let rules = out
        .scenario
        .rules
        .iter()
        .map(|r| {
            rules::parse_rule(r).map_err(|source| MergeError::Rule {
                rule: r.clone(),
                source,
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    if runs.iter().any(|r| {
        r.thresholds
            .iter()
            .any(|t| t.metric == crate::verdict::REGRESSION_METRIC)
    }) {
        notes.push(
            "the runs' regression gate is not re-applied here: compare the merged run with \
             `harness report MERGED BASELINE --max-regression PCT`",
        );
    }
    out.notes = merged_notes(runs, &window, notes);
    crate::verdict::decide(&rules, &mut out, None, None);
    Ok(out)
}

/// Writes `summary.json` and `junit.xml` of a merged run into `dir` (created if needed);
/// returns the summary's path. The HTML report is `harness report DIR`.
pub fn write(merged: &Summary, dir: &Path) -> Result<PathBuf, MergeError> {
    std::fs::create_dir_all(dir).map_err(|source| MergeError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let summary_path = dir.join(summary::SUMMARY_FILE);
    merged.write(&summary_path)?;
    let junit_path = dir.join(JUNIT_FILE);
    std::fs::write(&junit_path, crate::output::junit::render(merged)).map_err(|source| {
        MergeError::Io {
            path: junit_path,
            source,
        }
    })?;
    Ok(summary_path)
}

/// Notes the merge adds, each once, and the figures that came out approximate.
#[derive(Debug, Default)]
struct Notes {
    notes: Vec<String>,
    approximate: Vec<String>,
}

impl Notes {
    fn push(&mut self, note: impl Into<String>) {
        let note = note.into();
        if !self.notes.contains(&note) {
            self.notes.push(note);
        }
    }

    /// Records that `what`'s percentiles are upper bounds, not exact.
    fn approximate(&mut self, what: &str) {
        if !self.approximate.iter().any(|w| w == what) {
            self.approximate.push(what.to_string());
        }
    }

    /// All notes, the approximate figures as one.
    fn into_vec(mut self) -> Vec<String> {
        if !self.approximate.is_empty() {
            self.notes.push(format!(
                "percentiles are upper bounds (the largest of the runs'), not exact, for: {} \
                 (a run's summary has no histogram for them: it was written before histograms \
                 were stored); counts, min, max and mean are exact",
                self.approximate.join(", ")
            ));
        }
        self.notes
    }

    fn extend(&mut self, notes: impl IntoIterator<Item = String>) {
        for n in notes {
            self.push(n);
        }
    }
}

fn check_compatible(runs: &[Summary]) -> Result<(), MergeError> {
    let first = &runs[0];
    for (i, r) in runs.iter().enumerate() {
        let run = i + 1;
        if r.schema_version != summary::SCHEMA_VERSION {
            return Err(MergeError::Version {
                run,
                found: r.schema_version,
            });
        }
        let differs = |field, expected: String, found: String| {
            (expected != found).then_some(MergeError::Scenario {
                run,
                field,
                expected,
                found,
            })
        };
        let (a, b) = (&first.scenario, &r.scenario);
        let checks = [
            differs("scenario name", a.name.clone(), b.name.clone()),
            differs("load mode", a.mode.name().into(), b.mode.name().into()),
            differs(
                "threshold rules",
                format!("{:?}", a.rules),
                format!("{:?}", b.rules),
            ),
            differs(
                "workload mix",
                format!("{:?}", a.mix),
                format!("{:?}", b.mix),
            ),
        ];
        if let Some(e) = checks.into_iter().flatten().next() {
            return Err(e);
        }
    }
    Ok(())
}

/// The runs' measured windows on the wall clock.
struct Window {
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    /// Seconds all windows share (0 when some do not meet).
    overlap_s: f64,
    /// The shortest window, seconds.
    shortest_s: f64,
}

impl Window {
    fn of(runs: &[Summary]) -> Window {
        let end = |r: &Summary| {
            r.measured_from + TimeDelta::microseconds((r.measured_s * 1e6).round() as i64)
        };
        let from = runs
            .iter()
            .map(|r| r.measured_from)
            .min()
            .unwrap_or_default();
        let to = runs.iter().map(end).max().unwrap_or(from);
        let latest_start = runs.iter().map(|r| r.measured_from).max().unwrap_or(from);
        let earliest_end = runs.iter().map(end).min().unwrap_or(to);
        Window {
            from,
            to,
            overlap_s: secs(earliest_end - latest_start).max(0.0),
            shortest_s: runs
                .iter()
                .map(|r| r.measured_s)
                .fold(f64::INFINITY, f64::min),
        }
    }

    fn seconds(&self) -> f64 {
        secs(self.to - self.from)
    }

    /// A note when the windows overlap too little for a sum of rates to be the merged rate.
    fn throughput_note(&self, runs: &[Summary]) -> Option<String> {
        if runs.len() < 2 || self.overlap_s >= 0.9 * self.shortest_s {
            return None;
        }
        let requests: u64 = runs.iter().map(|r| r.overall.requests).sum();
        Some(format!(
            "the runs' measured windows share only {:.1} s of the shortest's {:.1} s: throughput \
             (the sum of the runs' rates) assumes they ran at the same time; over the union of \
             the windows ({:.1} s) it would be {:.1} req/s",
            self.overlap_s,
            self.shortest_s,
            self.seconds(),
            requests as f64 / self.seconds().max(1e-9)
        ))
    }
}

fn secs(d: TimeDelta) -> f64 {
    d.num_microseconds()
        .map_or(d.num_milliseconds() as f64 / 1e3, |us| us as f64 / 1e6)
}

/// The union of several maps' keys, in order.
fn keys<'a, V: 'a>(maps: impl Iterator<Item = &'a BTreeMap<String, V>>) -> BTreeSet<String> {
    maps.flat_map(|m| m.keys().cloned()).collect()
}

fn add_counts(into: &mut BTreeMap<String, u64>, from: &BTreeMap<String, u64>) {
    for (k, v) in from {
        *into.entry(k.clone()).or_default() += v;
    }
}

fn sum_opt(values: impl Iterator<Item = Option<u64>>) -> Option<u64> {
    values.fold(None, |acc, v| match (acc, v) {
        (None, v) => v,
        (Some(a), v) => Some(a + v.unwrap_or(0)),
    })
}

/// Load shape: the merged run drove the sum of the runs' users or rates.
fn merge_scenario(out: &mut Summary, runs: &[Summary]) {
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
fn merge_provenance(out: &mut Summary, runs: &[Summary], notes: &mut Notes) {
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

/// A histogram from the parts' when every part with values has one; `Ok(None)` when one lacks
/// it. `parts` are `(run index from 0, hdr_base64, count)`.
fn merge_histograms<'a>(
    parts: impl IntoIterator<Item = (usize, Option<&'a str>, u64)>,
    what: &str,
) -> Result<Option<Histogram<u64>>, MergeError> {
    let mut merged: Option<Histogram<u64>> = None;
    for (i, hdr, count) in parts {
        let Some(text) = hdr else {
            if count == 0 {
                continue;
            }
            return Ok(None);
        };
        let h = recorder::decode_histogram(text).ok_or_else(|| MergeError::Histogram {
            run: i + 1,
            what: what.to_string(),
        })?;
        match &mut merged {
            None => merged = Some(h),
            Some(m) => m.add(&h).map_err(|_| MergeError::Range {
                run: i + 1,
                what: what.to_string(),
            })?,
        }
    }
    Ok(Some(merged.unwrap_or_else(recorder::new_histogram)))
}

/// Latency statistics merged without histograms: exact count, min, max, mean and standard
/// deviation (pooled); percentiles are the largest of the parts', an upper bound.
fn approximate_latency(parts: &[&LatencyStats]) -> LatencyStats {
    let parts: Vec<&LatencyStats> = parts.iter().copied().filter(|p| p.count > 0).collect();
    let count: u64 = parts.iter().map(|p| p.count).sum();
    if count == 0 {
        return LatencyStats::default();
    }
    let n = count as f64;
    let mean = parts
        .iter()
        .map(|p| p.count as f64 * p.mean_us)
        .sum::<f64>()
        / n;
    let var = parts
        .iter()
        .map(|p| p.count as f64 * (p.stdev_us.powi(2) + (p.mean_us - mean).powi(2)))
        .sum::<f64>()
        / n;
    let top = |get: fn(&LatencyStats) -> u64| parts.iter().map(|p| get(p)).max().unwrap_or(0);
    LatencyStats {
        count,
        min_us: parts.iter().map(|p| p.min_us).min().unwrap_or(0),
        mean_us: mean,
        stdev_us: var.sqrt(),
        p50_us: top(|p| p.p50_us),
        p90_us: top(|p| p.p90_us),
        p95_us: top(|p| p.p95_us),
        p99_us: top(|p| p.p99_us),
        p999_us: top(|p| p.p999_us),
        max_us: top(|p| p.max_us),
        hdr_base64: None,
    }
}

/// Merges a latency figure (with its histogram) that every run has.
fn merge_latency(
    parts: &[(usize, &LatencyStats)],
    what: &str,
    notes: &mut Notes,
) -> Result<LatencyStats, MergeError> {
    let hists = parts
        .iter()
        .map(|(i, p)| (*i, p.hdr_base64.as_deref(), p.count));
    match merge_histograms(hists, what)? {
        Some(h) => Ok(recorder::histogram_stats(&h)),
        None => {
            notes.approximate(what);
            Ok(approximate_latency(
                &parts.iter().map(|(_, p)| *p).collect::<Vec<_>>(),
            ))
        }
    }
}

/// Merges a latency figure some runs may lack; `None` when none has it.
fn merge_opt_latency(
    parts: &[Option<&LatencyStats>],
    what: &str,
    notes: &mut Notes,
) -> Result<Option<LatencyStats>, MergeError> {
    let present: Vec<(usize, &LatencyStats)> = parts
        .iter()
        .enumerate()
        .filter_map(|(i, p)| p.map(|p| (i, p)))
        .collect();
    if present.is_empty() {
        return Ok(None);
    }
    merge_latency(&present, what, notes).map(Some)
}

fn merge_endpoint(
    parts: &[Option<&EndpointStats>],
    scope: &str,
    notes: &mut Notes,
) -> Result<EndpointStats, MergeError> {
    let present: Vec<(usize, &EndpointStats)> = parts
        .iter()
        .enumerate()
        .filter_map(|(i, p)| p.map(|p| (i, p)))
        .collect();
    let mut out = EndpointStats::default();
    for (_, p) in &present {
        out.requests += p.requests;
        out.errors += p.errors;
        out.throughput_rps += p.throughput_rps;
        add_counts(&mut out.errors_by_status, &p.errors_by_status);
        add_counts(&mut out.status_counts, &p.status_counts);
    }
    out.error_rate = if out.requests == 0 {
        0.0
    } else {
        out.errors as f64 / out.requests as f64
    };
    let hists = present
        .iter()
        .map(|(i, p)| (*i, p.hdr_base64.as_deref(), p.requests));
    match merge_histograms(hists, scope)? {
        Some(h) => {
            out.latency = recorder::latency_stats(&h);
            out.percentiles = recorder::percentile_points(&h);
            out.hdr_base64 = recorder::encode_histogram(&h);
        }
        None => {
            notes.approximate(&format!("{scope} latency"));
            let lat: Vec<&LatencyStats> = present.iter().map(|(_, p)| &p.latency).collect();
            out.latency = approximate_latency(&lat);
            out.percentiles = approximate_curve(present.iter().map(|(_, p)| &p.percentiles));
            out.hdr_base64 = None;
        }
    }
    let cached: Vec<_> = parts
        .iter()
        .map(|p| p.and_then(|p| p.cached.as_ref()))
        .collect();
    out.cached = merge_opt_latency(&cached, &format!("{scope} cached latency"), notes)?;
    let uncached: Vec<_> = parts
        .iter()
        .map(|p| p.and_then(|p| p.uncached.as_ref()))
        .collect();
    out.uncached = merge_opt_latency(&uncached, &format!("{scope} uncached latency"), notes)?;
    Ok(out)
}

/// The percentile curve without histograms: at each quantile the largest of the runs'.
fn approximate_curve<'a>(curves: impl Iterator<Item = &'a Vec<Quantile>>) -> Vec<Quantile> {
    let mut out: Vec<Quantile> = Vec::new();
    for curve in curves {
        for q in curve {
            match out.iter_mut().find(|o| o.q == q.q) {
                Some(o) => o.us = o.us.max(q.us),
                None => out.push(*q),
            }
        }
    }
    out.sort_by(|a, b| a.q.total_cmp(&b.q));
    out
}

fn merge_bad_token(runs: &[Summary], notes: &mut Notes) -> Result<BadTokenStats, MergeError> {
    let mut out = BadTokenStats::default();
    for r in runs {
        out.requests += r.bad_token.requests;
        out.rejected += r.bad_token.rejected;
        add_counts(&mut out.unexpected, &r.bad_token.unexpected);
    }
    let parts: Vec<_> = runs
        .iter()
        .map(|r| &r.bad_token.latency)
        .enumerate()
        .collect();
    out.latency = merge_latency(&parts, "bad-token latency", notes)?;
    Ok(out)
}

/// The per-second series on the wall clock: each run's second `t` goes to the merged second
/// its start (`measured_from + t`) falls in, rounded to whole seconds.
fn merge_series(
    runs: &[Summary],
    from: DateTime<Utc>,
    notes: &mut Notes,
) -> Result<Vec<SecondPoint>, MergeError> {
    let mut shifts = Vec::with_capacity(runs.len());
    for (i, r) in runs.iter().enumerate() {
        let offset = secs(r.measured_from - from);
        if (offset - offset.round()).abs() > 0.05 {
            notes.push(format!(
                "per-second series: run {} started its window {offset:.2} s after the first; its \
                 seconds are aligned to the nearest whole second",
                i + 1
            ));
        }
        shifts.push(offset.round().max(0.0) as usize);
    }
    let len = runs
        .iter()
        .zip(&shifts)
        .map(|(r, s)| s + r.series.len())
        .max()
        .unwrap_or(0);
    let mut series = Vec::with_capacity(len);
    for t in 0..len {
        let parts: Vec<(usize, &SecondPoint)> = runs
            .iter()
            .zip(&shifts)
            .enumerate()
            .filter_map(|(i, (r, &shift))| {
                t.checked_sub(shift)
                    .and_then(|k| r.series.get(k))
                    .map(|p| (i, p))
            })
            .collect();
        series.push(merge_second(t as u32, &parts, notes)?);
    }
    Ok(series)
}

fn merge_second(
    t: u32,
    parts: &[(usize, &SecondPoint)],
    notes: &mut Notes,
) -> Result<SecondPoint, MergeError> {
    let errors = parts.iter().map(|(_, p)| p.errors).sum();
    let mut by_endpoint = BTreeMap::new();
    for (_, p) in parts {
        add_counts(&mut by_endpoint, &p.by_endpoint);
    }
    let what = format!("second {t} of the series");
    let hists = parts
        .iter()
        .map(|(i, p)| (*i, p.hdr_base64.as_deref(), p.requests));
    if let Some(h) = merge_histograms(hists, &what)? {
        return Ok(recorder::second_point(t, &h, errors, by_endpoint));
    }
    notes.approximate("the per-second series");
    let top = |get: fn(&SecondPoint) -> u64| parts.iter().map(|(_, p)| get(p)).max().unwrap_or(0);
    Ok(SecondPoint {
        t,
        requests: parts.iter().map(|(_, p)| p.requests).sum(),
        errors,
        p50_us: top(|p| p.p50_us),
        p95_us: top(|p| p.p95_us),
        p99_us: top(|p| p.p99_us),
        max_us: top(|p| p.max_us),
        by_endpoint,
        hdr_base64: None,
    })
}

/// Whether every run loaded one and the same external server, whose counters then cover all
/// runs' traffic.
fn shared_server(runs: &[Summary]) -> bool {
    let first = &runs[0].stack;
    first.kind != Stack::Embedded
        && runs
            .iter()
            .all(|r| r.stack.kind == first.kind && r.stack.base_url == first.base_url)
}

fn merge_cache(runs: &[Summary], notes: &mut Notes) -> CacheStats {
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
fn merge_process(runs: &[Summary], notes: &mut Notes) -> Option<ProcessStats> {
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

fn merge_load(runs: &[Summary], notes: &mut Notes) -> Result<LoadStats, MergeError> {
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
fn merge_gpu(runs: &[Summary], notes: &mut Notes) -> Option<GpuTelemetry> {
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

fn merged_notes(runs: &[Summary], window: &Window, notes: Notes) -> Vec<String> {
    let mut out = vec![format!(
        "merged from {} runs with `harness merge`: measured window is the union of theirs \
         ({:.1} s, {:.1} s shared by all), throughput the sum of their rates",
        runs.len(),
        window.seconds(),
        window.overlap_s
    )];
    out.extend(notes.into_vec());
    for (i, r) in runs.iter().enumerate() {
        out.extend(r.notes.iter().map(|n| format!("run {}: {n}", i + 1)));
    }
    out
}
