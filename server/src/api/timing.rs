//! Per-stage durations: the `Server-Timing` header and the stage histograms.

use std::time::Instant;

use axum::http::HeaderValue;

/// Collects stage durations for one request.
#[derive(Debug)]
pub struct StageTimings {
    started: Instant,
    stages: Vec<(&'static str, f64, Option<&'static str>)>,
}

impl Default for StageTimings {
    fn default() -> Self {
        Self::new()
    }
}

impl StageTimings {
    /// Starts the request's clock.
    pub fn new() -> Self {
        Self {
            started: Instant::now(),
            stages: Vec::with_capacity(4),
        }
    }

    /// Records a stage that began at `since`, with an optional `desc` (e.g. `hit`).
    pub fn record(&mut self, stage: &'static str, since: Instant, desc: Option<&'static str>) {
        let secs = since.elapsed().as_secs_f64();
        metrics::histogram!("ragbench_stage_duration_seconds", "stage" => stage).record(secs);
        self.stages.push((stage, secs * 1000.0, desc));
    }

    /// The header value, with `total` last: `cache;desc="hit";dur=0.012, total;dur=0.020`.
    pub fn header(&self) -> HeaderValue {
        use std::fmt::Write;
        // One buffer: this runs on every cached answer.
        let mut value = String::with_capacity(96);
        for (name, ms, desc) in &self.stages {
            let _ = match desc {
                Some(d) => write!(value, "{name};desc=\"{d}\";dur={ms:.3}, "),
                None => write!(value, "{name};dur={ms:.3}, "),
            };
        }
        let total = self.started.elapsed().as_secs_f64() * 1000.0;
        let _ = write!(value, "total;dur={total:.3}");
        HeaderValue::try_from(value).unwrap_or(HeaderValue::from_static("total"))
    }
}
