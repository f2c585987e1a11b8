//! Driving load: closed-loop virtual users with goose ([`closed`]) and an open-loop
//! arrival-rate scheduler ([`open`]). Both send the same [`Workload`] and feed the same
//! [`Recorder`]; the measured window (after warm-up) is opened and closed here, with the
//! server's `/metrics` scraped at its start so the cache hit rate covers exactly it.

pub mod calibrate;
pub mod client;
pub mod closed;
pub mod open;
pub mod workload;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use crate::load::client::Api;
use crate::load::workload::Workload;
use crate::measure::prom::CacheCounters;
use crate::measure::recorder::Recorder;
use crate::scenario::LoadMode;

/// Why the load could not run.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// Goose refused the configuration or failed.
    #[error("load generator: {0}")]
    Generator(String),
    /// A token could not be minted.
    #[error(transparent)]
    Auth(#[from] crate::auth::AuthError),
}

/// Everything a generator needs.
#[derive(Debug, Clone)]
pub struct LoadContext {
    /// Base URL of the server.
    pub base_url: String,
    /// Control-endpoint client (for `/metrics`).
    pub api: Api,
    pub workload: Arc<Workload>,
    /// Where results go.
    pub recorder: Arc<Recorder>,
    /// Valid tokens, one per virtual user (open loop: used round-robin).
    pub tokens: Arc<Vec<String>>,
    /// A token the server must reject.
    pub bad_token: Arc<String>,
    /// Warm-up length.
    pub warmup: Duration,
    /// Measured length.
    pub duration: Duration,
    /// Per-request timeout.
    pub request_timeout: Duration,
    /// Folder for goose's own reports.
    pub run_dir: PathBuf,
}

/// The measured window as it happened.
#[derive(Debug, Clone)]
pub struct Window {
    /// When warm-up began.
    pub load_started: Instant,
    /// Wall clock of `load_started`.
    pub load_started_at: DateTime<Utc>,
    /// When the window opened.
    pub start: Instant,
    /// Wall clock of `start`.
    pub start_at: DateTime<Utc>,
    /// When the window closed.
    pub end: Instant,
    /// Wall clock of `end`.
    pub end_at: DateTime<Utc>,
    /// Cache counters at the start (`None`: the scrape failed).
    pub cache_before: Option<CacheCounters>,
    /// Cache counters at the end.
    pub cache_after: Option<CacheCounters>,
}

impl Window {
    /// The window's length.
    pub fn measured(&self) -> Duration {
        self.end.saturating_duration_since(self.start)
    }
}

/// What a generator reports besides the recorder's contents.
#[derive(Debug, Clone, Default)]
pub struct LoadOutcome {
    /// Open loop: arrivals planned in the window.
    pub planned: Option<u64>,
    /// Open loop: planned arrivals never sent.
    pub dropped: Option<u64>,
    /// Closed loop: goose's request count.
    pub goose_requests: Option<u64>,
    /// Goose's report files (relative to the run folder).
    pub goose_reports: Vec<String>,
    /// Why the load ended early, if it did.
    pub stopped_early: Option<String>,
}

/// Runs warm-up and the measured window with the scenario's load shape.
pub async fn run(ctx: &LoadContext, mode: &LoadMode) -> Result<(Window, LoadOutcome), LoadError> {
    match mode {
        LoadMode::Closed { vus, think_time } => closed::run(ctx, *vus, *think_time).await,
        LoadMode::Open {
            rate,
            arrival,
            max_in_flight,
        } => open::run(ctx, *rate, *arrival, *max_in_flight).await,
    }
}

/// Sleeps through warm-up, scrapes `/metrics`, opens the window, sleeps through it and
/// closes it (scraping again). `load_started` is when warm-up began. When `stop` completes
/// first (the generator ended, or ctrl-c), the window closes at once; the `bool` says so.
pub(crate) async fn timeline(
    ctx: &LoadContext,
    load_started: Instant,
    load_started_at: DateTime<Utc>,
    stop: impl std::future::Future<Output = ()>,
) -> (Window, bool) {
    tokio::pin!(stop);
    let mut stopped = false;
    tokio::select! {
        _ = tokio::time::sleep_until((load_started + ctx.warmup).into()) => {}
        _ = &mut stop => stopped = true,
    }
    let cache_before = if stopped {
        None
    } else {
        ctx.api.cache_counters().await.ok()
    };
    let start = Instant::now();
    let start_at = Utc::now();
    ctx.recorder.start_window(start);
    if !stopped {
        tokio::select! {
            _ = tokio::time::sleep_until((start + ctx.duration).into()) => {}
            _ = &mut stop => stopped = true,
        }
    }
    let end = Instant::now();
    let end_at = Utc::now();
    ctx.recorder.end_window(end);
    let cache_after = ctx.api.cache_counters().await.ok();
    (
        Window {
            load_started,
            load_started_at,
            start,
            start_at,
            end,
            end_at,
            cache_before,
            cache_after,
        },
        stopped,
    )
}
