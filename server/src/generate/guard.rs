//! A generator behind a deadline that remembers whether it is failing.
//!
//! Every backend is wrapped in one: a call that takes longer than `[generator] timeout_secs`
//! ends with [`GenerateError::Timeout`] (504) instead of holding the client and a queue place,
//! and a failed or timed-out call marks the backend failing until a later call succeeds.
//! `/health` reads that mark: the generator shows `down` with the last error and the server
//! `yellow` (search still works), back to `green` with the first answer that comes through.
//! There is no separate probe: every `/v1/query` tries the backend again, bounded by the
//! deadline, so the next question after the backend returns is the one that notices.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{GenerateError, Generation, Generator};
use crate::backend::{BackendInfo, BackendState};
use crate::store::Hit;

/// A backend with a deadline and a failure mark.
pub struct GuardedGenerator {
    inner: Arc<dyn Generator>,
    timeout: Duration,
    // std Mutex, not tokio's: held only to copy or replace a few fields, never across an await.
    failing: Mutex<Option<Failing>>,
}

/// Since when, how often and why the backend has been failing.
#[derive(Debug, Clone)]
struct Failing {
    since: Instant,
    calls: u64,
    last: String,
}

impl GuardedGenerator {
    /// `inner` with every call bounded by `timeout`.
    pub fn new(inner: Arc<dyn Generator>, timeout: Duration) -> Self {
        Self {
            inner,
            timeout,
            failing: Mutex::new(None),
        }
    }

    /// The deadline of one call.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    fn record(&self, result: &Result<Generation, GenerateError>) {
        let mut failing = self.failing.lock().unwrap_or_else(|p| p.into_inner());
        match result {
            Ok(_) => {
                if let Some(f) = failing.take() {
                    tracing::info!(
                        failed_calls = f.calls,
                        seconds = f.since.elapsed().as_secs_f64(),
                        "answer generator answers again"
                    );
                }
            }
            Err(e) => match failing.as_mut() {
                Some(f) => {
                    f.calls += 1;
                    f.last = e.to_string();
                }
                None => {
                    tracing::warn!(error = %e, "answer generator is failing");
                    *failing = Some(Failing {
                        since: Instant::now(),
                        calls: 1,
                        last: e.to_string(),
                    });
                }
            },
        }
    }
}

#[async_trait::async_trait]
impl Generator for GuardedGenerator {
    async fn generate(
        &self,
        question: &str,
        passages: &[Hit],
    ) -> Result<Generation, GenerateError> {
        // Dropping the backend's future on timeout is its signal to stop (llama.cpp checks it
        // between tokens).
        let result = tokio::time::timeout(self.timeout, self.inner.generate(question, passages))
            .await
            .unwrap_or(Err(GenerateError::Timeout(self.timeout)));
        self.record(&result);
        result
    }

    fn info(&self) -> BackendInfo {
        self.marked(self.inner.info())
    }

    async fn health(&self) -> BackendInfo {
        self.marked(self.inner.health().await)
    }
}

impl GuardedGenerator {
    /// `info` with the failure mark, if calls are failing.
    fn marked(&self, mut info: BackendInfo) -> BackendInfo {
        let failing = self
            .failing
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        if let Some(f) = failing {
            info.state = BackendState::Down;
            info.detail = format!(
                "{}; failing for {:.0}s ({} calls), last: {}",
                info.detail,
                f.since.elapsed().as_secs_f64(),
                f.calls,
                f.last
            );
        }
        info
    }
}
