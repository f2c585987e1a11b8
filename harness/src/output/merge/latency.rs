//! Latency figures merged through their HDR histograms (exactly), or, where a run has none,
//! as upper bounds: endpoints, the bad-token requests, stages and the per-second series.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use hdrhistogram::Histogram;

use super::window::secs;
use super::{MergeError, Notes};
use crate::measure::histogram;
use crate::measure::recorder::add_counts;
use crate::summary::{BadTokenStats, EndpointStats, LatencyStats, Quantile, SecondPoint, Summary};

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
        let h = histogram::decode_histogram(text).ok_or_else(|| MergeError::Histogram {
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
    Ok(Some(merged.unwrap_or_else(histogram::new_histogram)))
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
        Some(h) => Ok(histogram::histogram_stats(&h)),
        None => {
            notes.approximate(what);
            Ok(approximate_latency(
                &parts.iter().map(|(_, p)| *p).collect::<Vec<_>>(),
            ))
        }
    }
}

/// Merges a latency figure some runs may lack; `None` when none has it.
pub(super) fn merge_opt_latency(
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

pub(super) fn merge_endpoint(
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
            out.latency = histogram::latency_stats(&h);
            out.percentiles = histogram::percentile_points(&h);
            out.hdr_base64 = histogram::encode_histogram(&h);
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

pub(super) fn merge_bad_token(
    runs: &[Summary],
    notes: &mut Notes,
) -> Result<BadTokenStats, MergeError> {
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
pub(super) fn merge_series(
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
        return Ok(histogram::second_point(t, &h, errors, by_endpoint));
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
