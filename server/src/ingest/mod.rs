//! Ingestion: a folder of .md/.mdx files to passages in the vector store.
//!
//! walk -> read (UTF-8 or skip) -> parse markdown -> chunk by tokens -> embed in batches ->
//! upsert -> delete stale passages of changed files -> build indexes. Every ingestion belongs
//! to a named source (one documentation set: the folder's name unless given); point ids come
//! from (source, path, chunk index, content hash), so ingesting the same folder twice adds
//! nothing, and stale-passage deletion never touches another source.
//! Symbolic links are never followed (they could lead out of the folder); they are reported
//! as skipped.

pub mod policy;
pub mod progress;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

// The cleaner and the chunker live in their own crate so they can be fuzzed alone.
pub use self::policy::{IngestLimits, IngestPolicy};
pub use self::progress::{IngestProgress, ProgressView, Stage};
use crate::embed::{EmbedError, Embedder};
use crate::store::{Passage, StoreError, VectorStore};
pub use ragbench_text::{Chunker, chunk, markdown};

/// The passage format: bump it whenever passage text, ids, embedding inputs or the default
/// collection layout change, so that stores built by an older server (cached by the harness)
/// are not reused. 2: the default collection carries BM25 sparse vectors (`[store] hybrid`).
pub const INDEX_FORMAT: u32 = 2;

/// Namespace of passage ids (uuid v5), fixed forever so ids are stable across versions.
const ID_NAMESPACE: uuid::Uuid = uuid::Uuid::from_u128(0x6a1f_3c2e_9b7d_4e58_a0c4_51d2_8e3f_7b19);

/// Why an ingestion stopped. Bad files never stop it: they are skipped and reported.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The folder is missing or not a folder.
    #[error("{0} is not a readable folder: give the path of a folder of .md/.mdx files")]
    NotAFolder(PathBuf),
    /// Ingesting over HTTP is off: no allowed roots are configured.
    #[error(
        "ingesting over HTTP is off on this server: no folder may be read until [ingest] \
         allowed_roots (env RAGBENCH_INGEST__ALLOWED_ROOTS) lists the folders it may read; \
         or run the `ingest` subcommand on the server's machine"
    )]
    NoAllowedRoots,
    /// The folder is missing or outside every allowed root.
    #[error(
        "`path` must be an existing folder inside one of the server's [ingest] allowed_roots \
         (`..` and symbolic links are resolved first)"
    )]
    NotAllowed,
    /// More markdown files than the limit.
    #[error(
        "the folder holds more than {limit} markdown files ([ingest] max_files): ingest it in \
         parts, or raise the limit"
    )]
    TooManyFiles {
        /// The limit.
        limit: usize,
    },
    /// A markdown file larger than the limit.
    #[error(
        "{path} is {bytes} bytes, more than [ingest] max_file_bytes = {limit}: split it, or \
         raise the limit"
    )]
    FileTooLarge {
        /// The file, relative to the folder.
        path: String,
        /// Its size.
        bytes: u64,
        /// The limit.
        limit: u64,
    },
    /// The folder could not be listed.
    #[error("cannot list {path}: {message}")]
    Walk {
        /// Where.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// A source name that is not a short slug.
    #[error(
        "source name {0:?} is not valid: give 1 to {MAX_SOURCE_LEN} characters of letters, \
         digits, `-`, `_` and `.` (e.g. \"bun-docs\")"
    )]
    BadSource(String),
    /// No source given and the folder's name gives none.
    #[error(
        "{0} has no folder name to use as the source name: give one (`source` in the request, \
         or --source)"
    )]
    NoSourceName(PathBuf),
    /// Embedding failed.
    #[error(transparent)]
    Embed(#[from] EmbedError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A file that was not ingested, and why.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Skipped {
    /// The file, relative to the ingested folder.
    pub path: String,
    /// Why it was skipped.
    pub reason: String,
}

/// What an ingestion did.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct IngestSummary {
    /// The source (documentation set) the folder was ingested as.
    #[serde(default)]
    pub source: String,
    /// Markdown files ingested.
    pub files: usize,
    /// Passages produced.
    pub chunks: usize,
    /// Passages embedded and written (new or changed; unchanged ones are already stored).
    pub upserted: usize,
    /// Stale passages of changed files deleted.
    pub deleted: usize,
    /// Files skipped, with reasons.
    pub skipped: Vec<Skipped>,
    /// Wall time.
    pub seconds: f64,
    /// Passages per second, embedding included.
    pub chunks_per_sec: f64,
    /// Of `seconds`, spent waiting for the embedder.
    #[serde(default)]
    pub embed_seconds: f64,
    /// Of `seconds`, spent writing passages (upserts and stale deletions) and building the
    /// indexes.
    #[serde(default)]
    pub store_seconds: f64,
    /// Vectors in the collection afterwards.
    pub vectors: u64,
}

/// Ingests folders into a store with an embedder.
#[derive(Clone)]
pub struct Ingestor {
    embedder: Arc<dyn Embedder>,
    store: Arc<dyn VectorStore>,
    chunker: Arc<Chunker>,
    batch_size: usize,
    embed_headings: bool,
}

struct FilePassages {
    path: String,
    passages: Vec<Passage>,
}

impl Ingestor {
    /// An ingestor over the given stages.
    pub fn new(
        embedder: Arc<dyn Embedder>,
        store: Arc<dyn VectorStore>,
        chunker: Arc<Chunker>,
        batch_size: usize,
    ) -> Self {
        Self {
            embedder,
            store,
            chunker,
            batch_size: batch_size.max(1),
            embed_headings: true,
        }
    }

    /// Whether the dense model embeds the title and heading trail before the passage
    /// (`[ingest] embed_headings`, default true). Passage ids differ between the two, so
    /// switching re-embeds every passage on the next ingest.
    pub fn embed_headings(mut self, on: bool) -> Self {
        self.embed_headings = on;
        self
    }

    /// Ingests every .md/.mdx file under `dir` as source `source` (default: the folder's
    /// name, see [`default_source`]) within `limits` (checked before anything is written);
    /// `progress` draws a bar on a terminal.
    pub async fn ingest_dir(
        &self,
        dir: &Path,
        source: Option<&str>,
        progress: bool,
        limits: IngestLimits,
    ) -> Result<IngestSummary, IngestError> {
        let counters = Arc::new(IngestProgress::default());
        self.ingest_dir_observed(dir, source, limits, progress, &counters)
            .await
    }

    /// [`Ingestor::ingest_dir`], advancing `counters` as it goes (for a job's progress).
    pub async fn ingest_dir_observed(
        &self,
        dir: &Path,
        source: Option<&str>,
        limits: IngestLimits,
        progress: bool,
        counters: &Arc<IngestProgress>,
    ) -> Result<IngestSummary, IngestError> {
        counters.stage(Stage::Reading);
        let result = self
            .run(dir, source, limits, progress, Arc::clone(counters))
            .await;
        counters.stage(Stage::Finished);
        result
    }

    async fn run(
        &self,
        dir: &Path,
        source: Option<&str>,
        limits: IngestLimits,
        progress: bool,
        counters: Arc<IngestProgress>,
    ) -> Result<IngestSummary, IngestError> {
        let started = Instant::now();
        let source = match source {
            Some(name) => {
                validate_source(name)?;
                name.to_string()
            }
            None => default_source(dir)?,
        };
        if !dir.is_dir() {
            return Err(IngestError::NotAFolder(dir.to_path_buf()));
        }
        // Reading and chunking is blocking work: off the async workers.
        let (files, mut skipped) = {
            let this = self.clone();
            let dir = dir.to_path_buf();
            let source = source.clone();
            let counters = Arc::clone(&counters);
            let read = move || this.read_folder(&dir, &source, limits, &counters);
            match tokio::task::spawn_blocking(read).await {
                Ok(read) => read?,
                Err(e) => std::panic::resume_unwind(e.into_panic()),
            }
        };
        let total: usize = files.iter().map(|f| f.passages.len()).sum();
        let bar = if progress {
            indicatif::ProgressBar::new(total as u64)
        } else {
            indicatif::ProgressBar::hidden()
        };
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "ingest [{bar:30}] {pos}/{len} chunks {per_sec} eta {eta}",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
        // Passages sorted by length and batched by padded tokens: a batch is padded to its
        // longest member, so mixing a 20-token passage with a 500-token one wastes 96 % of the
        // work, and the model's memory grows with batch x length.
        // Ids are content hashes: a stored id is a stored, identical passage, so only new or
        // changed passages are embedded (re-ingesting an unchanged folder embeds nothing).
        let stored = self
            .store
            .existing(
                files
                    .iter()
                    .flat_map(|f| f.passages.iter().map(|p| p.id))
                    .collect(),
            )
            .await?;
        bar.inc(stored.len() as u64);
        counters.planned(total, stored.len());
        counters.stage(Stage::Embedding);
        let mut queue: Vec<(usize, &Passage, String)> = files
            .iter()
            .flat_map(|f| f.passages.iter())
            .filter(|p| !stored.contains(&p.id))
            .map(|p| {
                let input = dense_input(p, self.embed_headings);
                (self.chunker.count(&input) + 2, p, input)
            })
            .collect();
        queue.sort_by_key(|(tokens, ..)| *tokens);
        let upserted = queue.len();
        let (mut embed_time, mut store_time) = (Duration::ZERO, Duration::ZERO);
        let mut rest = queue.as_slice();
        while !rest.is_empty() {
            let n = batch_len(rest, self.batch_size, MAX_BATCH_TOKENS);
            let (group, tail) = rest.split_at(n);
            rest = tail;
            let texts = group.iter().map(|(_, _, input)| input.clone()).collect();
            let t = Instant::now();
            let vectors = self.embedder.embed_batch(texts).await?;
            embed_time += t.elapsed();
            let points = group
                .iter()
                .map(|(_, p, _)| (*p).clone())
                .zip(vectors)
                .collect();
            let t = Instant::now();
            self.store.upsert(points).await?;
            store_time += t.elapsed();
            bar.inc(n as u64);
            counters.embedded(n);
        }
        bar.finish_and_clear();
        counters.stage(Stage::RemovingStale);
        let t = Instant::now();
        let mut deleted = 0;
        for file in &files {
            let keep: Vec<uuid::Uuid> = file.passages.iter().map(|p| p.id).collect();
            deleted += self
                .store
                .delete_by_path(&source, &file.path, &keep)
                .await?;
        }
        counters.stage(Stage::Indexing);
        self.store.optimize().await?;
        store_time += t.elapsed();
        self.embedder.release_memory().await;
        release_freed_memory();
        let vectors = self.store.count().await?;
        let seconds = started.elapsed().as_secs_f64();
        skipped.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(IngestSummary {
            source,
            files: files.len(),
            chunks: total,
            upserted,
            deleted,
            skipped,
            seconds,
            chunks_per_sec: if seconds > 0.0 {
                total as f64 / seconds
            } else {
                0.0
            },
            embed_seconds: embed_time.as_secs_f64(),
            store_seconds: store_time.as_secs_f64(),
            vectors,
        })
    }

    /// Reads and chunks every markdown file; unreadable ones go to the skipped list.
    fn read_folder(
        &self,
        dir: &Path,
        source: &str,
        limits: IngestLimits,
        counters: &IngestProgress,
    ) -> Result<(Vec<FilePassages>, Vec<Skipped>), IngestError> {
        let mut files = Vec::new();
        let mut skipped = Vec::new();
        let mut markdown_seen = 0usize;
        let walker = walkdir::WalkDir::new(dir)
            .sort_by_file_name()
            .into_iter()
            .filter_entry(|e| {
                let name = e.file_name().to_string_lossy();
                e.depth() == 0 || !(name.starts_with('.') || name == "node_modules")
            });
        for entry in walker {
            let entry = match entry {
                Ok(entry) => entry,
                Err(e) => {
                    let path = e.path().map(|p| rel_path(dir, p)).unwrap_or_default();
                    if e.depth() == 0 {
                        return Err(IngestError::Walk {
                            path: dir.to_path_buf(),
                            message: e.to_string(),
                        });
                    }
                    skipped.push(Skipped {
                        path,
                        reason: format!("unreadable: {e}"),
                    });
                    continue;
                }
            };
            let path = entry.path();
            let is_markdown = path
                .extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| e.eq_ignore_ascii_case("md") || e.eq_ignore_ascii_case("mdx"));
            // The walk does not follow links; say so for those that would have mattered.
            if entry.path_is_symlink() && entry.depth() > 0 && (is_markdown || path.is_dir()) {
                skipped.push(Skipped {
                    path: rel_path(dir, path),
                    reason: "symbolic link: not followed (it could lead out of the folder); \
                             copy the files in instead"
                        .into(),
                });
                continue;
            }
            if !entry.file_type().is_file() || !is_markdown {
                continue;
            }
            markdown_seen += 1;
            if let Some(max) = limits.max_files
                && markdown_seen > max
            {
                return Err(IngestError::TooManyFiles { limit: max });
            }
            let rel = rel_path(dir, path);
            if let Some(limit) = limits.max_file_bytes {
                let bytes = entry.metadata().map(|m| m.len()).unwrap_or(0);
                if bytes > limit {
                    return Err(IngestError::FileTooLarge {
                        path: rel,
                        bytes,
                        limit,
                    });
                }
            }
            let bytes = match std::fs::read(path) {
                Ok(bytes) => bytes,
                Err(e) => {
                    counters.file(false);
                    skipped.push(Skipped {
                        path: rel,
                        reason: format!("unreadable: {e}"),
                    });
                    continue;
                }
            };
            let text = match String::from_utf8(bytes) {
                Ok(text) => text,
                Err(e) => {
                    counters.file(false);
                    skipped.push(Skipped {
                        path: rel,
                        reason: format!(
                            "not UTF-8 (invalid byte at offset {}): convert it to UTF-8",
                            e.utf8_error().valid_up_to()
                        ),
                    });
                    continue;
                }
            };
            let stem = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            let passages = self.passages(source, &rel, &text, &stem);
            counters.file(true);
            files.push(FilePassages {
                path: rel,
                passages,
            });
        }
        Ok((files, skipped))
    }

    /// Cuts one document (`text`, at `rel_path` in source `source`) into passages with
    /// deterministic ids.
    pub fn passages(&self, source: &str, rel_path: &str, text: &str, stem: &str) -> Vec<Passage> {
        let doc = markdown::parse(text, stem);
        let mut out = Vec::new();
        for section in &doc.sections {
            let reserved = self
                .chunker
                .count(&heading_line(&doc.title, &section.heading));
            for text in self.chunker.split(&section.text, reserved) {
                let index = out.len() as u32;
                out.push(Passage {
                    id: mode_passage_id(source, rel_path, index, &text, self.embed_headings),
                    source: source.to_string(),
                    path: rel_path.to_string(),
                    title: doc.title.clone(),
                    heading: section.heading.clone(),
                    text,
                    chunk_index: index,
                });
            }
        }
        out
    }
}

/// Gives the memory that embedding batches freed back to the system. glibc keeps freed heap
/// memory for reuse: after the whole corpus a serving process stayed ~500 MiB above its
/// starting size (measured), memory a server that ingests once a day never reuses.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn release_freed_memory() {
    // SAFETY: malloc_trim only returns free pages of the allocator's heaps to the kernel.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn release_freed_memory() {}

/// Padded tokens (batch size x longest member) allowed in one model batch.
const MAX_BATCH_TOKENS: usize = 8_192;

/// How many of the (ascending-length) `queue` go in the next batch: at least one, at most
/// `max_items`, and no more than `max_tokens` once padded to the longest.
fn batch_len(queue: &[(usize, &Passage, String)], max_items: usize, max_tokens: usize) -> usize {
    let mut n = 0;
    while n < queue.len() && n < max_items && (n + 1) * queue[n].0 <= max_tokens {
        n += 1;
    }
    n.max(1)
}

fn heading_line(title: &str, heading: &str) -> String {
    if heading.is_empty() {
        title.to_string()
    } else {
        format!("{title} > {heading}")
    }
}

/// What the model embeds, and BM25 weighs with `[store] hybrid`: the heading trail gives
/// short passages their topic.
pub(crate) fn embedding_input(p: &Passage) -> String {
    format!("{}\n{}", heading_line(&p.title, &p.heading), p.text)
}

/// What the dense model embeds for `p`: [`embedding_input`], or the text alone.
fn dense_input(p: &Passage, embed_headings: bool) -> String {
    if embed_headings {
        embedding_input(p)
    } else {
        p.text.clone()
    }
}

/// [`passage_id`] for the embedding mode: the text alone embeds to another vector than with
/// its headings, so it gets another id (and is embedded again when the mode changes).
fn mode_passage_id(
    source: &str,
    path: &str,
    index: u32,
    text: &str,
    embed_headings: bool,
) -> uuid::Uuid {
    if embed_headings {
        passage_id(source, path, index, text)
    } else {
        passage_id(source, path, index, &format!("\0text only\0{text}"))
    }
}

/// uuid v5 of (source, path, index, sha256 of the text).
pub fn passage_id(source: &str, path: &str, index: u32, text: &str) -> uuid::Uuid {
    let digest = hex::encode(Sha256::digest(text.as_bytes()));
    uuid::Uuid::new_v5(
        &ID_NAMESPACE,
        format!("{source}\0{path}\0{index}\0{digest}").as_bytes(),
    )
}

/// Longest source name.
pub const MAX_SOURCE_LEN: usize = 64;

fn is_source_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')
}

/// A source name is a short slug: 1 to 64 of ASCII letters, digits, `-`, `_`, `.`.
pub fn validate_source(name: &str) -> Result<(), IngestError> {
    if name.is_empty() || name.len() > MAX_SOURCE_LEN || !name.chars().all(is_source_char) {
        return Err(IngestError::BadSource(name.to_string()));
    }
    Ok(())
}

/// The source name a folder gets when none is given: its name (after resolving `.`, `..` and
/// links), with any other character replaced by `-` and cut to 64 characters.
pub fn default_source(dir: &Path) -> Result<String, IngestError> {
    let resolved = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    let name: String = resolved
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
        .chars()
        .map(|c| if is_source_char(c) { c } else { '-' })
        .take(MAX_SOURCE_LEN)
        .collect();
    if name.is_empty() {
        return Err(IngestError::NoSourceName(dir.to_path_buf()));
    }
    Ok(name)
}

fn rel_path(root: &Path, path: &Path) -> String {
    let rel = path.strip_prefix(root).unwrap_or(path);
    rel.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_are_bounded_by_padded_tokens() {
        let p = Passage {
            id: uuid::Uuid::nil(),
            source: String::new(),
            path: String::new(),
            title: String::new(),
            heading: String::new(),
            text: String::new(),
            chunk_index: 0,
        };
        let queue: Vec<(usize, &Passage, String)> = [10, 10, 100, 400, 500, 9000]
            .iter()
            .map(|&t| (t, &p, String::new()))
            .collect();
        assert_eq!(batch_len(&queue, 32, 1000), 3); // 4 x 400 would pad past 1000
        assert_eq!(batch_len(&queue, 2, 1000), 2);
        assert_eq!(batch_len(&queue[5..], 32, 1000), 1); // one oversized passage still goes
    }

    #[test]
    fn ids_are_deterministic_and_content_sensitive() {
        let a = passage_id("s", "a.md", 0, "text");
        assert_eq!(a, passage_id("s", "a.md", 0, "text"));
        assert_ne!(a, passage_id("s", "a.md", 1, "text"));
        assert_ne!(a, passage_id("s", "a.md", 0, "text!"));
        assert_ne!(a, passage_id("s", "b.md", 0, "text"));
        assert_ne!(a, passage_id("t", "a.md", 0, "text"));
    }

    #[test]
    fn the_embedding_mode_changes_the_input_and_the_id() {
        let p = Passage {
            id: uuid::Uuid::nil(),
            source: "s".into(),
            path: "a.md".into(),
            title: "Bun".into(),
            heading: "Install > Linux".into(),
            text: "curl it".into(),
            chunk_index: 0,
        };
        assert_eq!(dense_input(&p, true), "Bun > Install > Linux\ncurl it");
        assert_eq!(dense_input(&p, false), "curl it");
        let with = mode_passage_id("s", "a.md", 0, "curl it", true);
        assert_eq!(with, passage_id("s", "a.md", 0, "curl it"));
        let without = mode_passage_id("s", "a.md", 0, "curl it", false);
        assert_ne!(with, without);
        assert_eq!(without, mode_passage_id("s", "a.md", 0, "curl it", false));
    }

    #[test]
    fn source_names_are_short_slugs() {
        for ok in ["bun", "bun-docs_1.3", "a", &"x".repeat(64)] {
            assert!(validate_source(ok).is_ok(), "{ok}");
        }
        for bad in ["", "a b", "a/b", "ünï", &"x".repeat(65)] {
            assert!(validate_source(bad).is_err(), "{bad}");
        }
        assert_eq!(
            default_source(Path::new("/no/such/My Docs")).unwrap(),
            "My-Docs"
        );
        assert!(default_source(Path::new("/")).is_err());
    }
}
