//! The containers stack brought up for a run: the corpus first (a failure there should not
//! wait on image pulls), then Qdrant and Ollama, then the server against them (a child process,
//! or the server image on the containers' network), the ingest into the fresh Qdrant, and
//! `/health` until it can be measured. The whole bring-up races ctrl-c: dropped, it removes
//! every container it started.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::bring_up::{Up, ingest_then_ready, start_server};
use super::corpus::run_corpus;
use super::{RunError, RunOptions};
use crate::auth::{self, TokenMint};
use crate::load::client::Api;
use crate::output::console;
use crate::scenario::Scenario;
use crate::stack::StackError;
use crate::stack::containers::{ContainersSpec, ContainersStack, OllamaUse, ServerMode};

/// Checks the Docker daemon, then brings the stack up unless ctrl-c comes first.
pub(super) async fn bring_up(
    scenario: &Scenario,
    opts: &RunOptions,
    dir: &Path,
    spec: &ContainersSpec,
    lifetime: Duration,
) -> Result<Up, RunError> {
    check_docker().await?;
    tokio::select! {
        up = bring_up_containers(scenario, opts, dir, spec, lifetime) => up,
        _ = tokio::signal::ctrl_c() => Err(StackError::Interrupted.into()),
    }
}

/// A reachable Docker daemon, or the one-line error that says what to do.
pub(super) async fn check_docker() -> Result<(), RunError> {
    ragbench_containers::check_daemon()
        .await
        .map_err(|e| StackError::from(e).into())
}

async fn bring_up_containers(
    scenario: &Scenario,
    opts: &RunOptions,
    dir: &Path,
    spec: &ContainersSpec,
    lifetime: Duration,
) -> Result<Up, RunError> {
    let secret = auth::random_secret();
    // Absolute: a server container sees the folder mounted at this same path.
    let corpus_dir = run_corpus(scenario, dir)
        .await?
        .map(|(path, source)| (std::fs::canonicalize(&path).unwrap_or(path), source));
    let uses = OllamaUse::of(scenario.generator, &scenario.server_env);
    let mut stack = ContainersStack::start(spec, uses, dir, scenario.startup_timeout).await?;
    let (base_url, server, startup) = match spec.server {
        ServerMode::Process => {
            // The embedded stack's child, pointed at the containers' mapped ports.
            let mut against_containers = scenario.clone();
            against_containers
                .server_env
                .extend(stack.server_env(false));
            let server =
                start_server(&against_containers, opts, dir, &secret, corpus_dir.as_ref()).await?;
            let startup = (server.startup_s, "server.log".to_string());
            (server.base_url.clone(), Some(server), startup)
        }
        ServerMode::Image => {
            let started = Instant::now();
            let env = image_env(scenario, &stack, &secret, corpus_dir.as_ref());
            let spin = console::spinner(format!(
                "starting the server image {} (a first start fetches the models)",
                spec.server_image
            ));
            let url = stack
                .start_server(
                    &spec.server_image,
                    env,
                    scenario.generator,
                    corpus_dir.as_ref().map(|(p, _)| p.as_path()),
                    scenario.startup_timeout,
                )
                .await?;
            spin.finish_and_clear();
            console::step(format!("server container listening on {url}"));
            let startup = (
                started.elapsed().as_secs_f64(),
                ContainersStack::server_log(),
            );
            (url, None, startup)
        }
    };
    let api = Api::new(&base_url);
    let mint = TokenMint::new(&secret, lifetime);
    let (corpus_info, health) = ingest_then_ready(scenario, &api, &mint, corpus_dir).await?;
    stack.watch_interrupts();
    Ok(Up::containers(
        base_url,
        secret,
        server,
        corpus_info,
        health,
        startup,
        stack,
    ))
}

/// A server container's environment: the scenario's, the containers' addresses on the
/// network, the run's secret, and the corpus (mounted at its own path) as the folder it may
/// ingest.
fn image_env(
    scenario: &Scenario,
    stack: &ContainersStack,
    secret: &str,
    corpus: Option<&(PathBuf, String)>,
) -> BTreeMap<String, String> {
    let mut env = scenario.server_env.clone();
    env.extend(stack.server_env(true));
    env.insert("RAGBENCH_JWT_SECRET".into(), secret.into());
    if let Some((path, _)) = corpus {
        let roots =
            serde_json::to_string(&[path.display().to_string()]).unwrap_or_else(|_| "[]".into());
        env.entry("RAGBENCH_INGEST__ALLOWED_ROOTS".into())
            .or_insert(roots);
    }
    env
}
