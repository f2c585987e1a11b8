//! Finding the default baseline run: the latest run of a scenario under `reports/out/`.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// The scenario whose latest run is the default baseline.
pub const DEFAULT_BASELINE_SCENARIO: &str = "phase1";

/// The `summary.json` of the latest run of `scenario` under `out_root` (run folders are named
/// `<scenario>-<timestamp>`), leaving out the run folder `exclude` (the run being reported).
/// "Latest" is the most recently written `summary.json`. `None` when there is none.
pub fn find_latest(out_root: &Path, scenario: &str, exclude: Option<&Path>) -> Option<PathBuf> {
    let prefix = format!("{scenario}-");
    let exclude = exclude.and_then(|p| p.canonicalize().ok());
    let mut best: Option<(SystemTime, PathBuf)> = None;
    for entry in std::fs::read_dir(out_root).ok()?.flatten() {
        let dir = entry.path();
        let name = entry.file_name();
        if !name.to_string_lossy().starts_with(&prefix) || !dir.is_dir() {
            continue;
        }
        if exclude.is_some() && dir.canonicalize().ok() == exclude {
            continue;
        }
        let summary = dir.join(super::SUMMARY_FILE);
        let Ok(modified) = summary.metadata().and_then(|m| m.modified()) else {
            continue;
        };
        if best.as_ref().is_none_or(|(t, _)| modified > *t) {
            best = Some((modified, summary));
        }
    }
    best.map(|(_, p)| p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latest_run_is_found_and_the_current_one_left_out() {
        let root = std::env::temp_dir().join(format!("ragbench-baseline-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let t0 = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
        for (dir, age) in [("phase1-a", 0), ("phase1-b", 60), ("phase2-c", 120)] {
            std::fs::create_dir_all(root.join(dir)).unwrap();
            let file = root.join(dir).join("summary.json");
            std::fs::write(&file, "{}").unwrap();
            let f = std::fs::File::options().write(true).open(&file).unwrap();
            f.set_modified(t0 + std::time::Duration::from_secs(age))
                .unwrap();
        }
        std::fs::create_dir_all(root.join("phase1-empty")).unwrap();
        let found = find_latest(&root, "phase1", None).unwrap();
        assert!(found.ends_with("phase1-b/summary.json"), "{found:?}");
        let found = find_latest(&root, "phase1", Some(&root.join("phase1-b"))).unwrap();
        assert!(found.ends_with("phase1-a/summary.json"), "{found:?}");
        assert!(find_latest(&root, "phase3", None).is_none());
        assert!(find_latest(&root.join("missing"), "phase1", None).is_none());
        let _ = std::fs::remove_dir_all(&root);
    }
}
