//! Ingest jobs: every `POST /v1/ingest` runs as one, whether the client waits for it (the
//! default) or takes the `202` and follows `GET /v1/ingest/{id}`.
//!
//! Jobs live in memory: the running ones and the last [`KEEP_FINISHED`] finished, lost on a
//! restart (the data they wrote is not: it is in the store's write-ahead log, and re-ingesting
//! the folder finishes the work). One ingestion runs at a time (embedding already uses every
//! core; two would only take turns slower), the others wait `queued`; a second job for a
//! source that has one queued or running is refused with 409, so two writers never interleave
//! their stale-passage deletions.

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use tokio::sync::{Semaphore, watch};

use super::error::ApiError;
use crate::ingest::{IngestError, IngestProgress, IngestSummary, ProgressView};
use crate::state::AppState;

/// Finished jobs kept for `GET /v1/ingest/{id}`; older ones are forgotten.
pub const KEEP_FINISHED: usize = 100;

/// The registry of ingest jobs.
pub struct IngestJobs {
    // std Mutex, not tokio's: held for map updates only, never across an await.
    jobs: Mutex<Jobs>,
    /// One ingestion at a time.
    running: Arc<Semaphore>,
    /// Distinguishes this process's ids from an earlier one's (ids are not reused after a
    /// restart, so a client polling across one gets 404, not another job).
    epoch: u64,
}

#[derive(Default)]
struct Jobs {
    next: u64,
    by_id: HashMap<String, Arc<Job>>,
    finished: VecDeque<String>,
    /// Source -> the job queued or running for it.
    active: HashMap<String, String>,
}

/// One ingestion of a folder as a source.
pub struct Job {
    /// Its id.
    pub id: String,
    source: String,
    path: PathBuf,
    created: Instant,
    created_unix: u64,
    /// Seconds from accepted to finished, once finished.
    took: OnceLock<f64>,
    progress: Arc<IngestProgress>,
    phase: watch::Sender<Phase>,
}

#[derive(Debug, Clone)]
enum Phase {
    Queued,
    Running,
    Done(Box<IngestSummary>),
    Failed(ApiError),
}

/// Where a job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    /// Waiting for the ingestion before it to finish.
    Queued,
    /// Reading, embedding, writing.
    Running,
    /// Finished: `summary` holds what it did.
    Done,
    /// Stopped: `error` says why. Passages written before the failure stay (they are
    /// correct); ingesting the folder again completes the source.
    Failed,
}

/// An error as a job reports it: the same code and message the synchronous call answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobError {
    /// The HTTP status the synchronous call would have answered.
    pub status: u16,
    /// Stable machine-readable code.
    pub code: String,
    /// What went wrong and what to do.
    pub message: String,
}

/// `GET /v1/ingest/{id}` body.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JobView {
    /// The job's id.
    pub id: String,
    /// queued, running, done or failed.
    pub state: JobState,
    /// The source being ingested.
    pub source: String,
    /// The folder, as resolved on the server.
    pub path: String,
    /// When the job was accepted, unix seconds.
    pub created: u64,
    /// Seconds since it was accepted (until it finished, once finished).
    pub seconds: f64,
    /// How far it has got.
    pub progress: ProgressView,
    /// What it did, once done: the synchronous call's answer.
    pub summary: Option<IngestSummary>,
    /// Why it failed, once failed.
    pub error: Option<JobError>,
}

/// `202 Accepted` body of `POST /v1/ingest` with `"wait": false`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JobStarted {
    /// The job's id.
    pub job: String,
    /// Where to follow it: `GET` with a token carrying the `ingest` scope.
    pub status_url: String,
    /// queued or running.
    pub state: JobState,
    /// The source being ingested.
    pub source: String,
}

impl Default for IngestJobs {
    fn default() -> Self {
        Self::new()
    }
}

impl IngestJobs {
    /// An empty registry.
    pub fn new() -> Self {
        let epoch = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        Self {
            jobs: Mutex::new(Jobs::default()),
            running: Arc::new(Semaphore::new(1)),
            epoch,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Jobs> {
        self.jobs.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The job `id`, running or among the last finished.
    pub fn get(&self, id: &str) -> Option<Arc<Job>> {
        self.lock().by_id.get(id).cloned()
    }

    /// Queues an ingestion of `dir` (already checked against the policy) as `source`, or
    /// refuses it with 409 while `source` has a job queued or running.
    pub fn start(
        self: &Arc<Self>,
        state: &AppState,
        dir: PathBuf,
        source: String,
    ) -> Result<Arc<Job>, ApiError> {
        let job = self.register(dir, source)?;
        let registry = Arc::clone(self);
        let state = state.clone();
        let running = Arc::clone(&job);
        tokio::spawn(async move {
            let phase = registry.run(&state, &running).await;
            registry.finish(&running, phase);
        });
        Ok(job)
    }

    /// Records a queued job for `source`, or refuses it while the source has one.
    fn register(&self, dir: PathBuf, source: String) -> Result<Arc<Job>, ApiError> {
        let mut jobs = self.lock();
        if let Some(other) = jobs.active.get(&source) {
            return Err(ApiError::conflict(format!(
                "source {source:?} is already being ingested (job {other}): follow it at \
                 /v1/ingest/{other} and send this ingest again once it has finished"
            )));
        }
        jobs.next += 1;
        let id = format!("{:x}-{}", self.epoch, jobs.next);
        let job = Arc::new(Job {
            id: id.clone(),
            source: source.clone(),
            path: dir,
            created: Instant::now(),
            created_unix: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            took: OnceLock::new(),
            progress: Arc::new(IngestProgress::default()),
            phase: watch::Sender::new(Phase::Queued),
        });
        jobs.active.insert(source, id.clone());
        jobs.by_id.insert(id, Arc::clone(&job));
        Ok(job)
    }

    /// Waits for a place, runs the ingestion, and returns how it ended; a panic inside is a
    /// failed job, never a job left running.
    async fn run(&self, state: &AppState, job: &Arc<Job>) -> Phase {
        let Ok(_place) = Arc::clone(&self.running).acquire_owned().await else {
            return Phase::Failed(ApiError::internal("the ingest queue was closed"));
        };
        job.phase.send_replace(Phase::Running);
        let work = {
            let state = state.clone();
            let job = Arc::clone(job);
            async move {
                let result = state
                    .ingestor
                    .ingest_dir_observed(
                        &job.path,
                        Some(&job.source),
                        state.ingest_policy.limits,
                        false,
                        &job.progress,
                    )
                    .await;
                // A store or embedder failure part-way may have written some batches
                // already: a change too. Refusals (limits, bad folder) come before any write.
                let changed = match &result {
                    Ok(s) => s.upserted > 0 || s.deleted > 0,
                    Err(e) => matches!(e, IngestError::Embed(_) | IngestError::Store(_)),
                };
                if changed {
                    state.data_changed();
                }
                result
            }
        };
        match tokio::spawn(work).await {
            Ok(Ok(summary)) => {
                metrics::gauge!("ragbench_vectors").set(summary.vectors as f64);
                tracing::info!(
                    job = %job.id,
                    source = %summary.source,
                    files = summary.files,
                    chunks = summary.chunks,
                    upserted = summary.upserted,
                    deleted = summary.deleted,
                    skipped = summary.skipped.len(),
                    seconds = summary.seconds,
                    "ingested {}",
                    job.path.display()
                );
                Phase::Done(Box::new(summary))
            }
            Ok(Err(e)) => {
                tracing::warn!(job = %job.id, source = %job.source, error = %e, "ingest failed");
                Phase::Failed(e.into())
            }
            Err(e) => {
                tracing::error!(job = %job.id, source = %job.source, error = %e, "ingest task failed");
                Phase::Failed(ApiError::internal(
                    "the ingestion stopped on an internal error (see the server's log); the \
                     passages written so far are kept, ingest the folder again",
                ))
            }
        }
    }

    fn finish(&self, job: &Arc<Job>, phase: Phase) {
        let mut jobs = self.lock();
        if jobs.active.get(&job.source) == Some(&job.id) {
            jobs.active.remove(&job.source);
        }
        jobs.finished.push_back(job.id.clone());
        while jobs.finished.len() > KEEP_FINISHED {
            if let Some(old) = jobs.finished.pop_front() {
                jobs.by_id.remove(&old);
            }
        }
        drop(jobs);
        let _ = job.took.set(job.created.elapsed().as_secs_f64());
        job.phase.send_replace(phase);
    }
}

impl Job {
    /// Waits until the job has finished: its summary, or the error the synchronous call
    /// answers.
    pub async fn finished(&self) -> Result<IngestSummary, ApiError> {
        let mut rx = self.phase.subscribe();
        let phase = rx
            .wait_for(|p| matches!(p, Phase::Done(_) | Phase::Failed(_)))
            .await
            .map(|p| p.clone());
        match phase {
            Ok(Phase::Done(summary)) => Ok(*summary),
            Ok(Phase::Failed(e)) => Err(e),
            _ => Err(ApiError::internal("the ingest job ended without a result")),
        }
    }

    /// The job's state now.
    pub fn state(&self) -> JobState {
        match &*self.phase.borrow() {
            Phase::Queued => JobState::Queued,
            Phase::Running => JobState::Running,
            Phase::Done(_) => JobState::Done,
            Phase::Failed(_) => JobState::Failed,
        }
    }

    /// The source being ingested.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Everything `GET /v1/ingest/{id}` shows.
    pub fn view(&self) -> JobView {
        let phase = self.phase.borrow().clone();
        let (state, summary, error) = match phase {
            Phase::Queued => (JobState::Queued, None, None),
            Phase::Running => (JobState::Running, None, None),
            Phase::Done(s) => (JobState::Done, Some(*s), None),
            Phase::Failed(e) => (
                JobState::Failed,
                None,
                Some(JobError {
                    status: e.status.as_u16(),
                    code: e.code.to_string(),
                    message: e.message,
                }),
            ),
        };
        JobView {
            id: self.id.clone(),
            state,
            source: self.source.clone(),
            path: self.path.display().to_string(),
            created: self.created_unix,
            seconds: self
                .took
                .get()
                .copied()
                .unwrap_or_else(|| self.created.elapsed().as_secs_f64()),
            progress: self.progress.view(),
            summary,
            error,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(source: &str) -> Phase {
        Phase::Done(Box::new(IngestSummary {
            source: source.into(),
            files: 1,
            chunks: 2,
            upserted: 2,
            deleted: 0,
            skipped: Vec::new(),
            seconds: 0.1,
            chunks_per_sec: 20.0,
            embed_seconds: 0.05,
            store_seconds: 0.04,
            vectors: 2,
        }))
    }

    #[test]
    fn a_source_has_one_job_at_a_time_and_old_jobs_are_forgotten() {
        let jobs = IngestJobs::new();
        let first = jobs.register("/docs".into(), "docs".into()).unwrap();
        assert_eq!(first.state(), JobState::Queued);
        let refused = jobs
            .register("/elsewhere".into(), "docs".into())
            .err()
            .unwrap();
        assert_eq!(refused.status, axum::http::StatusCode::CONFLICT);
        assert!(refused.message.contains(&first.id), "{}", refused.message);
        let other = jobs.register("/docs".into(), "other".into()).unwrap();
        assert_ne!(other.id, first.id);

        jobs.finish(&first, summary("docs"));
        assert_eq!(first.state(), JobState::Done);
        assert_eq!(first.view().summary.unwrap().source, "docs");
        let again = jobs.register("/docs".into(), "docs".into()).unwrap();
        jobs.finish(&again, Phase::Failed(ApiError::too_large("too many files")));
        let view = again.view();
        assert_eq!(view.state, JobState::Failed);
        assert_eq!(view.error.unwrap().status, 413);

        // Finished jobs beyond the last KEEP_FINISHED are forgotten; running ones never.
        for _ in 0..KEEP_FINISHED {
            let job = jobs.register("/docs".into(), "docs".into()).unwrap();
            jobs.finish(&job, summary("docs"));
        }
        assert!(jobs.get(&first.id).is_none());
        assert!(jobs.get(&again.id).is_none());
        assert!(jobs.get(&other.id).is_some(), "still queued");
        assert_eq!(jobs.lock().by_id.len(), KEEP_FINISHED + 1);
    }
}
