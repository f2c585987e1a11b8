//! GPU telemetry through NVML, sampled on a background thread.
//!
//! [`GpuSampler::start`] spawns a thread that loads NVML (`libnvidia-ml`, at run time, through
//! `nvml-wrapper`), lists the GPUs and samples each one once per interval: utilization, memory
//! used/total, temperature and power. [`GpuSampler::stop`] ends the thread and returns a
//! [`GpuTelemetry`], which is stored as is in `summary.json` and drawn by the report.
//!
//! A machine without an NVIDIA driver or GPU is not an error: `Nvml::init()` fails in well under
//! a millisecond and the telemetry comes back with `available = false` and a `reason` that starts
//! with `"no NVIDIA GPU detected"`. Only a threshold that needs the GPU turns that into a failure,
//! and that is the caller's decision.

use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// The prefix of [`GpuTelemetry::reason`] when no GPU could be used.
pub const NO_GPU_PREFIX: &str = "no NVIDIA GPU detected";

/// Everything the sampler saw during a run. Stored in `summary.json` under `gpu`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GpuTelemetry {
    /// True when NVML loaded and at least one GPU was found.
    pub available: bool,
    /// Why `available` is false (e.g. `"no NVIDIA GPU detected: <error>"`); `None` otherwise.
    pub reason: Option<String>,
    /// The GPUs found, in NVML index order.
    pub devices: Vec<GpuDevice>,
    /// One entry per GPU per sampling tick, in time order.
    pub samples: Vec<GpuSample>,
}

/// Static facts about one GPU.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GpuDevice {
    /// NVML index of the device.
    pub index: u32,
    /// Product name, e.g. `"NVIDIA H100 80GB HBM3"`.
    pub name: String,
    /// The device's UUID, when NVML gives one.
    pub uuid: Option<String>,
    /// Installed memory in bytes.
    pub memory_total_bytes: u64,
    /// Enforced power limit in watts, when the device reports one.
    pub power_limit_w: Option<f64>,
    /// The driver version, when NVML gives one.
    pub driver_version: Option<String>,
}

/// One reading of one GPU. A field is `None` when the device does not support that query.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GpuSample {
    /// NVML index of the device this reading is for.
    pub device: u32,
    /// Seconds since the sampler started.
    pub t_s: f64,
    /// Wall-clock time of the reading, milliseconds since the Unix epoch (to align with the load).
    pub unix_ms: u64,
    /// Percent of the last sample period during which a kernel ran on the GPU.
    pub utilization_pct: Option<u32>,
    /// Percent of the last sample period during which device memory was read or written.
    pub memory_utilization_pct: Option<u32>,
    /// Allocated device memory in bytes.
    pub memory_used_bytes: Option<u64>,
    /// Installed device memory in bytes.
    pub memory_total_bytes: Option<u64>,
    /// GPU die temperature in degrees Celsius.
    pub temperature_c: Option<u32>,
    /// Power draw in watts.
    pub power_w: Option<f64>,
}

impl GpuTelemetry {
    /// Telemetry for a machine where no GPU could be used; `detail` says why.
    pub fn unavailable(detail: impl std::fmt::Display) -> Self {
        GpuTelemetry {
            available: false,
            reason: Some(format!("{NO_GPU_PREFIX}: {detail}")),
            devices: Vec::new(),
            samples: Vec::new(),
        }
    }

    /// Mean GPU utilization over all samples of all devices, in percent; `None` without samples.
    pub fn mean_utilization_pct(&self) -> Option<f64> {
        mean(self.samples.iter().filter_map(|s| s.utilization_pct))
    }

    /// Highest GPU utilization seen on any device, in percent.
    pub fn max_utilization_pct(&self) -> Option<u32> {
        self.samples.iter().filter_map(|s| s.utilization_pct).max()
    }

    /// Highest memory use seen on any device, in bytes.
    pub fn peak_memory_used_bytes(&self) -> Option<u64> {
        self.samples
            .iter()
            .filter_map(|s| s.memory_used_bytes)
            .max()
    }

    /// Mean power draw over all samples, in watts.
    pub fn mean_power_w(&self) -> Option<f64> {
        let n = self.samples.iter().filter(|s| s.power_w.is_some()).count();
        (n > 0).then(|| self.samples.iter().filter_map(|s| s.power_w).sum::<f64>() / n as f64)
    }

    /// Highest temperature seen on any device, in degrees Celsius.
    pub fn max_temperature_c(&self) -> Option<u32> {
        self.samples.iter().filter_map(|s| s.temperature_c).max()
    }

    /// The samples of one device, in time order.
    pub fn device_samples(&self, device: u32) -> impl Iterator<Item = &GpuSample> {
        self.samples.iter().filter(move |s| s.device == device)
    }

    /// A one-line description: the GPUs found (`"1 x NVIDIA H100 80GB HBM3 (80 GiB)"`) or the
    /// reason there are none.
    pub fn describe(&self) -> String {
        if !self.available || self.devices.is_empty() {
            return self
                .reason
                .clone()
                .unwrap_or_else(|| NO_GPU_PREFIX.to_string());
        }
        let mut groups: Vec<(String, u64, usize)> = Vec::new();
        for d in &self.devices {
            match groups
                .iter_mut()
                .find(|(n, m, _)| *n == d.name && *m == d.memory_total_bytes)
            {
                Some(g) => g.2 += 1,
                None => groups.push((d.name.clone(), d.memory_total_bytes, 1)),
            }
        }
        groups
            .iter()
            .map(|(name, mem, n)| {
                format!(
                    "{n} x {name} ({:.0} GiB)",
                    *mem as f64 / (1u64 << 30) as f64
                )
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

fn mean(values: impl Iterator<Item = u32>) -> Option<f64> {
    let (sum, n) = values.fold((0u64, 0u64), |(s, n), v| (s + u64::from(v), n + 1));
    (n > 0).then(|| sum as f64 / n as f64)
}

/// A source of GPU readings. [`NvmlSource`] is the real one; tests use fakes.
pub trait GpuSource {
    /// The devices this source reports on.
    fn devices(&self) -> Vec<GpuDevice>;
    /// Read one device now. `t_s` and `unix_ms` are filled in by the sampler.
    fn read(&self, device: u32) -> GpuSample;
}

/// Reads GPUs through NVML.
pub struct NvmlSource {
    nvml: nvml_wrapper::Nvml,
    count: u32,
}

impl NvmlSource {
    /// Load NVML and count the GPUs. The error is the text for [`GpuTelemetry::reason`]'s detail.
    pub fn open() -> Result<Self, String> {
        let nvml = nvml_wrapper::Nvml::init().map_err(|e| e.to_string())?;
        let count = nvml
            .device_count()
            .map_err(|e| format!("NVML could not count devices: {e}"))?;
        if count == 0 {
            return Err("NVML found 0 devices".to_string());
        }
        Ok(NvmlSource { nvml, count })
    }
}

impl GpuSource for NvmlSource {
    fn devices(&self) -> Vec<GpuDevice> {
        let driver = self.nvml.sys_driver_version().ok();
        (0..self.count)
            .map(|index| match self.nvml.device_by_index(index) {
                Ok(d) => GpuDevice {
                    index,
                    name: d.name().unwrap_or_else(|_| format!("GPU {index}")),
                    uuid: d.uuid().ok(),
                    memory_total_bytes: d.memory_info().map(|m| m.total).unwrap_or(0),
                    power_limit_w: d
                        .enforced_power_limit()
                        .ok()
                        .map(|mw| f64::from(mw) / 1000.0),
                    driver_version: driver.clone(),
                },
                Err(e) => GpuDevice {
                    index,
                    name: format!("GPU {index} (unreadable: {e})"),
                    driver_version: driver.clone(),
                    ..GpuDevice::default()
                },
            })
            .collect()
    }

    fn read(&self, device: u32) -> GpuSample {
        use nvml_wrapper::enum_wrappers::device::TemperatureSensor;
        let mut s = GpuSample {
            device,
            ..GpuSample::default()
        };
        let Ok(d) = self.nvml.device_by_index(device) else {
            return s;
        };
        if let Ok(u) = d.utilization_rates() {
            s.utilization_pct = Some(u.gpu);
            s.memory_utilization_pct = Some(u.memory);
        }
        if let Ok(m) = d.memory_info() {
            s.memory_used_bytes = Some(m.used);
            s.memory_total_bytes = Some(m.total);
        }
        s.temperature_c = d.temperature(TemperatureSensor::Gpu).ok();
        s.power_w = d.power_usage().ok().map(|mw| f64::from(mw) / 1000.0);
        s
    }
}

/// A running sampler. Dropping it without [`GpuSampler::stop`] ends the thread and discards
/// the readings.
pub struct GpuSampler {
    stop_tx: Option<mpsc::Sender<()>>,
    handle: Option<JoinHandle<GpuTelemetry>>,
}

impl GpuSampler {
    /// Start sampling every GPU through NVML every `interval` (the harness uses one second).
    /// Never fails: without a GPU the thread ends at once and [`GpuSampler::stop`] returns
    /// `available = false` with the reason.
    pub fn start(interval: Duration) -> GpuSampler {
        Self::start_with(interval, NvmlSource::open)
    }

    /// Start sampling with a source made by `open` on the sampler thread; an `Err(detail)` from
    /// `open` gives telemetry with `reason = "no NVIDIA GPU detected: <detail>"`.
    pub fn start_with<S, F>(interval: Duration, open: F) -> GpuSampler
    where
        S: GpuSource,
        F: FnOnce() -> Result<S, String> + Send + 'static,
    {
        let interval = interval.max(Duration::from_millis(10));
        let (stop_tx, stop_rx) = mpsc::channel::<()>();
        let spawned = std::thread::Builder::new()
            .name("gpu-sampler".into())
            .spawn(move || {
                let source = match open() {
                    Ok(s) => s,
                    Err(detail) => return GpuTelemetry::unavailable(detail),
                };
                let devices = source.devices();
                let mut telemetry = GpuTelemetry {
                    available: !devices.is_empty(),
                    reason: devices
                        .is_empty()
                        .then(|| format!("{NO_GPU_PREFIX}: no devices listed")),
                    devices,
                    samples: Vec::new(),
                };
                let started = Instant::now();
                let mut tick: u32 = 0;
                loop {
                    let t_s = started.elapsed().as_secs_f64();
                    let unix_ms = SystemTime::now()
                        .duration_since(UNIX_EPOCH)
                        .map(|d| d.as_millis() as u64)
                        .unwrap_or(0);
                    for dev in &telemetry.devices {
                        let mut s = source.read(dev.index);
                        s.device = dev.index;
                        s.t_s = t_s;
                        s.unix_ms = unix_ms;
                        telemetry.samples.push(s);
                    }
                    tick = tick.saturating_add(1);
                    // Fixed schedule: a slow reading does not make the series drift.
                    let next = interval.saturating_mul(tick);
                    let wait = next.saturating_sub(started.elapsed());
                    match stop_rx.recv_timeout(wait) {
                        Err(RecvTimeoutError::Timeout) => continue,
                        Ok(()) | Err(RecvTimeoutError::Disconnected) => break,
                    }
                }
                telemetry
            });
        match spawned {
            Ok(handle) => GpuSampler {
                stop_tx: Some(stop_tx),
                handle: Some(handle),
            },
            Err(e) => {
                // No thread: remember the reason through a thread that returns it at once.
                let reason = format!("GPU sampler thread could not start: {e}");
                GpuSampler {
                    stop_tx: None,
                    handle: std::thread::Builder::new()
                        .spawn(move || GpuTelemetry::unavailable(reason))
                        .ok(),
                }
            }
        }
    }

    /// Stop sampling and return what was seen. Never fails.
    pub fn stop(mut self) -> GpuTelemetry {
        if let Some(tx) = self.stop_tx.take() {
            let _ = tx.send(());
        }
        match self.handle.take().map(JoinHandle::join) {
            Some(Ok(t)) => t,
            Some(Err(_)) => GpuTelemetry::unavailable("the GPU sampler thread panicked"),
            None => GpuTelemetry::unavailable("the GPU sampler thread could not start"),
        }
    }
}

impl Drop for GpuSampler {
    fn drop(&mut self) {
        // Disconnecting the channel wakes the thread, which then ends on its own.
        self.stop_tx.take();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fake;
    impl GpuSource for Fake {
        fn devices(&self) -> Vec<GpuDevice> {
            vec![GpuDevice {
                index: 0,
                name: "Fake GPU".into(),
                memory_total_bytes: 8 << 30,
                ..GpuDevice::default()
            }]
        }
        fn read(&self, device: u32) -> GpuSample {
            GpuSample {
                device,
                utilization_pct: Some(50),
                memory_used_bytes: Some(1 << 30),
                memory_total_bytes: Some(8 << 30),
                temperature_c: Some(60),
                power_w: Some(100.0),
                ..GpuSample::default()
            }
        }
    }

    #[test]
    fn no_driver_is_not_an_error() {
        let t = GpuSampler::start_with(Duration::from_millis(10), || {
            Err::<Fake, _>("libnvidia-ml.so: cannot open shared object file".to_string())
        })
        .stop();
        assert!(!t.available);
        assert!(t.reason.as_deref().unwrap().starts_with(NO_GPU_PREFIX));
        assert!(t.samples.is_empty());
        assert!(t.describe().starts_with(NO_GPU_PREFIX));
    }

    #[test]
    fn real_nvml_never_errors() {
        let t = GpuSampler::start(Duration::from_millis(20)).stop();
        if t.available {
            assert!(!t.devices.is_empty());
        } else {
            assert!(t.reason.as_deref().unwrap().starts_with(NO_GPU_PREFIX));
        }
    }

    #[test]
    fn fake_source_is_sampled_at_least_once() {
        let sampler = GpuSampler::start_with(Duration::from_millis(10), || Ok(Fake));
        std::thread::sleep(Duration::from_millis(30));
        let t = sampler.stop();
        assert!(t.available);
        assert!(!t.samples.is_empty());
        assert_eq!(t.mean_utilization_pct(), Some(50.0));
        assert_eq!(t.peak_memory_used_bytes(), Some(1 << 30));
        assert_eq!(t.describe(), "1 x Fake GPU (8 GiB)");
        let json = serde_json::to_string(&t).unwrap();
        let back: GpuTelemetry = serde_json::from_str(&json).unwrap();
        assert_eq!(back, t);
    }
}
