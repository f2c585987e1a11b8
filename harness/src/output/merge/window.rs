//! The runs' measured windows on the wall clock: their union is the merged window, and how
//! much they share says whether a sum of rates is the merged rate.

use chrono::{DateTime, TimeDelta, Utc};

use crate::summary::Summary;

/// The runs' measured windows on the wall clock.
pub(super) struct Window {
    pub(super) from: DateTime<Utc>,
    pub(super) to: DateTime<Utc>,
    /// Seconds all windows share (0 when some do not meet).
    pub(super) overlap_s: f64,
    /// The shortest window, seconds.
    pub(super) shortest_s: f64,
}

impl Window {
    pub(super) fn of(runs: &[Summary]) -> Window {
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

    pub(super) fn seconds(&self) -> f64 {
        secs(self.to - self.from)
    }

    /// A note when the windows overlap too little for a sum of rates to be the merged rate.
    pub(super) fn throughput_note(&self, runs: &[Summary]) -> Option<String> {
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

pub(super) fn secs(d: TimeDelta) -> f64 {
    d.num_microseconds()
        .map_or(d.num_milliseconds() as f64 / 1e3, |us| us as f64 / 1e6)
}
