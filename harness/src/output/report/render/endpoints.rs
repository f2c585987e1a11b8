//! The endpoint table (with the instrument's floor beneath it), the cache line and the
//! Server-Timing stages table.

use serde::Serialize;

use super::us;
use crate::output::report::figures;
use crate::summary::{EndpointStats, LatencyStats, Summary};
use crate::units;

#[derive(Serialize)]
pub(super) struct EndpointRow {
    name: String,
    is_total: bool,
    is_sub: bool,
    is_floor: bool,
    requests: String,
    errors: String,
    errors_detail: String,
    error_rate: String,
    error_class: &'static str,
    p50: String,
    p90: String,
    p95: String,
    p99: String,
    max: String,
    throughput: String,
}

#[derive(Serialize)]
pub(super) struct StageRow {
    stage: String,
    count: String,
    mean: String,
    p50: String,
    p95: String,
    p99: String,
    max: String,
}

/// One row per Server-Timing stage.
pub(super) fn stage_rows(d: &Summary) -> Vec<StageRow> {
    d.stages
        .iter()
        .map(|(stage, s)| StageRow {
            stage: stage.clone(),
            count: units::int(s.count),
            mean: units::us(s.mean_us),
            p50: us(s.p50_us),
            p95: us(s.p95_us),
            p99: us(s.p99_us),
            max: us(s.max_us),
        })
        .collect()
}

/// The endpoint table: each endpoint with its cache hits and misses apart, the bad-token
/// requests, and all requests together.
pub(super) fn endpoint_rows(d: &Summary) -> Vec<EndpointRow> {
    let mut endpoints: Vec<EndpointRow> = Vec::new();
    for (name, e) in &d.endpoints {
        endpoints.push(endpoint_row(name, e, false));
        for (label, lat) in [("cache hits", &e.cached), ("cache misses", &e.uncached)] {
            if let Some(l) = lat.as_ref().filter(|l| l.count > 0) {
                endpoints.push(latency_row(&format!("{name}: {label}"), l, "", ""));
            }
        }
    }
    let b = &d.bad_token;
    if b.requests > 0 {
        let unexpected = b.requests.saturating_sub(b.rejected);
        let mut row = latency_row(
            "bad token (401 expected)",
            &b.latency,
            &units::int(unexpected),
            if unexpected > 0 { "bad" } else { "" },
        );
        row.requests = units::int(b.requests);
        row.is_sub = false;
        endpoints.push(row);
    }
    // With one endpoint its row is the total already; with none, there were no requests.
    if d.endpoints.len() > 1 || (d.endpoints.is_empty() && d.overall.requests > 0) {
        endpoints.push(endpoint_row("all requests", &d.overall, true));
    }
    if let Some(c) = &d.calibration {
        let mut row = latency_row(
            "instrument floor (trivial loopback endpoint, same load shape)",
            &c.latency,
            "",
            "",
        );
        row.is_floor = true;
        row.is_sub = false;
        row.throughput = units::rps(c.throughput_rps);
        endpoints.push(row);
    }
    endpoints
}

/// The cache's hit rate over the window; empty when the server's counters were not read.
pub(super) fn cache_line(d: &Summary) -> String {
    let c = &d.cache;
    let hit_rate = figures::hit_rate(c);
    if c.hits.is_none() && c.misses.is_none() && hit_rate.is_none() {
        return String::new();
    }
    format!(
        "Response cache over the measured window: hit rate {} ({} hits, {} misses).",
        hit_rate.map(units::share).unwrap_or_else(|| "n/a".into()),
        units::int(c.hits.unwrap_or(0)),
        units::int(c.misses.unwrap_or(0))
    )
}

/// A row with latencies only (cached / uncached split, bad-token requests).
fn latency_row(
    name: &str,
    l: &LatencyStats,
    errors: &str,
    error_class: &'static str,
) -> EndpointRow {
    EndpointRow {
        name: name.into(),
        is_total: false,
        is_sub: true,
        is_floor: false,
        requests: units::int(l.count),
        errors: if errors.is_empty() {
            "-".into()
        } else {
            errors.into()
        },
        errors_detail: String::new(),
        error_rate: "-".into(),
        error_class,
        p50: us(l.p50_us),
        p90: us(l.p90_us),
        p95: us(l.p95_us),
        p99: us(l.p99_us),
        max: us(l.max_us),
        throughput: "-".into(),
    }
}

fn endpoint_row(name: &str, e: &EndpointStats, is_total: bool) -> EndpointRow {
    let rate = figures::error_rate(e);
    let l = &e.latency;
    EndpointRow {
        name: name.into(),
        is_total,
        is_sub: false,
        is_floor: false,
        requests: units::int(e.requests),
        errors: units::int(e.errors),
        errors_detail: e
            .errors_by_status
            .iter()
            .map(|(k, n)| format!("{k}: {}", units::int(*n)))
            .collect::<Vec<_>>()
            .join(", "),
        error_rate: rate.map(units::share).unwrap_or_else(|| "-".into()),
        error_class: match rate {
            Some(r) if r >= 0.01 => "bad",
            Some(r) if r > 0.0 => "warn",
            _ => "",
        },
        p50: us(l.p50_us),
        p90: us(l.p90_us),
        p95: us(l.p95_us),
        p99: us(l.p99_us),
        max: us(l.max_us),
        throughput: units::rps(e.throughput_rps),
    }
}

/// The instrument's floor in words, for the endpoint section.
pub(super) fn instrument(d: &Summary) -> Vec<String> {
    let Some(c) = &d.calibration else {
        return vec![
            "The instrument's floor was not measured in this run (--no-calibrate).".into(),
        ];
    };
    let mut out = vec![format!(
        "Instrument floor: the same load shape ({}) against a trivial endpoint the harness \
         served on loopback ({} responses, {} measured) read P50 {}, P95 {}, P99 {}: \
         latencies near these are the harness's own, not the server's.",
        c.shape,
        units::bytes(c.response_bytes),
        units::seconds(c.measured_s),
        us(c.latency.p50_us),
        us(c.latency.p95_us),
        us(c.latency.p99_us),
    )];
    if let Some(m) = c.max_rps {
        out.push(format!(
            "The highest rate the instrument sustained with these connections: {}.",
            units::rps(m)
        ));
    }
    out
}
