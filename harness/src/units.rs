//! Units, read and written: durations as scenario files and thresholds spell them (`3m`,
//! `1m30s`, `250ms`), and the one way every output (console, report, JUnit, verdict messages)
//! prints a latency, a rate, a share or a size (`1.94 ms`, `612 req/s`, `81.7 %`, `1.5 MiB`).

use std::time::Duration;

/// Parses a human duration: one or more `<number><unit>` groups with units `h`, `m`, `s`,
/// `ms`, `us` (e.g. `3m`, `1m30s`, `250ms`, `1.5s`). A bare number is seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let s = text.trim();
    if s.is_empty() {
        return Err("empty duration: write e.g. `30s`, `3m` or `1m30s`".into());
    }
    if let Ok(secs) = s.parse::<f64>() {
        return to_duration(secs, text);
    }
    let mut total = 0f64;
    let mut rest = s;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if num_len == 0 {
            return Err(format!(
                "`{text}` is not a duration: expected a number before `{rest}` (write e.g. `30s`, `3m`, `250ms`)"
            ));
        }
        let value: f64 = rest[..num_len].parse().map_err(|_| {
            format!(
                "`{text}` is not a duration: bad number `{}`",
                &rest[..num_len]
            )
        })?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let factor = match unit.trim() {
            "h" => 3600.0,
            "m" | "min" => 60.0,
            "s" => 1.0,
            "ms" => 1e-3,
            "us" | "µs" => 1e-6,
            other => {
                return Err(format!(
                    "`{text}` is not a duration: unknown unit `{other}` (use h, m, s, ms or us)"
                ));
            }
        };
        total += value * factor;
    }
    to_duration(total, text)
}

fn to_duration(secs: f64, text: &str) -> Result<Duration, String> {
    if !secs.is_finite() || secs < 0.0 {
        return Err(format!(
            "`{text}` is not a duration: it must be zero or more"
        ));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// Formats a duration compactly: `3m`, `1m30s`, `45s`, `1.5s`, `250ms`.
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms == 0 {
        return "0s".into();
    }
    if ms < 1000 {
        return format!("{ms}ms");
    }
    if !ms.is_multiple_of(1000) {
        return format!("{:.1}s", d.as_secs_f64());
    }
    let secs = d.as_secs();
    let (h, m, s) = (secs / 3600, (secs % 3600) / 60, secs % 60);
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if m > 0 {
        out.push_str(&format!("{m}m"));
    }
    if s > 0 || out.is_empty() {
        out.push_str(&format!("{s}s"));
    }
    out
}

/// A plain number with at most three significant decimals: `1,234`, `12.3`, `0.0123`.
pub fn num(x: f64) -> String {
    if !x.is_finite() {
        return "n/a".into();
    }
    let a = x.abs();
    let s = if a >= 1000.0 {
        let sign = if x < 0.0 { "-" } else { "" };
        return format!("{sign}{}", int(a.round() as u64));
    } else if a == 0.0 {
        format!("{x:.0}")
    } else if a >= 100.0 {
        format!("{x:.1}")
    } else if a >= 10.0 {
        format!("{x:.2}")
    } else if a >= 0.01 {
        format!("{x:.3}")
    } else if a >= 1e-9 {
        // Two significant digits, in plain decimals: 0.0040, 0.00064.
        let decimals = (-a.log10().floor()) as usize + 1;
        format!("{x:.decimals$}")
    } else {
        "0".into()
    };
    trim_zeros(s)
}

fn trim_zeros(s: String) -> String {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// A latency given in microseconds: `850 µs`, `1.24 ms`, `3.2 s`.
pub fn us(x: f64) -> String {
    if !x.is_finite() {
        return "n/a".into();
    }
    if x.abs() < 1000.0 {
        format!("{} µs", num(x))
    } else if x.abs() < 1_000_000.0 {
        format!("{} ms", num(x / 1000.0))
    } else {
        format!("{} s", num(x / 1_000_000.0))
    }
}

/// Bytes with a binary unit: `512 B`, `1.5 MiB`, `7.8 GiB`.
pub fn bytes(b: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut x = b as f64;
    let mut u = 0;
    while x >= 1024.0 && u < UNITS.len() - 1 {
        x /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{b} B")
    } else {
        format!("{} {}", trim_zeros(format!("{x:.1}")), UNITS[u])
    }
}

/// A share (0..1) as a percentage: `0.8173` -> `81.7 %`, `0.0000398` -> `0.004 %`.
pub fn share(x: f64) -> String {
    pct(x * 100.0)
}

/// A percentage already in 0..100, one decimal from 1 % up: `61.5 %`, `0.25 %`.
pub fn pct(x: f64) -> String {
    if x.abs() >= 1.0 && x.is_finite() {
        format!("{} %", trim_zeros(format!("{x:.1}")))
    } else {
        format!("{} %", num(x))
    }
}

/// Requests per second: `612.4 req/s`.
pub fn rps(x: f64) -> String {
    format!("{} req/s", num(x))
}

/// Seconds as `3 m 0 s`, `12.5 s`.
pub fn seconds(s: f64) -> String {
    if !s.is_finite() {
        return "n/a".into();
    }
    if s >= 60.0 {
        let whole = s.round() as u64;
        format!("{} m {} s", whole / 60, whole % 60)
    } else {
        format!("{} s", num(s))
    }
}

/// An integer with thousands separators: `1,234,567`.
pub fn int(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("3m").unwrap(), Duration::from_secs(180));
        assert_eq!(parse_duration("1m30s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse_duration("20").unwrap(), Duration::from_secs(20));
        assert_eq!(parse_duration("1h").unwrap(), Duration::from_secs(3600));
        assert!(parse_duration("3 parsecs").is_err());
        assert!(parse_duration("").is_err());
        assert!(parse_duration("m").is_err());
    }

    #[test]
    fn durations_format() {
        assert_eq!(format_duration(Duration::from_secs(180)), "3m");
        assert_eq!(format_duration(Duration::from_secs(90)), "1m30s");
        assert_eq!(format_duration(Duration::from_millis(250)), "250ms");
        assert_eq!(format_duration(Duration::from_millis(1500)), "1.5s");
    }

    #[test]
    fn formats() {
        assert_eq!(num(1234.6), "1,235");
        assert_eq!(num(-25_000.0), "-25,000");
        assert_eq!(pct(67.99), "68 %");
        assert_eq!(share(0.8173), "81.7 %");
        assert_eq!(num(12.30), "12.3");
        assert_eq!(num(0.5), "0.5");
        assert_eq!(num(0.00398), "0.004");
        assert_eq!(num(0.000641), "0.00064");
        assert_eq!(share(0.0000398), "0.004 %");
        assert_eq!(us(850.0), "850 µs");
        assert_eq!(us(1240.0), "1.24 ms");
        assert_eq!(us(3_200_000.0), "3.2 s");
        assert_eq!(bytes(1536 * 1024), "1.5 MiB");
        assert_eq!(bytes(10), "10 B");
        assert_eq!(share(0.0123), "1.2 %");
        assert_eq!(seconds(180.0), "3 m 0 s");
        assert_eq!(int(1_234_567), "1,234,567");
        assert_eq!(int(12), "12");
    }
}
