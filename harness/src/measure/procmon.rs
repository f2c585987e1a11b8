//! Sampling the server process's CPU and memory once a second (embedded stack).

use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use sysinfo::{Pid, ProcessRefreshKind, ProcessesToUpdate, System};

use crate::summary::{ProcessSample, ProcessStats};

/// One raw sample before it is placed on the window's time axis.
#[derive(Debug, Clone, Copy)]
struct Raw {
    at: Instant,
    cpu_pct: f64,
    rss_bytes: u64,
}

/// A running sampler of one process.
#[derive(Debug)]
pub struct ProcessMonitor {
    pid: u32,
    stop_tx: Option<mpsc::Sender<()>>,
    handle: Option<JoinHandle<Vec<Raw>>>,
}

impl ProcessMonitor {
    /// Starts sampling `pid` every `interval`. The kernel's high-water mark is reset first,
    /// so the peak covers what is measured (warm-up and load), not the ingestion or the
    /// priming before it: embedding the corpus peaks at ~2.5 GiB for a server that then
    /// serves in ~0.55 GiB, and a soak's memory bound is about the serving.
    pub fn start(pid: u32, interval: Duration) -> ProcessMonitor {
        reset_kernel_peak_rss(pid);
        let (stop_tx, stop_rx) = mpsc::channel::<()>();
        let handle = std::thread::Builder::new()
            .name("server-monitor".into())
            .spawn(move || {
                let spid = Pid::from_u32(pid);
                let mut sys = System::new();
                let kind = ProcessRefreshKind::nothing().with_cpu().with_memory();
                let mut samples = Vec::new();
                // The first refresh only sets the CPU baseline.
                sys.refresh_processes_specifics(ProcessesToUpdate::Some(&[spid]), true, kind);
                while let Err(RecvTimeoutError::Timeout) = stop_rx.recv_timeout(interval) {
                    sys.refresh_processes_specifics(ProcessesToUpdate::Some(&[spid]), true, kind);
                    let Some(p) = sys.process(spid) else { break };
                    samples.push(Raw {
                        at: Instant::now(),
                        cpu_pct: f64::from(p.cpu_usage()),
                        rss_bytes: p.memory(),
                    });
                }
                samples
            })
            .ok();
        ProcessMonitor {
            pid,
            stop_tx: Some(stop_tx),
            handle,
        }
    }

    /// Stops sampling. `window` is the measured window (`start`, `end`): sample times are
    /// given relative to its start, and the CPU mean covers only samples inside it.
    pub fn stop(mut self, window: (Instant, Instant)) -> ProcessStats {
        drop(self.stop_tx.take());
        let raw = self
            .handle
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default();
        let (start, end) = window;
        let samples: Vec<ProcessSample> = raw
            .iter()
            .map(|r| ProcessSample {
                t: if r.at >= start {
                    r.at.duration_since(start).as_secs_f64()
                } else {
                    -start.duration_since(r.at).as_secs_f64()
                },
                cpu_pct: r.cpu_pct,
                rss_bytes: r.rss_bytes,
            })
            .collect();
        let inside: Vec<&Raw> = raw
            .iter()
            .filter(|r| r.at > start && r.at <= end + Duration::from_millis(500))
            .collect();
        let cpu_mean_pct = if inside.is_empty() {
            0.0
        } else {
            inside.iter().map(|r| r.cpu_pct).sum::<f64>() / inside.len() as f64
        };
        let cpu_max_pct = inside.iter().map(|r| r.cpu_pct).fold(0.0, f64::max);
        let sampled_peak = raw.iter().map(|r| r.rss_bytes).max().unwrap_or(0);
        ProcessStats {
            pid: self.pid,
            samples,
            cpu_mean_pct,
            cpu_max_pct,
            peak_rss_bytes: sampled_peak.max(kernel_peak_rss(self.pid).unwrap_or(0)),
        }
    }
}

/// Resets a process's `VmHWM` to its current RSS (Linux 4.0+, `clear_refs` value 5; allowed
/// for our own children). Where it cannot be reset the peak stays the process's lifetime peak.
fn reset_kernel_peak_rss(pid: u32) {
    let _ = std::fs::write(format!("/proc/{pid}/clear_refs"), "5");
}

/// The kernel's RSS high-water mark for a live process (Linux `VmHWM`), in bytes.
pub fn kernel_peak_rss(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_peak_starts_when_monitoring_starts() {
        // A 256 MiB spike before monitoring (touched, then freed) must not be the peak.
        let spike = vec![1u8; 256 << 20];
        std::hint::black_box(&spike);
        drop(spike);
        let me = std::process::id();
        let before = kernel_peak_rss(me).expect("VmHWM on Linux");
        let stats = ProcessMonitor::start(me, Duration::from_millis(20))
            .stop((Instant::now(), Instant::now()));
        assert!(
            stats.peak_rss_bytes + (128 << 20) < before,
            "peak {} not reset below the earlier high-water mark {before}",
            stats.peak_rss_bytes
        );
    }

    #[test]
    fn samples_this_process() {
        let mon = ProcessMonitor::start(std::process::id(), Duration::from_millis(20));
        let start = Instant::now();
        std::thread::sleep(Duration::from_millis(120));
        let stats = mon.stop((start, Instant::now()));
        assert!(!stats.samples.is_empty());
        assert!(stats.peak_rss_bytes > 0);
    }
}
