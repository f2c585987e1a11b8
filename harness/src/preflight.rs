//! The GPU preflight: before a scenario that needs a GPU puts load on it, check that NVML sees
//! a GPU, and that the server's embedder starts on it and embeds.
//!
//! It is the plan's GPU deployment script as code: each step is one line, and a failed step
//! says what is wrong and what to do, so a broken driver or a CPU-only build fails in seconds
//! with a reason rather than after a three-minute run with a 0 % GPU utilization.
//! The server warms every model with a full batch before it listens, so once preflight
//! passes and the server is up, the load starts on warm models.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::Deserialize;

use crate::scenario::Scenario;

/// The server environment key that selects the embedder's device.
pub const DEVICE_ENV: &str = "RAGBENCH_EMBEDDER__DEVICE";

/// One preflight step's outcome.
#[derive(Debug, Clone)]
pub struct Check {
    /// The step: `gpu` or `embedder`.
    pub step: &'static str,
    /// Whether it passed.
    pub ok: bool,
    /// What was found, or what is wrong and what to do.
    pub line: String,
}

/// How to start the server binary, and with what.
#[derive(Debug, Clone)]
pub struct ServerInvocation {
    pub exe: PathBuf,
    /// Arguments before the server's own (`__server` for the harness's own binary).
    pub prefix_args: Vec<String>,
    /// The scenario's server config file.
    pub config: Option<PathBuf>,
    /// The scenario's server environment.
    pub env: BTreeMap<String, String>,
    /// How long loading the models may take.
    pub timeout: Duration,
}

/// Whether a scenario needs the GPU: a threshold reads it, or its server runs on CUDA.
pub fn needs_gpu(scenario: &Scenario) -> bool {
    scenario.rules.iter().any(|r| r.needs_gpu()) || wants_cuda(&scenario.server_env)
}

fn wants_cuda(env: &BTreeMap<String, String>) -> bool {
    env.get(DEVICE_ENV)
        .is_some_and(|d| d.trim().starts_with("cuda"))
}

/// Runs every step; stops at the first failure (later steps need the earlier ones).
pub fn run(server: &ServerInvocation) -> Vec<Check> {
    let mut checks = vec![gpu()];
    if checks[0].ok {
        checks.push(embedder(server));
    }
    checks
}

/// The GPU step alone: for an external stack, whose server the harness does not start.
pub fn run_gpu_only() -> Vec<Check> {
    vec![gpu()]
}

/// NVML finds at least one GPU: name, driver, memory, compute capability.
fn gpu() -> Check {
    let fail = |line: String| Check {
        step: "gpu",
        ok: false,
        line,
    };
    let nvml = match nvml_wrapper::Nvml::init() {
        Ok(nvml) => nvml,
        Err(e) => {
            return fail(format!(
                "no NVIDIA GPU: NVML could not be loaded ({e}). Install the NVIDIA driver (it \
                 ships libnvidia-ml.so.1), or run this scenario on a machine with a GPU; the \
                 CPU stack is phase2"
            ));
        }
    };
    let count = nvml.device_count().unwrap_or(0);
    if count == 0 {
        return fail(
            "NVML loaded but lists no GPU: check `nvidia-smi`, and that the container was \
             started with the GPU (e.g. `--gpus all`)"
                .into(),
        );
    }
    let driver = nvml.sys_driver_version().unwrap_or_else(|_| "?".into());
    let devices: Vec<String> = (0..count)
        .map(|i| match nvml.device_by_index(i) {
            Ok(d) => {
                let name = d.name().unwrap_or_else(|_| format!("GPU {i}"));
                let memory = d.memory_info().map(|m| m.total).unwrap_or(0);
                let cc = d
                    .cuda_compute_capability()
                    .map(|c| format!("{}.{}", c.major, c.minor))
                    .unwrap_or_else(|_| "?".into());
                format!(
                    "{i}: {name}, {:.0} GiB, compute capability {cc}",
                    memory as f64 / (1u64 << 30) as f64
                )
            }
            Err(e) => format!("{i}: unreadable ({e})"),
        })
        .collect();
    Check {
        step: "gpu",
        ok: true,
        line: format!("driver {driver}; {}", devices.join("; ")),
    }
}

/// What the step reads from `ragbench-server probe`'s JSON.
#[derive(Debug, Deserialize)]
struct Probe {
    backend: String,
    detail: String,
    load_ms: f64,
    probe_norm: f32,
    sequential_us: ProbePercentiles,
    concurrent_per_s: f64,
    concurrency: usize,
    batch_texts_per_s: f64,
}

#[derive(Debug, Deserialize)]
struct ProbePercentiles {
    p50: f64,
    p95: f64,
}

/// The server's configured embedder loads (warm-up included) and embeds a probe sentence into
/// a unit vector, on the GPU when the scenario asks for CUDA.
fn embedder(server: &ServerInvocation) -> Check {
    let fail = |line: String| Check {
        step: "embedder",
        ok: false,
        line,
    };
    let probe = match run_probe(server) {
        Ok(probe) => probe,
        Err(e) => return fail(e),
    };
    if wants_cuda(&server.env) && probe.backend != "candle-cuda" {
        return fail(format!(
            "the scenario asks for a CUDA embedder but the server runs `{}` ({}): set \
             [server] env {DEVICE_ENV} and RAGBENCH_EMBEDDER__BACKEND = \"candle\"",
            probe.backend, probe.detail
        ));
    }
    if (probe.probe_norm - 1.0).abs() > 1e-3 {
        return fail(format!(
            "the embedder `{}` returned a vector of norm {:.4} for the probe sentence, not a unit \
             vector: the model or its weights are wrong ({})",
            probe.backend, probe.probe_norm, probe.detail
        ));
    }
    Check {
        step: "embedder",
        ok: true,
        line: format!(
            "{} ({}): loaded and warmed in {:.1} s; one query p50 {} p95 {}; {} concurrent: \
             {:.0} queries/s; batches: {:.0} texts/s",
            probe.backend,
            probe.detail,
            probe.load_ms / 1e3,
            crate::units::us(probe.sequential_us.p50),
            crate::units::us(probe.sequential_us.p95),
            probe.concurrency,
            probe.concurrent_per_s,
            probe.batch_texts_per_s
        ),
    }
}

/// Starts `probe` in a child process (the CUDA libraries stay out of the harness) and reads
/// its JSON; errors are one line with the server's last log line.
fn run_probe(server: &ServerInvocation) -> Result<Probe, String> {
    let mut cmd = Command::new(&server.exe);
    cmd.args(&server.prefix_args);
    if let Some(config) = &server.config {
        cmd.arg("--config").arg(config);
    }
    cmd.args(["probe", "--rounds", "100", "--concurrency", "64"])
        .envs(&server.env)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = cmd.spawn().map_err(|e| {
        format!(
            "cannot start the server binary {} ({e}): build it, or pass --server-bin",
            server.exe.display()
        )
    })?;
    let output = wait_with_timeout(child, server.timeout, &server.exe)?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let last = stderr
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("");
        return Err(format!(
            "the embedder did not start ({}): {last}",
            output.status
        ));
    }
    serde_json::from_slice(&output.stdout).map_err(|e| {
        format!(
            "`probe` printed no report ({e}): is {} a ragbench-server of this version?",
            server.exe.display()
        )
    })
}

fn wait_with_timeout(
    mut child: std::process::Child,
    timeout: Duration,
    exe: &Path,
) -> Result<std::process::Output, String> {
    let started = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(_)) => return child.wait_with_output().map_err(|e| e.to_string()),
            Ok(None) if started.elapsed() > timeout => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "{} probe took over {:.0} s to load and embed: raise [server] \
                     startup_timeout, or check the GPU is not busy",
                    exe.display(),
                    timeout.as_secs_f64()
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(100)),
            Err(e) => return Err(e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_cuda_device_setting_asks_for_cuda() {
        let mut env = BTreeMap::new();
        assert!(!wants_cuda(&env));
        env.insert(DEVICE_ENV.to_string(), "cpu".to_string());
        assert!(!wants_cuda(&env));
        env.insert(DEVICE_ENV.to_string(), "cuda:1".to_string());
        assert!(wants_cuda(&env));
    }

    #[test]
    fn a_missing_server_binary_is_one_line_saying_so() {
        let server = ServerInvocation {
            exe: PathBuf::from("/nonexistent/ragbench-server"),
            prefix_args: Vec::new(),
            config: None,
            env: BTreeMap::new(),
            timeout: Duration::from_secs(5),
        };
        let check = embedder(&server);
        assert!(!check.ok);
        assert!(check.line.contains("--server-bin"), "{}", check.line);
    }
}
