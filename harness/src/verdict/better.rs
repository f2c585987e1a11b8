//! Which way a metric improves: the one place that knows latency wants to go down and
//! throughput up. The regression gate ([`super::regression`]) and the side-by-side comparisons
//! (`output::report::compare`, `output::compare`) both ask it.

use serde::Serialize;

/// Which direction of a metric is an improvement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Better {
    /// Smaller is better (latency, errors, memory).
    Lower,
    /// Larger is better (throughput, cache hit rate).
    Higher,
    /// Shown side by side, not judged (e.g. GPU utilization, CPU use).
    Neither,
}

impl Better {
    /// The improvement factor of `cur` over `base` as a fraction `(num, den)`: baseline over
    /// current when lower is better, current over baseline otherwise.
    pub fn factor_parts(self, base: f64, cur: f64) -> (f64, f64) {
        match self {
            Better::Lower => (base, cur),
            Better::Higher | Better::Neither => (cur, base),
        }
    }

    /// How much worse `cur` is than `base`, in percent of `base`; 0 or less when it is not
    /// worse, and `None` when there is no positive baseline or the metric is not judged.
    pub fn worse_pct(self, base: f64, cur: f64) -> Option<f64> {
        if base <= 0.0 {
            return None;
        }
        match self {
            Better::Lower => Some((cur / base - 1.0) * 100.0),
            Better::Higher => Some((1.0 - cur / base) * 100.0),
            Better::Neither => None,
        }
    }
}
