//! Open-loop load: requests at a fixed arrival rate (constant spacing or Poisson), whatever
//! the server does, with a cap on requests in flight.
//!
//! Each request has an *intended* start on the schedule, and its latency is measured from
//! that intended start, not from when it was actually sent. When the server stalls and the
//! in-flight cap is reached, later requests wait for a slot and their wait counts: a stall
//! shows up in the percentiles instead of silently thinning the load (coordinated
//! omission). Arrivals that were still waiting when the window closed are reported as
//! `dropped`.
//!
//! Because lateness is charged to the server, the schedule must be kept precisely: tokio's
//! timer fires on a 1 ms wheel, which would add up to ~2 ms to every latency. So arrivals
//! are released by a dedicated sender thread ([`Pacer`]) that sleeps with a 1 ns timer
//! slack to just before each release time and yields its core until the time itself; the
//! requests are still sent asynchronously, as tasks on the runtime, released a little early
//! ([`lead_for`]) so that waking a worker is not charged to the server. The generator's own
//! lateness (due, slot free -> request task running) is recorded apart as `generator_lag`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::Utc;
use rand::Rng;
use tokio::runtime::Handle;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, TryAcquireError, watch};

use super::{LoadContext, LoadError, LoadOutcome, Window, timeline};
use crate::load::client::send_plan;
use crate::measure::recorder::Outcome;
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

/// Waits for deadlines on the current (dedicated) thread with microsecond precision.
///
/// A plain `sleep` wakes late by the thread's timer slack (50 us by default on Linux) plus
/// the scheduler's wake-up; with the slack at 1 ns it wakes a few tens of microseconds late.
/// So it sleeps to `margin` before the deadline and then yields the core until the deadline
/// passes: the yield lets the runtime's workers (and a server on the same machine) run.
/// The margin adapts: it grows when a sleep overshoots and shrinks slowly when they don't.
struct Pacer {
    margin: Duration,
}

impl Pacer {
    const MIN_MARGIN: Duration = Duration::from_micros(50);
    const MAX_MARGIN: Duration = Duration::from_millis(2);
    /// Longest single sleep, so a stop request is seen promptly.
    const MAX_SLEEP: Duration = Duration::from_millis(20);

    /// Sets up the calling thread (its timer slack) and returns a pacer for it.
    fn for_this_thread() -> Pacer {
        #[cfg(target_os = "linux")]
        // SAFETY: PR_SET_TIMERSLACK only changes the calling thread's timer slack.
        unsafe {
            libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong, 0, 0, 0);
        }
        Pacer {
            margin: Duration::from_micros(200),
        }
    }

    /// Returns at `deadline` (or at once when it has passed), or `false` early when `stop`
    /// says so.
    fn wait_until(&mut self, deadline: Instant, stop: &watch::Receiver<bool>) -> bool {
        loop {
            if *stop.borrow() {
                return false;
            }
            let now = Instant::now();
            if now >= deadline {
                return true;
            }
            let left = deadline - now;
            if left > self.margin {
                let nap = (left - self.margin).min(Self::MAX_SLEEP);
                let woke_due = now + nap;
                std::thread::sleep(nap);
                let overshoot = Instant::now().saturating_duration_since(woke_due);
                self.adapt(overshoot);
            } else {
                std::thread::yield_now();
            }
        }
    }

    fn adapt(&mut self, overshoot: Duration) {
        let wanted = overshoot * 2;
        self.margin = if wanted > self.margin {
            wanted
        } else {
            // Shrink by 1/64 per sleep: a burst of slow wake-ups is remembered for a while.
            self.margin - (self.margin - wanted) / 64
        }
        .clamp(Self::MIN_MARGIN, Self::MAX_MARGIN);
    }
}

/// How early each request task is released before its intended time.
///
/// Handing a task from the sender thread to a parked runtime worker costs a wake-up
/// (~30 us here), which would be charged to the server. Released this much early, the task
/// yields its (now awake) worker until the intended time. The yielding competes with the
/// responses being read, which measurably hurt the tail at thousands of requests per second,
/// so the lead shrinks with the gap between arrivals: 200 us at 600/s, 25 us at 5,000/s.
fn lead_for(rate: f64) -> Duration {
    let gap = Duration::from_secs_f64(1.0 / rate.max(1.0));
    (gap / 8).min(Duration::from_micros(200))
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
    let permits = Arc::new(Semaphore::new(max_in_flight as usize));
    let (stop_tx, stop_rx) = watch::channel(false);
    let sent_in_window = Arc::new(AtomicU64::new(0));

    let load_started = Instant::now();
    let load_started_at = Utc::now();
    let sender = Sender {
        ctx: ctx.clone(),
        client,
        permits: permits.clone(),
        stop: stop_rx,
        sent_in_window: sent_in_window.clone(),
        runtime: Handle::current(),
        load_started,
        lead: lead_for(rate),
    };
    let schedule = Schedule::new(rate, arrival);
    let sender = std::thread::Builder::new()
        .name("open-loop-sender".into())
        .spawn(move || sender.run(schedule))
        .map_err(|e| LoadError::Generator(format!("cannot start the sender thread: {e}")))?;

    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    let (mut window, stopped_early) = timeline(ctx, load_started, load_started_at, ctrl_c).await;
    let _ = stop_tx.send(true);
    let mut schedule = tokio::task::spawn_blocking(move || sender.join())
        .await
        .ok()
        .and_then(Result::ok)
        .ok_or_else(|| LoadError::Generator("the open-loop sender thread panicked".into()))?;

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

/// The sender thread's state: releases each arrival at its intended time.
struct Sender {
    ctx: LoadContext,
    client: reqwest::Client,
    permits: Arc<Semaphore>,
    stop: watch::Receiver<bool>,
    sent_in_window: Arc<AtomicU64>,
    runtime: Handle,
    load_started: Instant,
    lead: Duration,
}

impl Sender {
    /// Releases arrivals until told to stop; returns the schedule where it stopped.
    fn run(self, mut schedule: Schedule) -> Schedule {
        let mut pacer = Pacer::for_this_thread();
        let mut n: u64 = 0;
        loop {
            let intended = self.load_started + Duration::from_secs_f64(schedule.next);
            let release_at = intended.checked_sub(self.lead).unwrap_or(intended);
            if !pacer.wait_until(release_at, &self.stop) {
                break;
            }
            let Some((permit, ready)) = self.slot(intended) else {
                break;
            };
            schedule.advance();
            if self.ctx.recorder.in_window(intended) {
                self.sent_in_window.fetch_add(1, Ordering::Relaxed);
            }
            self.release(intended, ready, permit, n);
            n += 1;
        }
        schedule
    }

    /// An in-flight slot, and from when the request was ready to leave: `ready_at` (its
    /// intended time) when a slot was free, else when one freed up. A wait for a slot is the
    /// server's doing; any lateness beyond it is the generator's.
    fn slot(&self, ready_at: Instant) -> Option<(OwnedSemaphorePermit, Instant)> {
        match self.permits.clone().try_acquire_owned() {
            Ok(p) => Some((p, ready_at)),
            Err(TryAcquireError::Closed) => None,
            Err(TryAcquireError::NoPermits) => {
                let mut stop = self.stop.clone();
                let permits = self.permits.clone();
                self.runtime.block_on(async move {
                    tokio::select! {
                        p = permits.acquire_owned() => p.ok().map(|p| (p, Instant::now())),
                        _ = stop.wait_for(|s| *s) => None,
                    }
                })
            }
        }
    }

    /// Sends arrival number `n` as a task on the runtime.
    fn release(&self, intended: Instant, ready: Instant, permit: OwnedSemaphorePermit, n: u64) {
        let ctx = &self.ctx;
        let plan = ctx.workload.next(&mut rand::rng());
        let token = if plan.bad_token {
            ctx.bad_token.clone()
        } else {
            Arc::new(ctx.tokens[(n as usize) % ctx.tokens.len()].clone())
        };
        let client = self.client.clone();
        let recorder = ctx.recorder.clone();
        let base = ctx.base_url.clone();
        let due = ready.max(intended);
        self.runtime.spawn(async move {
            // Released `lead` early: the worker is awake by now; yield it up to the due time.
            while Instant::now() < intended {
                tokio::task::yield_now().await;
            }
            let running = Instant::now();
            recorder.record_lag(
                intended,
                running.saturating_duration_since(intended),
                running.saturating_duration_since(due),
            );
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

    #[test]
    fn the_lead_shrinks_with_the_gap_between_arrivals() {
        assert_eq!(lead_for(600.0), Duration::from_micros(200));
        let at_5000 = lead_for(5000.0).as_secs_f64() * 1e6;
        assert!((at_5000 - 25.0).abs() < 0.01, "{at_5000}");
        assert!(lead_for(0.0) <= Duration::from_micros(200));
    }

    #[test]
    fn pacer_returns_at_the_deadline_and_stops_when_told() {
        let (tx, rx) = watch::channel(false);
        let mut pacer = Pacer::for_this_thread();
        let deadline = Instant::now() + Duration::from_millis(5);
        assert!(pacer.wait_until(deadline, &rx));
        assert!(Instant::now() >= deadline, "returned before the deadline");
        tx.send(true).unwrap();
        assert!(!pacer.wait_until(Instant::now() + Duration::from_secs(60), &rx));
    }

    #[test]
    fn pacer_margin_follows_overshoot_within_bounds() {
        let mut pacer = Pacer {
            margin: Duration::from_micros(200),
        };
        pacer.adapt(Duration::from_millis(50));
        assert_eq!(pacer.margin, Pacer::MAX_MARGIN);
        for _ in 0..10_000 {
            pacer.adapt(Duration::ZERO);
        }
        assert_eq!(pacer.margin, Pacer::MIN_MARGIN);
    }
}
