//! Number formatting shared by the tables and the charts.

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
