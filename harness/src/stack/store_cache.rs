//! Ready vector stores kept between runs, so a repeat run does not embed the corpus again.
//!
//! A store is reusable when everything that decided its vectors is the same: the corpus
//! files, the source name, the server's embedding and chunking settings, its store settings,
//! and the server's passage format ([`ragbench_server::ingest::INDEX_FORMAT`]). Those go into
//! the key. An entry is the data folder copied after a run's ingestion, with a manifest
//! holding the vector count and a checksum of every file; before use the checksum is
//! verified, and after the server starts the run's ingest still runs: passage ids are content
//! hashes, so a complete store embeds nothing (seconds), and anything missing is embedded
//! then. The vector count it reports must equal the manifest's.

use std::io::Read;
use std::path::{Path, PathBuf};

use ragbench_server::config::Config;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Why a cached store could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StoreCacheError {
    /// A file could not be read, copied or written.
    #[error("store cache: {path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// An entry's files no longer match its manifest (changed or damaged on disk).
    #[error(
        "cached store {dir} does not match its manifest ({why}); it was removed and the corpus \
         is ingested again"
    )]
    Corrupt {
        /// The entry.
        dir: PathBuf,
        /// What differs.
        why: String,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StoreCacheError + '_ {
    move |source| StoreCacheError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// What a store's vectors depend on, hashed into its cache key.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoreKey {
    /// sha256 of everything below, hex.
    pub digest: String,
    /// The inputs, written into the manifest so a reader sees what an entry holds.
    pub inputs: serde_json::Value,
}

impl StoreKey {
    /// The key for ingesting `corpus` as `source` into a server configured as `cfg`.
    pub fn new(cfg: &Config, corpus: &Path, source: &str) -> Result<Self, StoreCacheError> {
        let mut files = Vec::new();
        for entry in walkdir::WalkDir::new(corpus).sort_by_file_name() {
            let entry = entry.map_err(|e| StoreCacheError::Io {
                path: corpus.to_path_buf(),
                source: e.into(),
            })?;
            if entry.file_type().is_file() {
                let rel = entry.path().strip_prefix(corpus).unwrap_or(entry.path());
                files.push(format!("{} {}", rel.display(), sha256_file(entry.path())?));
            }
        }
        let mut store = serde_json::to_value(&cfg.store).unwrap_or_default();
        if let Some(settings) = store.as_object_mut() {
            // A credential says nothing about the vectors, and manifests are plain files.
            settings.retain(|name, _| !name.contains("key") && !name.contains("token"));
        }
        let inputs = serde_json::json!({
            "index_format": ragbench_server::ingest::INDEX_FORMAT,
            "source": source,
            "corpus_files": files.len(),
            "corpus_sha256": hex::encode(Sha256::digest(files.join("\n"))),
            "embedder": cfg.embedder,
            "embedding_model_sha256":
                ragbench_server::assets::default_embedding_model_sha256(&cfg.embedder),
            "store": store,
            "chunking": {
                "chunk_tokens": cfg.ingest.chunk_tokens,
                "overlap_tokens": cfg.ingest.overlap_tokens,
                "embed_headings": cfg.ingest.embed_headings,
            },
        });
        let digest = hex::encode(Sha256::digest(inputs.to_string()));
        Ok(Self { digest, inputs })
    }
}

/// An entry's manifest (`manifest.json` beside its `data/`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    /// The key's digest.
    pub key: String,
    /// What the key was made of.
    pub inputs: serde_json::Value,
    /// Vectors in the collection when it was saved.
    pub vectors: u64,
    /// sha256 over every file's relative path and content, in path order.
    pub checksum: String,
    /// When it was saved (RFC 3339).
    pub saved_at: String,
}

/// The cache folder (`$RAGBENCH_CACHE/stores` by default), one entry per key.
#[derive(Debug, Clone)]
pub struct StoreCache {
    root: PathBuf,
}

impl StoreCache {
    /// Entries under `root`.
    pub fn new(root: PathBuf) -> Self {
        Self { root }
    }

    /// `$RAGBENCH_STORE_CACHE`, else `stores/` in the asset cache (`$RAGBENCH_CACHE`,
    /// default `~/.cache/ragbench`).
    pub fn default_location() -> Self {
        match std::env::var_os("RAGBENCH_STORE_CACHE") {
            Some(dir) => Self::new(PathBuf::from(dir)),
            None => Self::new(
                ragbench_server::assets::AssetCache::from_env()
                    .root()
                    .join("stores"),
            ),
        }
    }

    fn entry(&self, key: &StoreKey) -> PathBuf {
        self.root.join(&key.digest)
    }

    /// Copies the entry for `key` into `data_dir` (which must not exist yet) after checking
    /// its files against the manifest. `None` when there is no entry; an entry that fails the
    /// check is removed and reported as [`StoreCacheError::Corrupt`].
    pub fn restore(
        &self,
        key: &StoreKey,
        data_dir: &Path,
    ) -> Result<Option<Manifest>, StoreCacheError> {
        let entry = self.entry(key);
        let manifest_path = entry.join("manifest.json");
        let Ok(text) = std::fs::read_to_string(&manifest_path) else {
            return Ok(None);
        };
        let corrupt = |why: String| {
            let _ = std::fs::remove_dir_all(&entry);
            StoreCacheError::Corrupt {
                dir: entry.clone(),
                why,
            }
        };
        let manifest: Manifest =
            serde_json::from_str(&text).map_err(|e| corrupt(format!("manifest: {e}")))?;
        if manifest.key != key.digest {
            return Err(corrupt("the manifest names another key".into()));
        }
        let stored = entry.join("data");
        let checksum = checksum_dir(&stored)?;
        if checksum != manifest.checksum {
            return Err(corrupt(format!(
                "checksum {checksum} != manifest {}",
                manifest.checksum
            )));
        }
        copy_dir(&stored, data_dir)?;
        Ok(Some(manifest))
    }

    /// Saves `data_dir` (a stopped server's store holding `vectors` vectors) as the entry for
    /// `key`, replacing any old one. Written beside and renamed, so a reader never sees half.
    pub fn save(
        &self,
        key: &StoreKey,
        data_dir: &Path,
        vectors: u64,
    ) -> Result<Manifest, StoreCacheError> {
        let entry = self.entry(key);
        let staging = self
            .root
            .join(format!(".{}-{}", key.digest, std::process::id()));
        let _ = std::fs::remove_dir_all(&staging);
        copy_dir(data_dir, &staging.join("data"))?;
        let manifest = Manifest {
            key: key.digest.clone(),
            inputs: key.inputs.clone(),
            vectors,
            checksum: checksum_dir(&staging.join("data"))?,
            saved_at: chrono::Utc::now().to_rfc3339(),
        };
        let manifest_path = staging.join("manifest.json");
        let text = serde_json::to_string_pretty(&manifest).expect("a manifest serializes");
        std::fs::write(&manifest_path, text).map_err(io(&manifest_path))?;
        let _ = std::fs::remove_dir_all(&entry);
        std::fs::rename(&staging, &entry).map_err(io(&entry))?;
        Ok(manifest)
    }
}

fn sha256_file(path: &Path) -> Result<String, StoreCacheError> {
    let mut file = std::fs::File::open(path).map_err(io(path))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buf).map_err(io(path))?;
        if n == 0 {
            return Ok(hex::encode(hasher.finalize()));
        }
        hasher.update(&buf[..n]);
    }
}

/// sha256 over (relative path, file sha256) of every file under `dir`, in path order.
fn checksum_dir(dir: &Path) -> Result<String, StoreCacheError> {
    let mut hasher = Sha256::new();
    for entry in walkdir::WalkDir::new(dir).sort_by_file_name() {
        let entry = entry.map_err(|e| StoreCacheError::Io {
            path: dir.to_path_buf(),
            source: e.into(),
        })?;
        if entry.file_type().is_file() {
            let rel = entry.path().strip_prefix(dir).unwrap_or(entry.path());
            hasher.update(rel.to_string_lossy().as_bytes());
            hasher.update([0]);
            hasher.update(sha256_file(entry.path())?.as_bytes());
            hasher.update([b'\n']);
        }
    }
    Ok(hex::encode(hasher.finalize()))
}

fn copy_dir(from: &Path, to: &Path) -> Result<(), StoreCacheError> {
    for entry in walkdir::WalkDir::new(from) {
        let entry = entry.map_err(|e| StoreCacheError::Io {
            path: from.to_path_buf(),
            source: e.into(),
        })?;
        let rel = entry.path().strip_prefix(from).unwrap_or(entry.path());
        let dest = to.join(rel);
        if entry.file_type().is_dir() {
            std::fs::create_dir_all(&dest).map_err(io(&dest))?;
        } else if entry.file_type().is_file() {
            std::fs::copy(entry.path(), &dest).map_err(io(&dest))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folder(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            let path = dir.path().join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        dir
    }

    #[test]
    fn the_key_follows_the_corpus_and_the_settings() {
        let corpus = folder(&[("a.md", "# A\ntext"), ("guides/b.mdx", "# B")]);
        let cfg = Config::default();
        let key = StoreKey::new(&cfg, corpus.path(), "docs").unwrap();
        assert_eq!(key, StoreKey::new(&cfg, corpus.path(), "docs").unwrap());
        assert_ne!(key, StoreKey::new(&cfg, corpus.path(), "other").unwrap());
        let mut chunked = Config::default();
        chunked.ingest.chunk_tokens += 1;
        assert_ne!(key, StoreKey::new(&chunked, corpus.path(), "docs").unwrap());
        // A hybrid store holds sparse vectors a dense-only server refuses, and the reverse.
        let mut hybrid = Config::default();
        hybrid.store.hybrid = !hybrid.store.hybrid;
        assert_ne!(key, StoreKey::new(&hybrid, corpus.path(), "docs").unwrap());
        // The published graph's vectors are not the int8 graph's.
        let mut published = Config::default();
        published.embedder.quantized = !published.embedder.quantized;
        let published_key = StoreKey::new(&published, corpus.path(), "docs").unwrap();
        assert_ne!(
            key.inputs["embedding_model_sha256"],
            published_key.inputs["embedding_model_sha256"]
        );
        let mut embedded = Config::default();
        embedded.embedder.max_length = 256;
        assert_ne!(
            key,
            StoreKey::new(&embedded, corpus.path(), "docs").unwrap()
        );
        std::fs::write(corpus.path().join("a.md"), "# A\nchanged").unwrap();
        assert_ne!(key, StoreKey::new(&cfg, corpus.path(), "docs").unwrap());
    }

    #[test]
    fn a_saved_store_is_restored_and_a_damaged_one_is_refused_and_removed() {
        let corpus = folder(&[("a.md", "# A")]);
        let key = StoreKey::new(&Config::default(), corpus.path(), "docs").unwrap();
        let data = folder(&[("qdrant/segment.bin", "vectors"), ("qdrant/wal/1", "log")]);
        let cache_root = tempfile::tempdir().unwrap();
        let cache = StoreCache::new(cache_root.path().to_path_buf());
        let run = tempfile::tempdir().unwrap();

        assert!(
            cache
                .restore(&key, &run.path().join("none"))
                .unwrap()
                .is_none()
        );
        let saved = cache.save(&key, data.path(), 42).unwrap();
        let restored = cache
            .restore(&key, &run.path().join("data"))
            .unwrap()
            .unwrap();
        assert_eq!(restored.vectors, 42);
        assert_eq!(restored.checksum, saved.checksum);
        assert_eq!(
            std::fs::read_to_string(run.path().join("data/qdrant/segment.bin")).unwrap(),
            "vectors"
        );

        let stored = cache_root
            .path()
            .join(&key.digest)
            .join("data/qdrant/wal/1");
        std::fs::write(stored, "damaged").unwrap();
        let err = cache.restore(&key, &run.path().join("again")).unwrap_err();
        assert!(matches!(err, StoreCacheError::Corrupt { .. }), "{err}");
        assert!(!cache_root.path().join(&key.digest).exists());
        assert!(
            cache
                .restore(&key, &run.path().join("again"))
                .unwrap()
                .is_none()
        );
    }
}
