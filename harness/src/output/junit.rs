//! `junit.xml`: one test case per threshold (plus one that the run made requests at all), so
//! CI systems show which success metric failed, with observed value against limit.

use std::fmt::Write as _;

use crate::summary::Summary;

/// Escapes text for XML attributes and content.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if (c as u32) < 0x20 && !matches!(c, '\n' | '\t' | '\r') => {}
            c => out.push(c),
        }
    }
    out
}

/// Renders the JUnit XML for a run.
pub fn render(s: &Summary) -> String {
    let suite = format!("ragbench.{}", s.scenario.name);
    let requests_ok = s.overall.requests > 0;
    let tests = s.thresholds.len() + 1;
    let failures = s.thresholds.iter().filter(|t| !t.passed).count() + usize::from(!requests_ok);
    let mut x = String::new();
    let _ = writeln!(x, r#"<?xml version="1.0" encoding="UTF-8"?>"#);
    let _ = writeln!(
        x,
        r#"<testsuites name="ragbench" tests="{tests}" failures="{failures}" errors="0" time="{:.3}">"#,
        s.measured_s
    );
    let _ = writeln!(
        x,
        r#"  <testsuite name="{}" tests="{tests}" failures="{failures}" errors="0" skipped="0" time="{:.3}" timestamp="{}">"#,
        escape(&suite),
        s.measured_s,
        s.started_at.format("%Y-%m-%dT%H:%M:%S")
    );
    let _ = writeln!(x, "    <properties>");
    for (k, v) in [
        ("stack", s.stack.kind.name().to_string()),
        ("base_url", s.stack.base_url.clone()),
        ("mode", s.scenario.mode.name().to_string()),
        ("git_revision", s.git_revision.clone().unwrap_or_default()),
        ("cpu_model", s.machine.cpu_model.clone()),
    ] {
        let _ = writeln!(
            x,
            r#"      <property name="{}" value="{}"/>"#,
            escape(k),
            escape(&v)
        );
    }
    let _ = writeln!(x, "    </properties>");
    let _ = write!(
        x,
        r#"    <testcase classname="{}" name="requests were made" time="{:.3}""#,
        escape(&suite),
        s.measured_s
    );
    if requests_ok {
        let _ = writeln!(x, "/>");
    } else {
        let _ = writeln!(x, ">");
        let _ = writeln!(
            x,
            r#"      <failure message="no requests completed" type="no_requests">the load made 0 requests: the generator failed or every request panicked</failure>"#
        );
        let _ = writeln!(x, "    </testcase>");
    }
    for t in &s.thresholds {
        let _ = write!(
            x,
            r#"    <testcase classname="{}" name="{}" time="0""#,
            escape(&suite),
            escape(&t.rule)
        );
        if t.passed {
            let _ = writeln!(x, ">");
            let _ = writeln!(
                x,
                "      <system-out>observed {} (limit {} {})</system-out>",
                escape(&t.observed_display),
                escape(&t.op),
                escape(&t.limit_display)
            );
            let _ = writeln!(x, "    </testcase>");
        } else {
            let message = format!(
                "observed {} vs limit {} {}",
                t.observed_display, t.op, t.limit_display
            );
            let _ = writeln!(x, ">");
            let _ = writeln!(
                x,
                r#"      <failure message="{}" type="threshold">{}</failure>"#,
                escape(&message),
                escape(t.message.as_deref().unwrap_or(&message))
            );
            let _ = writeln!(x, "    </testcase>");
        }
    }
    let _ = writeln!(x, "  </testsuite>");
    let _ = writeln!(x, "</testsuites>");
    x
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes() {
        assert_eq!(
            escape(r#"p95 < 2ms & "x""#),
            "p95 &lt; 2ms &amp; &quot;x&quot;"
        );
    }
}
