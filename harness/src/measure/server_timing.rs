//! The server's `Server-Timing` header, read from every response: the stage breakdown
//! (durations in ms on the wire, microseconds here) and whether the cache answered.

/// Whether the server answered from its cache, per `Server-Timing: cache;desc=...`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheMark {
    /// `desc="hit"`.
    Hit,
    /// `desc="miss"`.
    Miss,
}

/// A parsed `Server-Timing` header.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ServerTiming {
    /// `(stage, duration in microseconds)`.
    pub stages: Vec<(String, u64)>,
    /// The cache entry's description.
    pub cache: Option<CacheMark>,
}

/// Parses `cache;desc="hit";dur=0.012, embed;dur=2.301, total;dur=2.900` (durations in ms).
pub fn parse_server_timing(header: &str) -> ServerTiming {
    let mut out = ServerTiming::default();
    for metric in header.split(',') {
        let mut parts = metric.split(';').map(str::trim);
        let Some(name) = parts.next().filter(|n| !n.is_empty()) else {
            continue;
        };
        let mut dur = None;
        let mut desc = None;
        for param in parts {
            let Some((k, v)) = param.split_once('=') else {
                continue;
            };
            let v = v.trim().trim_matches('"');
            match k.trim() {
                "dur" => dur = v.parse::<f64>().ok(),
                "desc" => desc = Some(v.to_string()),
                _ => {}
            }
        }
        if name == "cache" {
            out.cache = match desc.as_deref() {
                Some("hit") => Some(CacheMark::Hit),
                Some("miss") => Some(CacheMark::Miss),
                _ => out.cache,
            };
        }
        if let Some(ms) = dur
            && ms.is_finite()
            && ms >= 0.0
        {
            out.stages
                .push((name.to_string(), (ms * 1000.0).round() as u64));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_server_timing() {
        let t = parse_server_timing(
            r#"cache;desc="hit";dur=0.012, embed;dur=2.301, search;dur=0.410, total;dur=2.900"#,
        );
        assert_eq!(t.cache, Some(CacheMark::Hit));
        assert_eq!(
            t.stages,
            vec![
                ("cache".to_string(), 12),
                ("embed".to_string(), 2301),
                ("search".to_string(), 410),
                ("total".to_string(), 2900)
            ]
        );
        assert_eq!(parse_server_timing("").stages.len(), 0);
        assert_eq!(
            parse_server_timing(r#"cache;desc="miss""#).cache,
            Some(CacheMark::Miss)
        );
    }
}
