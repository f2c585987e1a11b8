//! Per-stage durations: the `Server-Timing` header and the stage histograms.

use std::fmt::Write;
use std::time::{Duration, Instant};

use axum::http::{HeaderName, HeaderValue};

/// The header's name, parsed once.
pub const SERVER_TIMING: HeaderName = HeaderName::from_static("server-timing");

/// The histogram of one stage's durations.
pub fn stage_histogram(stage: &'static str) -> metrics::Histogram {
    metrics::histogram!("ragbench_stage_duration_seconds", "stage" => stage)
}

/// Collects stage durations for one request.
#[derive(Debug)]
pub struct StageTimings {
    started: Instant,
    stages: Vec<(&'static str, Duration, Option<&'static str>)>,
}

impl Default for StageTimings {
    fn default() -> Self {
        Self::new()
    }
}

impl StageTimings {
    /// Starts the request's clock.
    pub fn new() -> Self {
        Self::new_at(Instant::now())
    }

    /// A request's clock that started at `started`.
    pub fn new_at(started: Instant) -> Self {
        Self {
            started,
            stages: Vec::with_capacity(4),
        }
    }

    /// Records a stage that began at `since`, with an optional `desc` (e.g. `hit`).
    pub fn record(&mut self, stage: &'static str, since: Instant, desc: Option<&'static str>) {
        self.record_in(&stage_histogram(stage), stage, since, desc);
    }

    /// [`Self::record`] into `histogram`, the stage's [`stage_histogram`] looked up before.
    pub fn record_in(
        &mut self,
        histogram: &metrics::Histogram,
        stage: &'static str,
        since: Instant,
        desc: Option<&'static str>,
    ) {
        let took = since.elapsed();
        histogram.record(took);
        self.stages.push((stage, took, desc));
    }

    /// The header value, with `total` last: `cache;desc="hit";dur=0.012, total;dur=0.020`.
    pub fn header(&self) -> HeaderValue {
        // One buffer: this runs on every cached answer.
        let mut value = String::with_capacity(96);
        for (name, took, desc) in &self.stages {
            value.push_str(name);
            if let Some(d) = desc {
                let _ = write!(value, ";desc=\"{d}\"");
            }
            value.push_str(";dur=");
            write_ms(&mut value, *took);
            value.push_str(", ");
        }
        value.push_str("total;dur=");
        write_ms(&mut value, self.started.elapsed());
        HeaderValue::try_from(value).unwrap_or(HeaderValue::from_static("total"))
    }
}

/// `took` in milliseconds with three decimals, rounded to the microsecond: integer formatting,
/// where `{:.3}` of a float was a tenth of a cached answer's time.
fn write_ms(out: &mut String, took: Duration) {
    let micros = (took.as_nanos() + 500) / 1_000;
    let _ = write!(out, "{}.{:03}", micros / 1_000, micros % 1_000);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_milliseconds_with_three_decimals() {
        let ms = |nanos: u64| {
            let mut out = String::new();
            write_ms(&mut out, Duration::from_nanos(nanos));
            out
        };
        assert_eq!(ms(0), "0.000");
        assert_eq!(ms(12_345), "0.012");
        assert_eq!(ms(12_500), "0.013");
        assert_eq!(ms(2_301_000), "2.301");
        assert_eq!(ms(1_234_000_400), "1234.000");
        assert_eq!(ms(999_600), "1.000");
    }

    #[test]
    fn the_header_lists_stages_in_order_with_total_last() {
        let mut timings = StageTimings::new();
        timings.record("cache", Instant::now(), Some("miss"));
        timings.record("embed", Instant::now(), None);
        let header = timings.header();
        let header = header.to_str().unwrap();
        let parts: Vec<&str> = header.split(", ").collect();
        assert_eq!(parts.len(), 3, "{header}");
        assert!(
            parts[0].starts_with("cache;desc=\"miss\";dur=0.0"),
            "{header}"
        );
        assert!(parts[1].starts_with("embed;dur=0.0"), "{header}");
        assert!(parts[2].starts_with("total;dur="), "{header}");
    }
}
