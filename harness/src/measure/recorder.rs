//! The recorder both load generators feed: per-endpoint HDR histograms in microseconds,
//! errors by status, a per-second series, the stage breakdown ([`super::server_timing`]) and the
//! bad-token requests apart. It also serves the live progress line.
//!
//! Requests are attributed to the measured window by the time they *started* (for the open
//! loop: their intended start), so a slow response that started in the window is counted
//! even when it completes after it.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use super::histogram::{
    MAX_US, encode_histogram, histogram_stats, latency_stats, new_histogram, new_second_histogram,
    percentile_points, record, second_point,
};
use super::server_timing::{CacheMark, parse_server_timing};
use crate::load::workload::Endpoint;
use crate::summary::{BadTokenStats, EndpointStats, LatencyStats, SecondPoint};

/// How a request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// An HTTP response with this status.
    Http(u16),
    /// The request timed out.
    Timeout,
    /// No response (connection refused, reset, ...).
    Transport,
}

impl Status {
    /// The key in `errors_by_status` / `status_counts`.
    pub fn key(self) -> String {
        match self {
            Status::Http(code) => code.to_string(),
            Status::Timeout => "timeout".into(),
            Status::Transport => "transport".into(),
        }
    }

    fn is_success(self) -> bool {
        matches!(self, Status::Http(200..=299))
    }
}

/// One completed request, as a generator reports it.
#[derive(Debug, Clone)]
pub struct Outcome<'a> {
    pub endpoint: Endpoint,
    /// Sent with a bad token on purpose.
    pub bad_token: bool,
    /// When the request started (open loop: its intended start).
    pub started: Instant,
    /// From `started` to the end of the response body.
    pub latency: Duration,
    /// How it ended.
    pub status: Status,
    /// The `Server-Timing` header, if any.
    pub server_timing: Option<&'a str>,
}

#[derive(Debug)]
struct EndpointAcc {
    hist: Histogram<u64>,
    cached: Histogram<u64>,
    uncached: Histogram<u64>,
    errors: u64,
    errors_by_status: BTreeMap<String, u64>,
    status_counts: BTreeMap<String, u64>,
}

impl EndpointAcc {
    fn new() -> Self {
        EndpointAcc {
            hist: new_histogram(),
            cached: new_histogram(),
            uncached: new_histogram(),
            errors: 0,
            errors_by_status: BTreeMap::new(),
            status_counts: BTreeMap::new(),
        }
    }
}

#[derive(Debug)]
struct SecondAcc {
    hist: Histogram<u64>,
    errors: u64,
    by_endpoint: [u64; 3],
}

#[derive(Debug)]
struct State {
    window_start: Option<Instant>,
    window_end: Option<Instant>,
    endpoints: [EndpointAcc; 3],
    bad_requests: u64,
    bad_rejected: u64,
    bad_unexpected: BTreeMap<String, u64>,
    bad_hist: Histogram<u64>,
    seconds: Vec<SecondAcc>,
    stages: BTreeMap<String, Histogram<u64>>,
    responses_hit: u64,
    responses_miss: u64,
    warmup_requests: u64,
    completions: u64,
    lag: Histogram<u64>,
    generator_lag: Histogram<u64>,
    live_requests: u64,
    live_errors: u64,
    live_hist: Histogram<u64>,
}

/// A snapshot for the progress line.
#[derive(Debug, Clone, Copy)]
pub struct Live {
    /// Whether the measured window has started.
    pub measuring: bool,
    /// Requests completed in the current phase.
    pub requests: u64,
    /// Errors in the current phase.
    pub errors: u64,
    /// P95 so far in the current phase, microseconds.
    pub p95_us: u64,
}

/// Collects every request's outcome. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct Recorder {
    state: Mutex<State>,
}

impl Default for Recorder {
    fn default() -> Self {
        Self::new()
    }
}

impl Recorder {
    /// An empty recorder in the warm-up phase.
    pub fn new() -> Recorder {
        Recorder {
            state: Mutex::new(State {
                window_start: None,
                window_end: None,
                endpoints: [EndpointAcc::new(), EndpointAcc::new(), EndpointAcc::new()],
                bad_requests: 0,
                bad_rejected: 0,
                bad_unexpected: BTreeMap::new(),
                bad_hist: new_histogram(),
                seconds: Vec::new(),
                stages: BTreeMap::new(),
                responses_hit: 0,
                responses_miss: 0,
                warmup_requests: 0,
                completions: 0,
                lag: new_histogram(),
                generator_lag: new_histogram(),
                live_requests: 0,
                live_errors: 0,
                live_hist: new_histogram(),
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock leaves consistent counters: keep going.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Opens the measured window: requests starting from `at` are measured.
    pub fn start_window(&self, at: Instant) {
        let mut s = self.lock();
        s.window_start = Some(at);
        s.live_requests = 0;
        s.live_errors = 0;
        s.live_hist.reset();
    }

    /// Closes the measured window: requests starting from `at` are ignored.
    pub fn end_window(&self, at: Instant) {
        self.lock().window_end = Some(at);
    }

    /// Whether the window is open (started and not ended) at `t`.
    pub fn in_window(&self, t: Instant) -> bool {
        let s = self.lock();
        s.window_start.is_some_and(|start| t >= start) && s.window_end.is_none_or(|end| t < end)
    }

    /// Records how late an open-loop request left: `lag` from its intended start (a wait
    /// for an in-flight slot included), `own` the part that was the generator's alone (from
    /// the moment it was due and a slot was free). Only arrivals due in the window count.
    pub fn record_lag(&self, intended: Instant, lag: Duration, own: Duration) {
        let mut s = self.lock();
        if s.window_start.is_some_and(|start| intended >= start)
            && s.window_end.is_none_or(|end| intended < end)
        {
            record(&mut s.lag, lag.as_micros().min(u128::from(MAX_US)) as u64);
            record(
                &mut s.generator_lag,
                own.as_micros().min(u128::from(MAX_US)) as u64,
            );
        }
    }

    /// Records one completed request.
    pub fn record(&self, o: &Outcome<'_>) {
        let us = o.latency.as_micros().min(u128::from(MAX_US)) as u64;
        let timing = o.server_timing.map(parse_server_timing);
        let mut guard = self.lock();
        let s = &mut *guard;
        let error = if o.bad_token {
            o.status != Status::Http(401)
        } else {
            !o.status.is_success()
        };
        s.live_requests += 1;
        if error {
            s.live_errors += 1;
        }
        let now = Instant::now();
        if s.window_start.is_some_and(|start| now >= start)
            && s.window_end.is_none_or(|end| now < end)
        {
            s.completions += 1;
        }
        record(&mut s.live_hist, us);
        let Some(start) = s.window_start.filter(|start| o.started >= *start) else {
            s.warmup_requests += 1;
            return;
        };
        if s.window_end.is_some_and(|end| o.started >= end) {
            return;
        }
        if o.bad_token {
            s.bad_requests += 1;
            if error {
                *s.bad_unexpected.entry(o.status.key()).or_default() += 1;
            } else {
                s.bad_rejected += 1;
                record(&mut s.bad_hist, us);
            }
            return;
        }
        let ep = &mut s.endpoints[o.endpoint.index()];
        record(&mut ep.hist, us);
        if error {
            ep.errors += 1;
            *ep.errors_by_status.entry(o.status.key()).or_default() += 1;
        } else {
            *ep.status_counts.entry(o.status.key()).or_default() += 1;
        }
        if let Some(t) = &timing {
            match t.cache {
                Some(CacheMark::Hit) => {
                    record(&mut ep.cached, us);
                    s.responses_hit += 1;
                }
                Some(CacheMark::Miss) => {
                    record(&mut ep.uncached, us);
                    s.responses_miss += 1;
                }
                None => {}
            }
            for (stage, stage_us) in &t.stages {
                let h = s.stages.entry(stage.clone()).or_insert_with(new_histogram);
                record(h, *stage_us);
            }
        }
        let second = o.started.duration_since(start).as_secs() as usize;
        while s.seconds.len() <= second {
            s.seconds.push(SecondAcc {
                hist: new_second_histogram(),
                errors: 0,
                by_endpoint: [0; 3],
            });
        }
        let sec = &mut s.seconds[second];
        record(&mut sec.hist, us);
        sec.by_endpoint[o.endpoint.index()] += 1;
        if error {
            sec.errors += 1;
        }
    }

    /// A snapshot for the progress line.
    pub fn live(&self) -> Live {
        let s = self.lock();
        Live {
            measuring: s.window_start.is_some(),
            requests: s.live_requests,
            errors: s.live_errors,
            p95_us: if s.live_hist.is_empty() {
                0
            } else {
                s.live_hist.value_at_quantile(0.95)
            },
        }
    }

    /// Turns what was recorded into the summary's parts. `measured` is the window's length
    /// and `endpoints` the endpoints the workload used (listed even with zero requests).
    pub fn finish(&self, measured: Duration, endpoints: &[Endpoint]) -> Recorded {
        let s = self.lock();
        let secs = measured.as_secs_f64().max(1e-9);
        let mut total = new_histogram();
        let mut overall = EndpointStats::default();
        let mut per_endpoint = BTreeMap::new();
        let mut total_cached = new_histogram();
        let mut total_uncached = new_histogram();
        for e in Endpoint::ALL {
            let acc = &s.endpoints[e.index()];
            if !endpoints.contains(&e) && acc.hist.is_empty() {
                continue;
            }
            let _ = total.add(&acc.hist);
            let _ = total_cached.add(&acc.cached);
            let _ = total_uncached.add(&acc.uncached);
            overall.errors += acc.errors;
            add_counts(&mut overall.errors_by_status, &acc.errors_by_status);
            add_counts(&mut overall.status_counts, &acc.status_counts);
            per_endpoint.insert(
                e.name().to_string(),
                endpoint_stats(
                    &acc.hist,
                    &acc.cached,
                    &acc.uncached,
                    acc.errors,
                    &acc.errors_by_status,
                    &acc.status_counts,
                    secs,
                ),
            );
        }
        let overall = endpoint_stats(
            &total,
            &total_cached,
            &total_uncached,
            overall.errors,
            &overall.errors_by_status,
            &overall.status_counts,
            secs,
        );
        // Requests are attributed to the second they started in; the window has this many
        // (a window that overran its length by a few milliseconds has no extra second).
        let n_seconds = ((measured.as_secs_f64() - 0.05).ceil() as usize).max(1);
        let series = (0..n_seconds)
            .map(|t| match s.seconds.get(t) {
                Some(sec) if !sec.hist.is_empty() => second_point(
                    t as u32,
                    &sec.hist,
                    sec.errors,
                    Endpoint::ALL
                        .into_iter()
                        .filter(|e| sec.by_endpoint[e.index()] > 0)
                        .map(|e| (e.name().to_string(), sec.by_endpoint[e.index()]))
                        .collect(),
                ),
                _ => SecondPoint {
                    t: t as u32,
                    ..SecondPoint::default()
                },
            })
            .collect();
        let stages = s
            .stages
            .iter()
            .map(|(k, h)| (k.clone(), histogram_stats(h)))
            .collect();
        Recorded {
            overall,
            endpoints: per_endpoint,
            bad_token: BadTokenStats {
                requests: s.bad_requests,
                rejected: s.bad_rejected,
                unexpected: s.bad_unexpected.clone(),
                latency: histogram_stats(&s.bad_hist),
            },
            series,
            stages,
            responses_hit: s.responses_hit,
            responses_miss: s.responses_miss,
            warmup_requests: s.warmup_requests,
            completions: s.completions,
            schedule_lag: (!s.lag.is_empty()).then(|| histogram_stats(&s.lag)),
            generator_lag: (!s.generator_lag.is_empty()).then(|| histogram_stats(&s.generator_lag)),
        }
    }
}

/// What [`Recorder::finish`] returns.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// All authenticated requests.
    pub overall: EndpointStats,
    pub endpoints: BTreeMap<String, EndpointStats>,
    pub bad_token: BadTokenStats,
    /// Per second.
    pub series: Vec<SecondPoint>,
    /// Server-Timing stages.
    pub stages: BTreeMap<String, LatencyStats>,
    /// Responses marked cache hits.
    pub responses_hit: u64,
    /// Responses marked cache misses.
    pub responses_miss: u64,
    /// Requests completed before the window.
    pub warmup_requests: u64,
    /// Requests (bad-token ones included) that completed inside the window, whenever they
    /// started: what the other side delivered, even when the schedule ran far behind.
    pub completions: u64,
    /// Open loop: send lag.
    pub schedule_lag: Option<LatencyStats>,
    /// Open loop: the generator's own lateness (see [`Recorder::record_lag`]).
    pub generator_lag: Option<LatencyStats>,
}

/// Adds the counts of `from` into `into`, key by key.
pub fn add_counts(into: &mut BTreeMap<String, u64>, from: &BTreeMap<String, u64>) {
    for (k, v) in from {
        *into.entry(k.clone()).or_default() += v;
    }
}

fn endpoint_stats(
    hist: &Histogram<u64>,
    cached: &Histogram<u64>,
    uncached: &Histogram<u64>,
    errors: u64,
    errors_by_status: &BTreeMap<String, u64>,
    status_counts: &BTreeMap<String, u64>,
    secs: f64,
) -> EndpointStats {
    let requests = hist.len();
    EndpointStats {
        requests,
        errors,
        error_rate: if requests == 0 {
            0.0
        } else {
            errors as f64 / requests as f64
        },
        errors_by_status: errors_by_status.clone(),
        status_counts: status_counts.clone(),
        throughput_rps: requests as f64 / secs,
        latency: latency_stats(hist),
        cached: (!cached.is_empty()).then(|| histogram_stats(cached)),
        uncached: (!uncached.is_empty()).then(|| histogram_stats(uncached)),
        percentiles: percentile_points(hist),
        hdr_base64: encode_histogram(hist),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::measure::histogram::decode_histogram;

    #[test]
    fn window_and_bad_tokens() {
        let r = Recorder::new();
        let t0 = Instant::now();
        let ok = |started, bad, status| Outcome {
            endpoint: Endpoint::Search,
            bad_token: bad,
            started,
            latency: Duration::from_micros(1500),
            status,
            server_timing: Some(r#"cache;desc="hit";dur=0.01"#),
        };
        r.record(&ok(t0, false, Status::Http(200))); // warm-up
        let w = t0 + Duration::from_millis(10);
        r.start_window(w);
        r.record(&ok(w, false, Status::Http(200)));
        r.record(&ok(w, false, Status::Http(503)));
        r.record(&ok(w, true, Status::Http(401)));
        r.record(&ok(w, true, Status::Http(200)));
        r.end_window(w + Duration::from_secs(2));
        r.record(&ok(w + Duration::from_secs(3), false, Status::Http(200))); // after
        let out = r.finish(Duration::from_secs(2), &[Endpoint::Search]);
        assert_eq!(out.warmup_requests, 1);
        assert_eq!(out.overall.requests, 2);
        assert_eq!(out.overall.errors, 1);
        assert_eq!(out.overall.errors_by_status.get("503"), Some(&1));
        assert_eq!(out.bad_token.requests, 2);
        assert_eq!(out.bad_token.rejected, 1);
        assert_eq!(out.bad_token.unexpected.get("200"), Some(&1));
        assert_eq!(out.series.len(), 2);
        assert_eq!(out.series[0].requests, 2);
        assert_eq!(out.responses_hit, 2);
        assert!((out.overall.throughput_rps - 1.0).abs() < 1e-9);
        let h = decode_histogram(out.endpoints["search"].hdr_base64.as_ref().unwrap()).unwrap();
        assert_eq!(h.len(), 2);
    }
}
