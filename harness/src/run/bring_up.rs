//! The stack brought up for a run: the GPU preflight, then an embedded server child (corpus
//! first, then the server, then ingestion), the containers stack (`containers.rs`) or an
//! external server, until `/health` says it can be measured.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::corpus::{ingest, locate_corpus, prepare_subset, run_corpus};
use super::{RunError, RunOptions};
use crate::auth::{self, TokenMint};
use crate::load::client::{Api, Health};
use crate::measure::gpu::GpuSampler;
use crate::output::console;
use crate::scenario::{Scenario, StackKind};
use crate::stack::containers::ContainersStack;
use crate::stack::store_cache::{Manifest, StoreCache, StoreKey};
use crate::stack::{ServerChild, ServerSpec, StackError, corpus};
use crate::summary::{CorpusInfo, HealthStatus};
use ragbench_server::config::Config;

/// The stack as brought up.
pub(crate) struct Up {
    pub(crate) base_url: String,
    pub(crate) secret: String,
    server: Option<ServerChild>,
    pub(super) corpus: CorpusInfo,
    pub(super) health: Health,
    /// Embedded stack: seconds to start, and the log file (relative to the run folder).
    pub(super) startup: Option<(f64, String)>,
    /// Embedded stack: the store's place in the cache, and whether to save it once stopped.
    store: Option<CachedStore>,
    /// What happened with the cached store, for the summary's notes.
    pub(crate) store_note: Option<String>,
    /// Containers stack: Qdrant, Ollama (and the server container), removed after the server
    /// stops (a field after `server`, so dropped after it too).
    containers: Option<ContainersStack>,
}

/// The run's store and its cache entry.
struct CachedStore {
    cache: StoreCache,
    key: StoreKey,
    data_dir: PathBuf,
    /// Saved after the server stops: the run ingested something the cache lacks.
    save: bool,
    /// The manifest of the entry this run started from.
    restored: Option<Manifest>,
}

impl CachedStore {
    /// After the run's ingest: a restored store must have needed nothing and hold the
    /// manifest's count; otherwise the ingest completed it and the cache is refreshed.
    fn check_after_ingest(&mut self, corpus: &CorpusInfo) -> Option<String> {
        let manifest = self.restored.as_ref()?;
        let complete = corpus.upserted == Some(0) && corpus.vectors == Some(manifest.vectors);
        if complete {
            return Some(format!(
                "The store came from the harness's cache (saved {}, {} vectors, checksum \
                 verified); the ingest confirmed every passage and embedded none.",
                manifest.saved_at, manifest.vectors
            ));
        }
        self.save = true;
        Some(format!(
            "The cached store was incomplete ({} vectors cached, {:?} now, {:?} passages \
             embedded by this run's ingest); it is replaced after the run.",
            manifest.vectors, corpus.vectors, corpus.upserted
        ))
    }
}

impl Up {
    pub(super) fn server_pid(&self) -> Option<u32> {
        self.server.as_ref().map(|s| s.pid)
    }

    /// A stack of containers with the server against them; its store is never cached.
    pub(super) fn containers(
        base_url: String,
        secret: String,
        server: Option<ServerChild>,
        corpus: CorpusInfo,
        health: Health,
        startup: (f64, String),
        containers: ContainersStack,
    ) -> Up {
        Up {
            base_url,
            secret,
            server,
            corpus,
            health,
            startup: Some(startup),
            store: None,
            store_note: None,
            containers: Some(containers),
        }
    }

    /// Stops an embedded server on every path (also done by Drop), then removes the
    /// containers of a containers stack.
    pub(crate) async fn stop_server(&mut self) {
        let Some(mut server) = self.server.take() else {
            self.remove_containers().await;
            return;
        };
        let status = tokio::task::spawn_blocking(move || server.stop())
            .await
            .ok()
            .flatten();
        if let Some(st) = status
            && !st.success()
        {
            console::step(format!("note: the server exited with {st} on shutdown"));
        }
        self.save_store().await;
        self.remove_containers().await;
    }

    async fn remove_containers(&mut self) {
        if let Some(containers) = self.containers.take() {
            containers.remove().await;
        }
    }

    /// Keeps a stopped server's freshly ingested store for the next run with this corpus
    /// and these settings.
    async fn save_store(&mut self) {
        let Some(store) = self.store.take().filter(|s| s.save) else {
            return;
        };
        let Some(vectors) = self.corpus.vectors else {
            return;
        };
        let saved = tokio::task::spawn_blocking(move || {
            store.cache.save(&store.key, &store.data_dir, vectors)
        })
        .await;
        match saved {
            Ok(Ok(_)) => console::step(format!(
                "kept the ingested store ({vectors} vectors) for the next run with this corpus \
                 and these settings"
            )),
            Ok(Err(e)) => console::step(format!("warning: the store was not cached: {e}")),
            Err(e) => console::step(format!("warning: the store was not cached: {e}")),
        }
    }
}

/// Before a scenario that needs a GPU: the preflight's steps, each one line; a failed step
/// stops the run as a setup error. An external stack is only checked for the GPU itself.
pub(crate) fn gpu_preflight(scenario: &Scenario, opts: &RunOptions) -> Result<(), RunError> {
    if !crate::preflight::needs_gpu(scenario) {
        return Ok(());
    }
    if opts.no_preflight {
        let probe = GpuSampler::start(Duration::from_millis(100)).stop();
        if !probe.available {
            console::step(format!(
                "warning: this scenario needs the GPU, and {}: its GPU thresholds will fail",
                probe.describe()
            ));
        }
        return Ok(());
    }
    let server = server_invocation(scenario, opts)?;
    let checks = match scenario.stack {
        StackKind::Embedded => crate::preflight::run(&server),
        StackKind::External { .. } | StackKind::Containers(_) => crate::preflight::run_gpu_only(),
    };
    for check in &checks {
        let mark = if check.ok { "ok" } else { "FAILED" };
        console::step(format!("preflight {} {mark}: {}", check.step, check.line));
    }
    match checks.iter().find(|c| !c.ok) {
        Some(failed) => Err(RunError::Unhealthy(format!(
            "GPU preflight failed at `{}`: {} (--no-preflight runs the scenario anyway; its GPU \
             thresholds then fail)",
            failed.step, failed.line
        ))),
        None => Ok(()),
    }
}

/// The server binary and its settings, for the embedded stack and the preflight.
pub fn server_invocation(
    scenario: &Scenario,
    opts: &RunOptions,
) -> Result<crate::preflight::ServerInvocation, RunError> {
    let (exe, prefix_args) = match &opts.server_command {
        Some(c) => c.clone(),
        None => (
            std::env::current_exe().map_err(|source| RunError::Io {
                path: PathBuf::from("<current exe>"),
                source,
            })?,
            vec!["__server".to_string()],
        ),
    };
    Ok(crate::preflight::ServerInvocation {
        exe,
        prefix_args,
        config: scenario.server_config.clone(),
        env: scenario.server_env.clone(),
        timeout: scenario.startup_timeout,
    })
}

/// Starts (or finds) the server, ingests the corpus, waits until it is ready.
pub(crate) async fn bring_up(
    scenario: &Scenario,
    opts: &RunOptions,
    dir: &Path,
) -> Result<Up, RunError> {
    let lifetime =
        scenario.warmup + scenario.duration + scenario.ingest_timeout + Duration::from_secs(3600);
    match &scenario.stack {
        StackKind::Embedded => bring_up_embedded(scenario, opts, dir, lifetime).await,
        StackKind::Containers(spec) => {
            super::containers::bring_up(scenario, opts, dir, spec, lifetime).await
        }
        StackKind::External { base_url } => {
            bring_up_external(scenario, opts, dir, base_url, lifetime).await
        }
    }
}

/// Starts the server as a child process, ingests the run's corpus into it, waits until ready.
async fn bring_up_embedded(
    scenario: &Scenario,
    opts: &RunOptions,
    dir: &Path,
    lifetime: Duration,
) -> Result<Up, RunError> {
    let secret = auth::random_secret();
    let corpus_dir = run_corpus(scenario, dir).await?;
    let mut store = match &corpus_dir {
        // Not with `--server-bin`: another build may cut or embed passages differently.
        Some((path, source)) if opts.server_command.is_none() => {
            cached_store(scenario, &dir.join("data"), path, source)
        }
        _ => None,
    };
    let server = start_server(scenario, opts, dir, &secret, corpus_dir.as_ref()).await?;
    let startup = Some((server.startup_s, "server.log".to_string()));
    let base_url = server.base_url.clone();
    let api = Api::new(&base_url);
    let mint = TokenMint::new(&secret, lifetime);
    let (corpus_info, health) = ingest_then_ready(scenario, &api, &mint, corpus_dir).await?;
    let store_note = store
        .as_mut()
        .and_then(|s| s.check_after_ingest(&corpus_info));
    Ok(Up {
        base_url,
        secret,
        server: Some(server),
        corpus: corpus_info,
        health,
        startup,
        store,
        store_note,
        containers: None,
    })
}

/// The cache entry for this corpus and these settings, restored into `data_dir` when the
/// scenario reuses stores and the entry checks out. Problems with the cache never stop a
/// run: it ingests instead.
fn cached_store(
    scenario: &Scenario,
    data_dir: &Path,
    corpus: &Path,
    source: &str,
) -> Option<CachedStore> {
    // The settings as the server child will see them: the file, this process's environment,
    // then the scenario's.
    let env = std::env::vars().chain(scenario.server_env.clone());
    let cfg = match Config::load_with_env(scenario.server_config.as_deref(), env) {
        Ok(cfg) => cfg,
        Err(e) => {
            console::step(format!("note: no store reuse: {e}"));
            return None;
        }
    };
    let cache = StoreCache::default_location();
    let key = match StoreKey::new(&cfg, corpus, source) {
        Ok(key) => key,
        Err(e) => {
            console::step(format!("note: no store reuse: {e}"));
            return None;
        }
    };
    let restored = match scenario.reuse_store.then(|| cache.restore(&key, data_dir)) {
        Some(Ok(found)) => found,
        Some(Err(e)) => {
            console::step(format!("warning: {e}"));
            let _ = std::fs::remove_dir_all(data_dir);
            None
        }
        None => None,
    };
    if let Some(manifest) = &restored {
        console::step(format!(
            "starting from the cached store for this corpus and these settings ({} vectors, \
             checksum verified; --fresh-store ingests from scratch)",
            manifest.vectors
        ));
    }
    Some(CachedStore {
        cache,
        key,
        data_dir: data_dir.to_path_buf(),
        save: restored.is_none(),
        restored,
    })
}

/// Spawns the server child (this executable's `__server`, or `--server-command`) and waits
/// until it listens.
pub(super) async fn start_server(
    scenario: &Scenario,
    opts: &RunOptions,
    dir: &Path,
    secret: &str,
    corpus_dir: Option<&(PathBuf, String)>,
) -> Result<ServerChild, RunError> {
    let server = server_invocation(scenario, opts)?;
    let spec = ServerSpec {
        exe: server.exe,
        prefix_args: server.prefix_args,
        data_dir: dir.join("data"),
        log_path: dir.join("server.log"),
        secret: secret.to_string(),
        generator: scenario.generator,
        config: scenario.server_config.clone(),
        // The server ingests over HTTP only under its allowed roots: the run's corpus.
        allowed_roots: corpus_dir.iter().map(|(p, _)| p.clone()).collect(),
        env: scenario
            .server_env
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        startup_timeout: scenario.startup_timeout,
    };
    let spin = console::spinner(format!(
        "starting the server (generator {}; a first start fetches the models)",
        if scenario.generator { "on" } else { "off" }
    ));
    let server = tokio::task::spawn_blocking(move || ServerChild::start(&spec, |_| {}))
        .await
        .map_err(|e| RunError::Unhealthy(format!("server start task failed: {e}")))??;
    spin.finish_and_clear();
    console::step(format!(
        "server listening on {} (pid {}, started in {:.1}s, log server.log)",
        server.base_url, server.pid, server.startup_s
    ));
    Ok(server)
}

/// Uses a server somebody else started: mints tokens with its secret, ingests when asked,
/// and refuses a red one.
async fn bring_up_external(
    scenario: &Scenario,
    opts: &RunOptions,
    dir: &Path,
    base_url: &str,
    lifetime: Duration,
) -> Result<Up, RunError> {
    let secret = match &opts.jwt_secret {
        Some(s) => s.clone(),
        None => std::env::var(&scenario.jwt_secret_env)
            .ok()
            .filter(|s| !s.is_empty())
            .ok_or_else(|| StackError::NoSecret {
                env: scenario.jwt_secret_env.clone(),
            })?,
    };
    let api = Api::new(base_url);
    let mint = TokenMint::new(&secret, lifetime);
    let mut corpus_info = CorpusInfo {
        source: "external (not ingested by this run)".into(),
        ..Default::default()
    };
    if scenario.ingest {
        let located = locate_corpus(scenario, "locating the corpus").await?;
        let (path, source) = prepare_subset(scenario, dir, located)?;
        corpus_info = ingest(scenario, &api, &mint, &path, source).await?;
    }
    let health = api.health().await?;
    if health.status == HealthStatus::Red {
        return Err(RunError::Unhealthy(format!(
            "{base_url}/health is red: {}; fix the server before measuring it",
            describe_backends(&health)
        )));
    }
    corpus_info.vectors = health.vectors;
    Ok(Up {
        base_url: base_url.trim_end_matches('/').to_string(),
        secret,
        server: None,
        corpus: corpus_info,
        health,
        startup: None,
        store: None,
        store_note: None,
        containers: None,
    })
}

fn describe_backends(h: &Health) -> String {
    let parts: Vec<String> = h
        .backends
        .iter()
        .map(|(role, b)| {
            format!(
                "{role} {} {}{}",
                b.name.as_deref().unwrap_or("?"),
                b.state.as_deref().unwrap_or("?"),
                b.detail
                    .as_deref()
                    .map(|d| format!(" ({d})"))
                    .unwrap_or_default()
            )
        })
        .collect();
    if parts.is_empty() {
        "no backends listed".into()
    } else {
        parts.join(", ")
    }
}

/// Waits until `/health` says the server can be measured: green, or yellow when the
/// generator is off on purpose and vectors are there (servers that report a disabled
/// generator as yellow).
/// Ingests the run's corpus, if it has one, then waits until the server is ready: the
/// corpus's figures (with the vector count the server reports) and the ready health.
pub(super) async fn ingest_then_ready(
    scenario: &Scenario,
    api: &Api,
    mint: &TokenMint,
    corpus_dir: Option<(PathBuf, String)>,
) -> Result<(CorpusInfo, Health), RunError> {
    let mut corpus_info = CorpusInfo {
        source: corpus::DEFAULT_SOURCE.into(),
        ..Default::default()
    };
    if let Some((path, source)) = corpus_dir {
        corpus_info = ingest(scenario, api, mint, &path, source).await?;
    }
    let health = wait_ready(scenario, api).await?;
    corpus_info.vectors = health.vectors.or(corpus_info.vectors);
    Ok((corpus_info, health))
}

pub(super) async fn wait_ready(scenario: &Scenario, api: &Api) -> Result<Health, RunError> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let h = api.health().await;
        if let Ok(h) = &h {
            let has_vectors = h.vectors.unwrap_or(0) > 0 || !scenario.ingest;
            let ok = match h.status {
                HealthStatus::Green => true,
                HealthStatus::Yellow => !scenario.generator && has_vectors,
                HealthStatus::Red => false,
            };
            if ok {
                return Ok(h.clone());
            }
        }
        if Instant::now() >= deadline {
            return match h {
                Ok(h) => Err(RunError::Unhealthy(format!(
                    "the server did not become ready within 60s: /health is {} with {} vectors; {}. \
                     See server.log in the run folder",
                    h.status.name(),
                    h.vectors
                        .map(|v| v.to_string())
                        .unwrap_or_else(|| "?".into()),
                    describe_backends(&h)
                ))),
                Err(e) => Err(e.into()),
            };
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
