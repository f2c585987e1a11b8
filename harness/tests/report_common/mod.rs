//! What the report tests share: the fixtures, rendering them, and checks on the page.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use harness::output::report;
use harness::summary;

/// The fixtures folder.
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// A recorded summary, parsed with the harness's own types.
pub fn summary(name: &str) -> summary::Summary {
    let path = fixtures().join(name);
    summary::Summary::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A fresh, empty folder under the system temp dir.
pub fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "ragbench-{tag}-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Render the phase3 (GPU) fixture compared with the phase2 (CPU) fixture, as the run path
/// does, into `dir`. Returns the report's path.
pub fn render_gpu_vs_cpu(dir: &Path) -> PathBuf {
    let mut current = summary("report-phase3-gpu.json");
    let baseline = summary("report-phase2-cpu.json");
    harness::verdict::gate(&mut current, &baseline, 10.0);
    let options = report::ReportOptions {
        generated_at: Some("2026-05-20 11:06:00 UTC".into()),
    };
    report::write_report_with(dir, &current, Some(&baseline), &options).unwrap()
}

/// Every place the page could load something from: attributes and CSS that fetch a resource.
/// Returns the offending snippets (empty when the page is self-contained).
pub fn external_references(html: &str) -> Vec<String> {
    let lower = html.to_ascii_lowercase();
    let mut found = Vec::new();
    for tag in [
        "<script",
        "<iframe",
        "<img",
        "<object",
        "<embed",
        "<video",
        "<audio",
        "@import",
        "@font-face",
    ] {
        if let Some(i) = lower.find(tag) {
            found.push(snippet(html, i));
        }
    }
    for attr in [
        " src=",
        " href=",
        "xlink:href=",
        "url(",
        " srcset=",
        " action=",
        " poster=",
    ] {
        let mut from = 0;
        while let Some(i) = lower[from..].find(attr) {
            let at = from + i;
            let rest = lower[at + attr.len()..].trim_start_matches(['"', '\'', ' ']);
            // In-page anchors and data: URLs load nothing.
            if !(rest.starts_with('#') || rest.starts_with("data:")) {
                found.push(snippet(html, at));
            }
            from = at + attr.len();
        }
    }
    found
}

fn snippet(s: &str, at: usize) -> String {
    let start = s[..at].char_indices().rev().nth(20).map_or(0, |(i, _)| i);
    let end = s[at..]
        .char_indices()
        .nth(60)
        .map_or(s.len(), |(i, _)| at + i);
    s[start..end].to_string()
}
