//! How far an ingestion has got, readable while it runs (`GET /v1/ingest/{id}`).
//!
//! The pipeline writes plain atomic counters as it goes; a reader takes a [`ProgressView`]
//! at any time without waiting on the pipeline.

use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};

use serde::{Deserialize, Serialize};

/// The pipeline's stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Not started.
    Waiting,
    /// Walking the folder, reading and chunking files.
    Reading,
    /// Embedding new or changed passages and writing them.
    Embedding,
    /// Deleting stale passages of changed files.
    RemovingStale,
    /// Building the indexes.
    Indexing,
    /// Finished (or stopped).
    Finished,
}

impl Stage {
    const ALL: [Stage; 6] = [
        Stage::Waiting,
        Stage::Reading,
        Stage::Embedding,
        Stage::RemovingStale,
        Stage::Indexing,
        Stage::Finished,
    ];
}

/// Counters the pipeline advances.
#[derive(Debug, Default)]
pub struct IngestProgress {
    stage: AtomicU8,
    files_seen: AtomicUsize,
    files_read: AtomicUsize,
    passages: AtomicUsize,
    unchanged: AtomicUsize,
    to_embed: AtomicUsize,
    embedded: AtomicUsize,
}

/// A snapshot of [`IngestProgress`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProgressView {
    /// Where the pipeline is.
    pub stage: Stage,
    /// Markdown files found so far.
    pub files_seen: usize,
    /// Files read and cut into passages (the others were skipped).
    pub files_read: usize,
    /// Passages the files make (known once reading is done).
    pub passages: usize,
    /// Of those, already stored unchanged: nothing to do.
    pub unchanged: usize,
    /// Of those, new or changed: to embed and write.
    pub to_embed: usize,
    /// Embedded and written so far (durable in the store's write-ahead log).
    pub embedded: usize,
}

impl IngestProgress {
    /// Moves to `stage`.
    pub fn stage(&self, stage: Stage) {
        self.stage.store(stage as u8, Ordering::Relaxed);
    }

    /// A markdown file was found; `read` when it was read and chunked, not skipped.
    pub fn file(&self, read: bool) {
        self.files_seen.fetch_add(1, Ordering::Relaxed);
        if read {
            self.files_read.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Reading is done: `passages` in all, `unchanged` of them already stored.
    pub fn planned(&self, passages: usize, unchanged: usize) {
        self.passages.store(passages, Ordering::Relaxed);
        self.unchanged.store(unchanged, Ordering::Relaxed);
        self.to_embed
            .store(passages.saturating_sub(unchanged), Ordering::Relaxed);
    }

    /// `n` more passages were embedded and written.
    pub fn embedded(&self, n: usize) {
        self.embedded.fetch_add(n, Ordering::Relaxed);
    }

    /// The counters now.
    pub fn view(&self) -> ProgressView {
        let stage = Stage::ALL
            .get(usize::from(self.stage.load(Ordering::Relaxed)))
            .copied()
            .unwrap_or(Stage::Finished);
        ProgressView {
            stage,
            files_seen: self.files_seen.load(Ordering::Relaxed),
            files_read: self.files_read.load(Ordering::Relaxed),
            passages: self.passages.load(Ordering::Relaxed),
            unchanged: self.unchanged.load(Ordering::Relaxed),
            to_embed: self.to_embed.load(Ordering::Relaxed),
            embedded: self.embedded.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_show_in_the_view() {
        let p = IngestProgress::default();
        assert_eq!(p.view().stage, Stage::Waiting);
        p.stage(Stage::Reading);
        p.file(true);
        p.file(false);
        p.planned(10, 4);
        p.stage(Stage::Embedding);
        p.embedded(3);
        assert_eq!(
            p.view(),
            ProgressView {
                stage: Stage::Embedding,
                files_seen: 2,
                files_read: 1,
                passages: 10,
                unchanged: 4,
                to_embed: 6,
                embedded: 3,
            }
        );
        for stage in Stage::ALL {
            p.stage(stage);
            assert_eq!(p.view().stage, stage);
        }
    }
}
