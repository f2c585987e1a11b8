//! What a run leaves behind, all views of one [`Summary`](crate::summary::Summary): the
//! console table ([`console`]), `junit.xml` ([`junit`]) and `report.html` ([`report`]); and
//! what is made from finished runs: [`merge`] (runs made at once from several machines) and
//! [`compare`] (runs side by side).

pub mod compare;
pub mod console;
pub mod junit;
pub mod merge;
pub mod report;

use std::path::{Path, PathBuf};

/// `root/<name>-<timestamp><extension>`, with `-2`, `-3`, ... added before the extension
/// until the path is not taken.
pub fn stamped_path(root: &Path, name: &str, extension: &str) -> PathBuf {
    let stamp = chrono::Utc::now().format("%Y%m%d-%H%M%S");
    let base = root.join(format!("{name}-{stamp}"));
    let mut path = PathBuf::from(format!("{}{extension}", base.display()));
    let mut n = 2;
    while path.exists() {
        path = PathBuf::from(format!("{}-{n}{extension}", base.display()));
        n += 1;
    }
    path
}
