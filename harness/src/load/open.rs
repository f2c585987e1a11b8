//! Open-loop load: requests at a fixed arrival rate (constant spacing or Poisson), whatever
//! the server does, with a cap on requests in flight.
//!
//! Each request has an *intended* start on the schedule, and its latency is measured from
//! that intended start, not from when it was actually sent. When the server stalls and the
//! in-flight cap is reached, later requests wait for a slot and their wait counts: a stall
//! shows up in the percentiles instead of silently thinning the load (coordinated
//! omission). Arrivals that were still waiting when the window closed are reported as
//! `dropped`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::Utc;
use rand::Rng;
use tokio::sync::{Semaphore, watch};

use super::{LoadContext, LoadError, LoadOutcome, Window, timeline};
use crate::client::send_plan;
use crate::metrics::Outcome;
use crate::scenario::Arrival;

/// Produces intended start offsets (seconds since the load began).
struct Schedule {
    rate: f64,
    arrival: Arrival,
    next: f64,
}

impl Schedule {
    fn new(rate: f64, arrival: Arrival) -> Schedule {
        Schedule {
            rate,
            arrival,
            next: 0.0,
        }
    }

    /// The next intended offset, then advances.
    fn advance(&mut self) -> f64 {
        let now = self.next;
        let gap = match self.arrival {
            Arrival::Constant => 1.0 / self.rate,
            Arrival::Poisson => {
                let u: f64 = rand::rng().random();
                -(1.0 - u).ln() / self.rate
            }
        };
        self.next += gap;
        now
    }
}

/// Runs the open loop.
pub async fn run(
    ctx: &LoadContext,
    rate: f64,
    arrival: Arrival,
    max_in_flight: u32,
) -> Result<(Window, LoadOutcome), LoadError> {
    let client = reqwest::Client::builder()
        .timeout(ctx.request_timeout)
        .connect_timeout(Duration::from_secs(5))
        .pool_max_idle_per_host(max_in_flight as usize)
        .tcp_nodelay(true)
        .build()
        .map_err(|e| LoadError::Generator(format!("cannot build the HTTP client: {e}")))?;
    let client = Arc::new(client);
    let permits = Arc::new(Semaphore::new(max_in_flight as usize));
    let (stop_tx, stop_rx) = watch::channel(false);
    let sent_in_window = Arc::new(AtomicU64::new(0));

    let load_started = Instant::now();
    let load_started_at = Utc::now();
    let scheduler = {
        let ctx = ctx.clone();
        let client = client.clone();
        let permits = permits.clone();
        let sent_in_window = sent_in_window.clone();
        let mut stop_rx = stop_rx.clone();
        tokio::spawn(async move {
            let mut schedule = Schedule::new(rate, arrival);
            let mut n: u64 = 0;
            loop {
                let offset = schedule.next;
                let intended = load_started + Duration::from_secs_f64(offset);
                if *stop_rx.borrow() {
                    break;
                }
                tokio::select! {
                    _ = tokio::time::sleep_until(intended.into()) => {}
                    _ = stop_rx.wait_for(|s| *s) => break,
                }
                let permit = tokio::select! {
                    p = permits.clone().acquire_owned() => match p {
                        Ok(p) => p,
                        Err(_) => break,
                    },
                    _ = stop_rx.wait_for(|s| *s) => break,
                };
                schedule.advance();
                let sent_at = Instant::now();
                ctx.recorder
                    .record_lag(intended, sent_at.saturating_duration_since(intended));
                if ctx.recorder.in_window(intended) {
                    sent_in_window.fetch_add(1, Ordering::Relaxed);
                }
                let plan = {
                    let mut rng = rand::rng();
                    ctx.workload.next(&mut rng)
                };
                let token = if plan.bad_token {
                    ctx.bad_token.clone()
                } else {
                    Arc::new(ctx.tokens[(n as usize) % ctx.tokens.len()].clone())
                };
                n += 1;
                let client = client.clone();
                let recorder = ctx.recorder.clone();
                let base = ctx.base_url.clone();
                tokio::spawn(async move {
                    let sent = send_plan(&client, &base, &plan, &token).await;
                    recorder.record(&Outcome {
                        endpoint: plan.endpoint,
                        bad_token: plan.bad_token,
                        started: intended,
                        latency: intended.elapsed(),
                        status: sent.status,
                        server_timing: sent.server_timing.as_deref(),
                    });
                    drop(permit);
                });
            }
            schedule
        })
    };

    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    let (mut window, stopped_early) = timeline(ctx, load_started, load_started_at, ctrl_c).await;
    let _ = stop_tx.send(true);
    let mut schedule = scheduler
        .await
        .map_err(|e| LoadError::Generator(format!("the open-loop scheduler failed: {e}")))?;

    // Arrivals planned inside the window that were never sent: the scheduler was still
    // waiting for an in-flight slot (or for its time) when the window closed.
    let mut dropped = 0u64;
    loop {
        let intended = load_started + Duration::from_secs_f64(schedule.next);
        if intended >= window.end {
            break;
        }
        if intended >= window.start {
            dropped += 1;
        }
        schedule.advance();
    }

    // Let requests in flight finish (they started in the window and are measured).
    let drain = permits.acquire_many(max_in_flight);
    let _ = tokio::time::timeout(ctx.request_timeout + Duration::from_secs(1), drain).await;
    if let Ok(after) = ctx.api.cache_counters().await {
        window.cache_after = Some(after);
    }

    let sent = sent_in_window.load(Ordering::Relaxed);
    Ok((
        window,
        LoadOutcome {
            planned: Some(sent + dropped),
            dropped: Some(dropped),
            goose_requests: None,
            goose_reports: Vec::new(),
            stopped_early: stopped_early.then(|| "interrupted (ctrl-c)".into()),
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_schedule_is_evenly_spaced() {
        let mut s = Schedule::new(4.0, Arrival::Constant);
        let offsets: Vec<f64> = (0..4).map(|_| s.advance()).collect();
        assert_eq!(offsets, vec![0.0, 0.25, 0.5, 0.75]);
    }

    #[test]
    fn poisson_schedule_has_the_rate_on_average() {
        let mut s = Schedule::new(1000.0, Arrival::Poisson);
        for _ in 0..20_000 {
            s.advance();
        }
        // 20,000 arrivals at 1000/s take about 20 s.
        assert!((s.next - 20.0).abs() < 1.0, "{}", s.next);
    }
}
