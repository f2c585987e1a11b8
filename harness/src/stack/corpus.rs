//! The corpus to ingest: the bun-types documentation from the asset cache (fetched with npm
//! and verified on first use), or a folder the scenario names; optionally only its first N
//! files, copied into the run folder so the server ingests exactly that subset.

use std::path::{Path, PathBuf};

use walkdir::WalkDir;

/// The default corpus, as summaries name it.
pub const DEFAULT_SOURCE: &str = "bun-types@1.3.14 docs";

/// Why the corpus could not be prepared.
#[derive(Debug, thiserror::Error)]
pub enum CorpusError {
    /// The asset cache could not provide the corpus.
    #[error("cannot get the documentation corpus: {0}")]
    Asset(#[from] ragbench_server::assets::AssetError),
    /// The folder does not exist or is not readable.
    #[error("corpus folder {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The folder has no markdown.
    #[error(
        "corpus folder {0} has no .md or .mdx files: point [corpus] path at a folder of markdown docs"
    )]
    Empty(PathBuf),
}

/// The markdown files under `dir`, sorted by path.
pub fn markdown_files(dir: &Path) -> Result<Vec<PathBuf>, CorpusError> {
    let meta = std::fs::metadata(dir).map_err(|source| CorpusError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    if !meta.is_dir() {
        return Err(CorpusError::Io {
            path: dir.to_path_buf(),
            source: std::io::Error::new(std::io::ErrorKind::NotADirectory, "not a folder"),
        });
    }
    let mut files: Vec<PathBuf> = WalkDir::new(dir)
        .sort_by_file_name()
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(|e| e.into_path())
        .filter(|p| {
            p.extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| e.eq_ignore_ascii_case("md") || e.eq_ignore_ascii_case("mdx"))
        })
        .collect();
    files.sort();
    Ok(files)
}

/// Copies the markdown files of `src` whose relative path starts with `prefix` (all when
/// `None`), the first `limit` of them sorted by path (all when `None`), into `dest`, keeping
/// their relative paths. Returns how many were copied.
pub fn copy_subset(
    src: &Path,
    dest: &Path,
    prefix: Option<&str>,
    limit: Option<usize>,
) -> Result<usize, CorpusError> {
    let files: Vec<PathBuf> = markdown_files(src)?
        .into_iter()
        .filter(|f| {
            let rel = f.strip_prefix(src).unwrap_or(f);
            prefix.is_none_or(|p| rel.to_string_lossy().starts_with(p))
        })
        .collect();
    if files.is_empty() {
        return Err(CorpusError::Empty(src.join(prefix.unwrap_or(""))));
    }
    let mut copied = 0;
    for file in files.iter().take(limit.unwrap_or(usize::MAX)) {
        let rel = file.strip_prefix(src).unwrap_or(file);
        let target = dest.join(rel);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(|source| CorpusError::Io {
                path: parent.to_path_buf(),
                source,
            })?;
        }
        std::fs::copy(file, &target).map_err(|source| CorpusError::Io {
            path: target.clone(),
            source,
        })?;
        copied += 1;
    }
    Ok(copied)
}

/// Finds the corpus: `path` when given, else the bun-types docs from the asset cache
/// (`$RAGBENCH_CACHE`). Returns the folder and a description of its source.
pub fn locate(path: Option<&Path>) -> Result<(PathBuf, String), CorpusError> {
    match path {
        Some(p) => {
            let files = markdown_files(p)?;
            if files.is_empty() {
                return Err(CorpusError::Empty(p.to_path_buf()));
            }
            Ok((p.to_path_buf(), p.display().to_string()))
        }
        None => {
            let dir = ragbench_server::assets::AssetCache::from_env().corpus()?;
            Ok((dir, DEFAULT_SOURCE.to_string()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subset_keeps_relative_paths_in_order() {
        let src = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(src.path().join("b")).unwrap();
        std::fs::write(src.path().join("a.md"), "# a").unwrap();
        std::fs::write(src.path().join("b/c.mdx"), "# c").unwrap();
        std::fs::write(src.path().join("b/d.txt"), "no").unwrap();
        std::fs::write(src.path().join("e.md"), "# e").unwrap();
        let dest = tempfile::tempdir().unwrap();
        assert_eq!(
            copy_subset(src.path(), dest.path(), None, Some(2)).unwrap(),
            2
        );
        assert!(dest.path().join("a.md").exists());
        assert!(dest.path().join("b/c.mdx").exists());
        assert!(!dest.path().join("e.md").exists());
        let only_b = tempfile::tempdir().unwrap();
        assert_eq!(
            copy_subset(src.path(), only_b.path(), Some("b/"), None).unwrap(),
            1
        );
        assert!(only_b.path().join("b/c.mdx").exists());
    }
}
