//! What `POST /v1/ingest` may read: folders inside the configured roots, within size limits.
//! The `ingest` subcommand runs with the operator's own rights and skips all of this.

use std::path::{Path, PathBuf};

use super::IngestError;
use crate::config::IngestConfig;

/// Bounds on one ingestion; `None` is unbounded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IngestLimits {
    /// Most markdown files.
    pub max_files: Option<usize>,
    /// Largest markdown file in bytes.
    pub max_file_bytes: Option<u64>,
}

/// The rules for ingesting over HTTP.
#[derive(Debug, Clone)]
pub struct IngestPolicy {
    allowed_roots: Vec<PathBuf>,
    /// Limits applied to every HTTP ingestion.
    pub limits: IngestLimits,
}

impl IngestPolicy {
    /// The policy of `[ingest]`.
    pub fn from_config(cfg: &IngestConfig) -> Self {
        for root in &cfg.allowed_roots {
            if !root.is_dir() {
                tracing::warn!(
                    "[ingest] allowed_roots: {} is not a folder (yet); nothing under it can be \
                     ingested until it is",
                    root.display()
                );
            }
        }
        Self {
            allowed_roots: cfg.allowed_roots.clone(),
            limits: IngestLimits {
                max_files: Some(cfg.max_files),
                max_file_bytes: Some(cfg.max_file_bytes),
            },
        }
    }

    /// The folder to ingest for a requested path: its canonical form (no `..`, no symbolic
    /// links), which must lie inside an allowed root. Missing paths and paths outside get the
    /// same answer, so the endpoint cannot be used to probe the machine's file system.
    pub fn resolve(&self, requested: &Path) -> Result<PathBuf, IngestError> {
        if self.allowed_roots.is_empty() {
            return Err(IngestError::NoAllowedRoots);
        }
        let dir = std::fs::canonicalize(requested).map_err(|_| IngestError::NotAllowed)?;
        // Roots are resolved per request: one may be created (or re-linked) after start.
        let inside = self
            .allowed_roots
            .iter()
            .filter_map(|root| std::fs::canonicalize(root).ok())
            .any(|root| dir.starts_with(&root));
        if !inside {
            return Err(IngestError::NotAllowed);
        }
        if !dir.is_dir() {
            return Err(IngestError::NotAFolder(requested.to_path_buf()));
        }
        Ok(dir)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(roots: Vec<PathBuf>) -> IngestPolicy {
        IngestPolicy::from_config(&IngestConfig {
            allowed_roots: roots,
            ..IngestConfig::default()
        })
    }

    #[test]
    fn only_folders_inside_a_root_resolve() {
        let base = std::env::temp_dir().join(format!("ragbench-policy-{}", std::process::id()));
        let root = base.join("root");
        let outside = base.join("outside");
        std::fs::create_dir_all(root.join("docs")).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(root.join("docs/a.md"), "# A").unwrap();

        assert!(matches!(
            policy(vec![]).resolve(&root),
            Err(IngestError::NoAllowedRoots)
        ));
        let p = policy(vec![root.clone()]);
        let canonical_root = std::fs::canonicalize(&root).unwrap();
        assert_eq!(p.resolve(&root).unwrap(), canonical_root);
        assert_eq!(
            p.resolve(&root.join("docs/../docs")).unwrap(),
            canonical_root.join("docs")
        );
        for bad in [
            outside.clone(),
            root.join("../outside"),
            root.join("missing"),
            PathBuf::from("/"),
        ] {
            assert!(
                matches!(p.resolve(&bad), Err(IngestError::NotAllowed)),
                "{}",
                bad.display()
            );
        }
        assert!(matches!(
            p.resolve(&root.join("docs/a.md")),
            Err(IngestError::NotAFolder(_))
        ));
        #[cfg(unix)]
        {
            let link = root.join("escape");
            let _ = std::fs::remove_file(&link);
            std::os::unix::fs::symlink(&outside, &link).unwrap();
            assert!(matches!(p.resolve(&link), Err(IngestError::NotAllowed)));
        }
        let _ = std::fs::remove_dir_all(&base);
    }
}
