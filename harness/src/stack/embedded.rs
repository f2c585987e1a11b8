//! The embedded stack: the server as a child process on a free loopback port, so its CPU
//! and memory are measured apart from the load generator's.
//!
//! The child is the harness's own binary re-executed with the hidden `__server` subcommand
//! (the server linked in as a library), so nothing else has to be built or installed. It
//! gets a fresh JWT secret, its own data folder under the run folder, and its stdin as a
//! lifeline (`--exit-on-stdin-close`): if the harness dies, the server exits too. Its
//! stdout and stderr go to `server.log` in the run folder.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::StackError;

/// The line the server prints once it listens.
pub const LISTENING_PREFIX: &str = "ragbench-server listening on ";

/// How to start the server.
#[derive(Debug, Clone)]
pub struct ServerSpec {
    /// The executable to run (normally `std::env::current_exe()`).
    pub exe: PathBuf,
    /// Arguments before the server's own (normally `["__server"]`).
    pub prefix_args: Vec<String>,
    /// The server's data folder.
    pub data_dir: PathBuf,
    /// The log file for its output.
    pub log_path: PathBuf,
    /// The JWT secret.
    pub secret: String,
    /// Whether to load the generator.
    pub generator: bool,
    /// A server config file.
    pub config: Option<PathBuf>,
    /// Folders the server may ingest over HTTP (the corpus the run ingests); passed as
    /// `RAGBENCH_INGEST__ALLOWED_ROOTS`, which `env` can still override.
    pub allowed_roots: Vec<PathBuf>,
    /// Extra environment.
    pub env: Vec<(String, String)>,
    /// How long to wait for the "listening" line.
    pub startup_timeout: Duration,
}

/// A running server child. Dropping it stops the server (SIGTERM, then SIGKILL).
#[derive(Debug)]
pub struct ServerChild {
    child: Option<Child>,
    stdin: Option<ChildStdin>,
    /// The base URL it listens on (`http://127.0.0.1:PORT`).
    pub base_url: String,
    /// Its process id.
    pub pid: u32,
    /// Seconds from spawn to the listening line.
    pub startup_s: f64,
    pub log_path: PathBuf,
}

/// How long the server gets to exit after SIGTERM before it is killed.
const GRACE: Duration = Duration::from_secs(10);

impl ServerChild {
    /// Spawns the server and waits for its "listening" line. `on_wait` is called about every
    /// 200 ms while waiting, with the seconds elapsed (for a spinner).
    pub fn start(spec: &ServerSpec, on_wait: impl FnMut(f64)) -> Result<ServerChild, StackError> {
        std::fs::create_dir_all(&spec.data_dir).map_err(|source| StackError::Io {
            path: spec.data_dir.clone(),
            source,
        })?;
        let log = File::create(&spec.log_path).map_err(|source| StackError::Io {
            path: spec.log_path.clone(),
            source,
        })?;
        let log_err = log.try_clone().map_err(|source| StackError::Io {
            path: spec.log_path.clone(),
            source,
        })?;
        let started = Instant::now();
        let mut child = command(spec, log_err)
            .spawn()
            .map_err(|source| StackError::Spawn {
                exe: spec.exe.clone(),
                source,
            })?;
        let pid = child.id();
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("stdout is piped");
        let guard = ServerChild {
            child: Some(child),
            stdin,
            base_url: String::new(),
            pid,
            startup_s: 0.0,
            log_path: spec.log_path.clone(),
        };
        let listening = forward_stdout(stdout, log, &spec.log_path)?;
        guard.wait_listening(spec, started, listening, on_wait)
    }

    /// Waits for the URL [`forward_stdout`] sends, and reports a server that exits or takes
    /// longer than its startup timeout (dropping `self` then stops it).
    fn wait_listening(
        mut self,
        spec: &ServerSpec,
        started: Instant,
        listening: mpsc::Receiver<String>,
        mut on_wait: impl FnMut(f64),
    ) -> Result<ServerChild, StackError> {
        loop {
            match listening.recv_timeout(Duration::from_millis(200)) {
                Ok(url) => {
                    self.base_url = url.trim_end_matches('/').to_string();
                    self.startup_s = started.elapsed().as_secs_f64();
                    return Ok(self);
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    // stdout closed without the line: the server exited (or will).
                    let status = self.wait_exit(Duration::from_secs(5));
                    return Err(StackError::ServerExited {
                        status: status
                            .map(|s| s.to_string())
                            .unwrap_or_else(|| "still running".into()),
                        log: spec.log_path.clone(),
                        tail: log_tail(&spec.log_path, 25),
                    });
                }
            }
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                // Give the reader a moment to see a last line, then report.
                std::thread::sleep(Duration::from_millis(100));
                return Err(StackError::ServerExited {
                    status: status.to_string(),
                    log: spec.log_path.clone(),
                    tail: log_tail(&spec.log_path, 25),
                });
            }
            let waited = started.elapsed();
            if waited >= spec.startup_timeout {
                return Err(StackError::StartupTimeout {
                    waited: waited.as_secs(),
                    log: spec.log_path.clone(),
                    tail: log_tail(&spec.log_path, 25),
                });
            }
            on_wait(waited.as_secs_f64());
        }
    }

    fn wait_exit(&mut self, within: Duration) -> Option<ExitStatus> {
        let child = self.child.as_mut()?;
        let deadline = Instant::now() + within;
        loop {
            match child.try_wait() {
                Ok(Some(status)) => return Some(status),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(50))
                }
                _ => return None,
            }
        }
    }

    /// Whether the server is still running.
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// Stops the server: SIGTERM, up to 10 s to exit, then SIGKILL. Returns its exit status.
    pub fn stop(&mut self) -> Option<ExitStatus> {
        let mut child = self.child.take()?;
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        #[cfg(unix)]
        {
            // SAFETY: kill(2) with a pid we spawned and still own (not yet reaped).
            unsafe {
                libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
            }
        }
        // Closing stdin also asks it to exit (`--exit-on-stdin-close`).
        drop(self.stdin.take());
        let deadline = Instant::now() + GRACE;
        loop {
            match child.try_wait() {
                Ok(Some(status)) => return Some(status),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(50))
                }
                _ => {
                    let _ = child.kill();
                    return child.wait().ok();
                }
            }
        }
    }
}

impl Drop for ServerChild {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The server's command line and environment; stderr goes to the log, stdout to a pipe that
/// [`forward_stdout`] reads.
fn command(spec: &ServerSpec, log_err: File) -> Command {
    let mut cmd = Command::new(&spec.exe);
    cmd.args(&spec.prefix_args);
    if let Some(config) = &spec.config {
        cmd.arg("--config").arg(config);
    }
    cmd.arg("--data-dir")
        .arg(&spec.data_dir)
        .arg("serve")
        .arg("--listen")
        .arg("127.0.0.1:0")
        .arg("--exit-on-stdin-close");
    if !spec.generator {
        cmd.arg("--no-generator");
    }
    cmd.env("RAGBENCH_JWT_SECRET", &spec.secret);
    if !spec.allowed_roots.is_empty() {
        cmd.env(
            "RAGBENCH_INGEST__ALLOWED_ROOTS",
            roots_value(&spec.allowed_roots),
        );
    }
    for (k, v) in &spec.env {
        cmd.env(k, v);
    }
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(log_err));
    // Its own process group: a ctrl-c in the terminal reaches the harness, which then
    // stops the server in order, instead of killing both at once.
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        cmd.process_group(0);
    }
    cmd
}

/// Copies the server's stdout into its log on a thread of its own, and sends the URL of the
/// "listening" line once it appears.
fn forward_stdout(
    stdout: ChildStdout,
    mut log: File,
    log_path: &Path,
) -> Result<mpsc::Receiver<String>, StackError> {
    let (tx, rx) = mpsc::channel::<String>();
    std::thread::Builder::new()
        .name("server-stdout".into())
        .spawn(move || {
            let mut sent = false;
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let _ = writeln!(log, "{line}");
                if !sent && let Some(url) = line.trim().strip_prefix(LISTENING_PREFIX) {
                    let _ = tx.send(url.trim().to_string());
                    sent = true;
                }
            }
        })
        .map_err(|source| StackError::Io {
            path: log_path.to_path_buf(),
            source,
        })?;
    Ok(rx)
}

/// The roots as the TOML array the server's environment overrides read (a JSON array of
/// strings is one), absolute so the server's working folder does not matter.
fn roots_value(roots: &[PathBuf]) -> String {
    let roots: Vec<String> = roots
        .iter()
        .map(|r| {
            std::fs::canonicalize(r)
                .unwrap_or_else(|_| r.clone())
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    serde_json::to_string(&roots).unwrap_or_else(|_| "[]".into())
}

/// The last `n` lines of a log file (for error messages).
pub fn log_tail(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.len().saturating_sub(n);
    lines[start..].join("\n")
}
