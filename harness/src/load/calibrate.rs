//! The instrument's floor: the run's own load shape driven against a trivial endpoint the
//! harness serves itself on loopback.
//!
//! Every figure a run reports includes the harness's own cost: its HTTP client, its
//! scheduler, the loopback hop. Against an endpoint that answers at once (any method, any
//! path, a body of the run's typical response size), whatever latency is measured is that
//! cost alone. A server whose P95 is below twice the floor's cannot be told apart from the
//! instrument, and the verdict says so (see [`crate::verdict`]).
//!
//! Two measurements: the floor at the run's load shape (its VUs and think time, or its rate,
//! arrival process and in-flight cap), then the highest rate the instrument sustains with
//! the same connections (no think time, or an arrival rate it cannot reach).

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;

use crate::load::client::Api;
use crate::load::workload::Workload;
use crate::load::{self, LoadContext, LoadError};
use crate::measure::recorder::Recorder;
use crate::scenario::{Arrival, LoadMode};
use crate::summary::Calibration;

/// How long each part of a calibration runs.
#[derive(Debug, Clone, Copy)]
pub struct Durations {
    /// Unmeasured start of each part (connections opened, users started).
    pub warmup: Duration,
    /// The floor's measured window at the run's load shape.
    pub floor: Duration,
    /// The measured window of the highest-rate probe; zero skips it.
    pub max_rate: Duration,
}

impl Durations {
    /// What every run does before its warm-up: a few seconds in all.
    pub const IN_RUN: Durations = Durations {
        warmup: Duration::from_millis(500),
        floor: Duration::from_secs(3),
        max_rate: Duration::from_secs(2),
    };
}

/// The open-loop rate used to find the highest sustained rate: far above what one
/// machine's client stack reaches, so the in-flight cap, not the schedule, sets the pace.
const UNREACHABLE_RATE: f64 = 1_000_000.0;

/// A loopback HTTP server that answers every request at once with a fixed body. It runs on
/// its own thread and runtime, as a separate server process would, so the harness's
/// runtime does only the client's work.
pub struct TrivialEndpoint {
    addr: SocketAddr,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TrivialEndpoint {
    /// Starts serving `body_bytes` bytes of JSON on an ephemeral loopback port.
    pub fn start(body_bytes: usize) -> std::io::Result<TrivialEndpoint> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("trivial-endpoint")
            .enable_all()
            .build()?;
        let body = Bytes::from(json_body(body_bytes));
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("trivial-endpoint".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
                        return;
                    };
                    let app = Router::new().fallback(move || {
                        let body = body.clone();
                        async move { ([(CONTENT_TYPE, "application/json")], body).into_response() }
                    });
                    let _ = axum::serve(listener, app)
                        .with_graceful_shutdown(async {
                            let _ = rx.await;
                        })
                        .await;
                });
            })?;
        Ok(TrivialEndpoint {
            addr,
            shutdown: Some(tx),
            thread: Some(thread),
        })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for TrivialEndpoint {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        // Connections still open would hold a graceful shutdown: don't wait for them.
        drop(self.thread.take());
    }
}

/// A JSON document of exactly `n` bytes (at least the 10 of its frame).
fn json_body(n: usize) -> Vec<u8> {
    let frame = br#"{"pad":""}"#;
    let fill = n.saturating_sub(frame.len());
    let mut out = Vec::with_capacity(frame.len() + fill);
    out.extend_from_slice(br#"{"pad":""#);
    out.resize(out.len() + fill, b'x');
    out.extend_from_slice(br#""}"#);
    out
}

/// Measures the instrument's floor with `mode` (the run's load shape), sending `workload`'s
/// requests to a trivial endpoint that answers with `response_bytes` bytes. Goose's own
/// reports, if any, go to `scratch`.
pub async fn calibrate(
    mode: &LoadMode,
    workload: Arc<Workload>,
    response_bytes: usize,
    durations: Durations,
    scratch: &Path,
) -> Result<Calibration, LoadError> {
    let endpoint = TrivialEndpoint::start(response_bytes).map_err(|e| {
        LoadError::Generator(format!(
            "calibration: cannot serve the trivial endpoint: {e}"
        ))
    })?;
    let base = endpoint.base_url();
    std::fs::create_dir_all(scratch).map_err(|e| {
        LoadError::Generator(format!(
            "calibration: cannot create {}: {e}",
            scratch.display()
        ))
    })?;
    let tokens = match mode {
        LoadMode::Closed { vus, .. } => (*vus).max(1) as usize,
        LoadMode::Open { .. } => 1,
    };
    let context = |duration: Duration| LoadContext {
        base_url: base.clone(),
        api: Api::new(&base),
        workload: workload.clone(),
        recorder: Arc::new(Recorder::new()),
        tokens: Arc::new(vec!["calibration".to_string(); tokens]),
        bad_token: Arc::new("calibration-bad".to_string()),
        warmup: durations.warmup,
        duration,
        request_timeout: Duration::from_secs(10),
        run_dir: scratch.to_path_buf(),
    };

    let ctx = context(durations.floor);
    let (window, _) = load::run(&ctx, mode).await?;
    let floor = ctx
        .recorder
        .finish(window.measured(), &workload.endpoints());

    let max_rps = if durations.max_rate.is_zero() {
        None
    } else {
        let ctx = context(durations.max_rate);
        let (window, _) = load::run(&ctx, &flat_out(mode)).await?;
        let fast = ctx
            .recorder
            .finish(window.measured(), &workload.endpoints());
        // By completion: flat out, the open loop's schedule runs far behind the clock, so
        // few requests are *due* inside the window though many complete there.
        Some(fast.completions as f64 / window.measured().as_secs_f64().max(1e-9))
    };

    Ok(Calibration {
        shape: mode.describe(),
        measured_s: window.measured().as_secs_f64(),
        response_bytes: response_bytes as u64,
        latency: floor.overall.latency.clone(),
        throughput_rps: floor.overall.throughput_rps + bad_token_rps(&floor, window.measured()),
        generator_lag: floor.generator_lag,
        max_rps,
    })
}

/// Bad-token requests are counted apart from `overall`; they are load all the same.
fn bad_token_rps(r: &crate::measure::recorder::Recorded, measured: Duration) -> f64 {
    r.bad_token.requests as f64 / measured.as_secs_f64().max(1e-9)
}

/// The same connections with nothing holding them back.
fn flat_out(mode: &LoadMode) -> LoadMode {
    match mode {
        LoadMode::Closed { vus, .. } => LoadMode::Closed {
            vus: *vus,
            think_time: Duration::ZERO,
        },
        LoadMode::Open { max_in_flight, .. } => LoadMode::Open {
            rate: UNREACHABLE_RATE,
            arrival: Arrival::Constant,
            max_in_flight: *max_in_flight,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_body_has_the_asked_size_and_parses() {
        for n in [0, 10, 11, 2700] {
            let b = json_body(n);
            assert_eq!(b.len(), n.max(10), "{n}");
            let v: serde_json::Value = serde_json::from_slice(&b).unwrap();
            assert!(v["pad"].is_string());
        }
    }

    #[test]
    fn flat_out_keeps_the_connections_and_drops_the_brakes() {
        let closed = LoadMode::Closed {
            vus: 50,
            think_time: Duration::from_secs(1),
        };
        assert!(matches!(
            flat_out(&closed),
            LoadMode::Closed { vus: 50, think_time } if think_time.is_zero()
        ));
        let open = LoadMode::Open {
            rate: 600.0,
            arrival: Arrival::Poisson,
            max_in_flight: 256,
        };
        assert!(matches!(
            flat_out(&open),
            LoadMode::Open { max_in_flight: 256, rate, .. } if rate == UNREACHABLE_RATE
        ));
    }
}
