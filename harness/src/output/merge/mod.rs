//! `harness merge`: one summary from the summaries of the same scenario run on several
//! machines at once, the way to drive more load than one machine gives.
//!
//! Every latency figure comes from a histogram where the inputs carry one: the runs' HDR
//! histograms are added and the statistics recomputed with the recorder's own functions
//! (`latency_stats`, `histogram_stats`, `percentile_points`, `second_point` in
//! [`crate::measure::histogram`]), so a merged summary reads as if one recorder had seen every
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
//!
//! Here: the run-level merge, the checks that the runs are one scenario, and the notes;
//! `latency` merges histograms, endpoints and the per-second series, `facts` everything else
//! (load shape, provenance, cache, server process, GPU), `window` the wall-clock windows.

mod facts;
mod latency;
mod window;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::summary::{self, Summary, SummaryError};
use crate::verdict::rules::{self, RuleError};
use facts::{merge_cache, merge_gpu, merge_load, merge_process, merge_provenance, merge_scenario};
use latency::{merge_bad_token, merge_endpoint, merge_opt_latency, merge_series};
use window::Window;

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

/// The union of several maps' keys, in order.
fn keys<'a, V: 'a>(maps: impl Iterator<Item = &'a BTreeMap<String, V>>) -> BTreeSet<String> {
    maps.flat_map(|m| m.keys().cloned()).collect()
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
