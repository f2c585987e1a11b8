//! A sweep's settings: the `[sweep]` table of a scenario and the flags of `harness sweep`
//! carry the same optional values ([`SweepSection`]); both are applied onto the defaults (or
//! onto the scenario's settings) by one function, so the file and the flags are checked alike.

use std::time::Duration;

use serde::Deserialize;

use crate::units::{format_duration, parse_duration};

/// `[sweep]` as written, and `harness sweep`'s flags of the same names.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SweepSection {
    /// The ramp's first offered rate, requests per second (default 50).
    pub start_rate: Option<f64>,
    /// The ramp never offers more (default 20000).
    pub max_rate: Option<f64>,
    /// Each ramp step offers this many times the last (default 2).
    pub growth: Option<f64>,
    /// Stop when the last pass and the first fail are this close: `5%` (the default).
    pub precision: Option<String>,
    /// Each step's measured window (default `10s`).
    pub step_duration: Option<String>,
    /// Each step's unmeasured warm-up (default `2s`).
    pub step_warmup: Option<String>,
    /// A step must achieve this share of the offered rate to pass (default `95%`).
    pub min_achieved: Option<String>,
}

/// A sweep's settings, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct SweepSettings {
    /// The ramp's first offered rate, requests per second.
    pub start_rate: f64,
    /// The ramp never offers more.
    pub max_rate: f64,
    /// Each ramp step offers this many times the last.
    pub growth: f64,
    /// The search stops when `first fail - last pass <= precision x last pass`.
    pub precision: f64,
    /// Each step's measured window.
    pub step_duration: Duration,
    /// Each step's unmeasured warm-up.
    pub step_warmup: Duration,
    /// A step must achieve this share (0..1] of the offered rate to pass.
    pub min_achieved: f64,
}

impl Default for SweepSettings {
    /// A sweep of `/v1/search` on a small machine in a few minutes: 50/s doubling, 10 s
    /// steps after 2 s of warm-up, to 5 %.
    fn default() -> Self {
        SweepSettings {
            start_rate: 50.0,
            max_rate: 20_000.0,
            growth: 2.0,
            precision: 0.05,
            step_duration: Duration::from_secs(10),
            step_warmup: Duration::from_secs(2),
            min_achieved: 0.95,
        }
    }
}

/// A setting that is not acceptable: the key (as in `[sweep]`, the flag is `--` and dashes)
/// and what to write instead.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{key}: {message}")]
pub struct SettingError {
    /// The key in `[sweep]` (`step_duration`).
    pub key: &'static str,
    /// What is wrong and what to write instead.
    pub message: String,
}

fn bad(key: &'static str, message: impl Into<String>) -> SettingError {
    SettingError {
        key,
        message: message.into(),
    }
}

impl SweepSettings {
    /// These settings with `section`'s values put over them, checked.
    pub fn apply(&self, section: &SweepSection) -> Result<SweepSettings, SettingError> {
        let duration = |key, value: &Option<String>, default| match value {
            None => Ok(default),
            Some(v) => parse_duration(v).map_err(|m| bad(key, m)),
        };
        let out = SweepSettings {
            start_rate: section.start_rate.unwrap_or(self.start_rate),
            max_rate: section.max_rate.unwrap_or(self.max_rate),
            growth: section.growth.unwrap_or(self.growth),
            precision: share("precision", &section.precision, self.precision)?,
            step_duration: duration("step_duration", &section.step_duration, self.step_duration)?,
            step_warmup: duration("step_warmup", &section.step_warmup, self.step_warmup)?,
            min_achieved: share("min_achieved", &section.min_achieved, self.min_achieved)?,
        };
        out.check()
    }

    fn check(self) -> Result<SweepSettings, SettingError> {
        if !(self.start_rate > 0.0 && self.start_rate.is_finite()) {
            return Err(bad(
                "start_rate",
                format!(
                    "{} is not a rate: give requests per second above 0",
                    self.start_rate
                ),
            ));
        }
        if !(self.max_rate >= self.start_rate && self.max_rate.is_finite()) {
            return Err(bad(
                "max_rate",
                format!(
                    "{} is below the start rate {}: give a maximum at or above it",
                    self.max_rate, self.start_rate
                ),
            ));
        }
        if !(self.growth > 1.0 && self.growth <= 10.0) {
            return Err(bad(
                "growth",
                format!(
                    "{} must be above 1 and at most 10 (2 doubles each step)",
                    self.growth
                ),
            ));
        }
        if !(self.precision > 0.0 && self.precision <= 0.5) {
            return Err(bad(
                "precision",
                "must be above 0 % and at most 50 % (e.g. `5%`)",
            ));
        }
        if self.step_duration < Duration::from_secs(1) {
            return Err(bad(
                "step_duration",
                format!(
                    "{} is too short to measure a step: give at least 1s",
                    format_duration(self.step_duration)
                ),
            ));
        }
        if !(self.min_achieved > 0.0 && self.min_achieved <= 1.0) {
            return Err(bad(
                "min_achieved",
                "must be above 0 % and at most 100 % (e.g. `95%`)",
            ));
        }
        Ok(self)
    }

    /// The most steps a search can take: the ramp from the start to the maximum rate, and a
    /// bisection of the last factor down to the precision.
    pub fn max_steps(&self) -> usize {
        let ramp = (self.max_rate / self.start_rate).ln() / self.growth.ln();
        let bisect = ((self.growth - 1.0) / self.precision).log2();
        ramp.ceil().max(0.0) as usize + 1 + bisect.ceil().max(0.0) as usize + 1
    }
}

/// A share written `5%` or `0.05`.
fn share(key: &'static str, value: &Option<String>, default: f64) -> Result<f64, SettingError> {
    let Some(text) = value else {
        return Ok(default);
    };
    let t = text.trim();
    let parsed = match t.strip_suffix('%') {
        Some(n) => n.trim().parse::<f64>().map(|v| v / 100.0),
        None => t.parse::<f64>(),
    };
    match parsed {
        Ok(v) if v.is_finite() => Ok(v),
        _ => Err(bad(
            key,
            format!("`{text}` is not a share: write a percentage like `5%`"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_section_goes_over_the_defaults() {
        let s = SweepSettings::default()
            .apply(&SweepSection {
                start_rate: Some(100.0),
                precision: Some("2%".into()),
                step_duration: Some("5s".into()),
                min_achieved: Some("0.9".into()),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(s.start_rate, 100.0);
        assert_eq!(s.max_rate, 20_000.0);
        assert!((s.precision - 0.02).abs() < 1e-12);
        assert_eq!(s.step_duration, Duration::from_secs(5));
        assert_eq!(s.step_warmup, Duration::from_secs(2));
        assert!((s.min_achieved - 0.9).abs() < 1e-12);
    }

    #[test]
    fn bad_values_name_the_key_and_what_to_write() {
        let apply = |section: SweepSection| SweepSettings::default().apply(&section).unwrap_err();
        let e = apply(SweepSection {
            start_rate: Some(0.0),
            ..Default::default()
        });
        assert_eq!(e.key, "start_rate");
        let e = apply(SweepSection {
            start_rate: Some(500.0),
            max_rate: Some(100.0),
            ..Default::default()
        });
        assert!(e.to_string().starts_with("max_rate: 100 is below"), "{e}");
        let e = apply(SweepSection {
            precision: Some("five".into()),
            ..Default::default()
        });
        assert!(
            e.to_string().contains("write a percentage like `5%`"),
            "{e}"
        );
        let e = apply(SweepSection {
            step_duration: Some("200ms".into()),
            ..Default::default()
        });
        assert!(e.to_string().contains("at least 1s"), "{e}");
        assert_eq!(
            apply(SweepSection {
                growth: Some(1.0),
                ..Default::default()
            })
            .key,
            "growth"
        );
    }

    #[test]
    fn max_steps_bounds_a_default_search() {
        // 50 -> 20000 doubling: 9 ramp steps past the start; 2 -> 5 %: 5 halvings.
        assert_eq!(SweepSettings::default().max_steps(), 9 + 1 + 5 + 1);
    }
}
