//! The containers stack: Qdrant and Ollama in containers started with testcontainers (the
//! definitions live in `ragbench-containers`, shared with the server's tests), then the
//! server against them, as a child process (the embedded stack's `ServerChild`) or as a
//! container of the server image.
//!
//! Every container joins one network named after the run, so a server container reaches the
//! others by name; a server process reaches them on their mapped ports. Their logs go to
//! `containers/*.log` in the run folder as they are written. They are removed when the stack
//! is removed or dropped (every error path drops it), on a ctrl-c during the bring-up (the
//! bring-up is dropped), and when the process exits on a second ctrl-c (`ragbench-containers`'
//! exit hook): see [`interrupt`].

pub mod interrupt;
pub mod settings;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ragbench_containers::ollama::Ollama;
use ragbench_containers::server::ServerImage;
use ragbench_containers::{
    Launch, OllamaContainer, QdrantContainer, ServerContainer, ollama, qdrant,
};

pub use settings::{ContainersSpec, ServerMode};

use super::StackError;
use crate::output::console;

/// The folder, under the run folder, that holds the containers' logs.
pub const LOG_DIR: &str = "containers";

/// Which of the server's backends Ollama serves, given the environment the server will see.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OllamaUse {
    /// `[generator] backend = "ollama"` (the stack's default when the generator is on).
    pub generator: bool,
    /// `[embedder] backend = "ollama"` (only when the scenario says so).
    pub embedder: bool,
}

impl OllamaUse {
    /// From the scenario's server environment (over this process's): the generator uses
    /// Ollama unless the scenario names another backend; the embedder only when it names
    /// Ollama.
    pub fn of(generator_on: bool, env: &BTreeMap<String, String>) -> OllamaUse {
        let value = |key: &str| {
            env.get(key)
                .cloned()
                .or_else(|| std::env::var(key).ok())
                .map(|v| v.trim().to_ascii_lowercase())
        };
        let generator_backend = value("RAGBENCH_GENERATOR__BACKEND");
        OllamaUse {
            generator: generator_on && generator_backend.as_deref().is_none_or(|b| b == "ollama"),
            embedder: value("RAGBENCH_EMBEDDER__BACKEND").as_deref() == Some("ollama"),
        }
    }

    /// Whether an Ollama container is needed at all.
    pub fn any(self) -> bool {
        self.generator || self.embedder
    }
}

/// Qdrant, Ollama when a backend uses it, and a server container when the scenario runs the
/// server image.
#[derive(Debug)]
pub struct ContainersStack {
    qdrant: Option<QdrantContainer>,
    ollama: Option<OllamaContainer>,
    server: Option<ServerContainer>,
    /// The network and the prefix of every container's name.
    prefix: String,
    log_dir: PathBuf,
    use_gpu: bool,
    uses: OllamaUse,
    interrupts: Option<interrupt::SecondCtrlC>,
}

impl ContainersStack {
    /// Starts Qdrant, then Ollama when `uses` needs it, each waited on until ready.
    pub async fn start(
        spec: &ContainersSpec,
        uses: OllamaUse,
        run_dir: &Path,
        startup_timeout: Duration,
    ) -> Result<ContainersStack, StackError> {
        let prefix = format!(
            "ragbench-{}-{}",
            std::process::id(),
            chrono::Utc::now().format("%Y%m%d%H%M%S")
        );
        let log_dir = run_dir.join(LOG_DIR);
        let mut stack = ContainersStack {
            qdrant: None,
            ollama: None,
            server: None,
            prefix,
            log_dir,
            use_gpu: spec.use_gpu,
            uses,
            interrupts: None,
        };
        let spin = console::spinner(format!(
            "starting {} (pulled on first use), waiting for GET /readyz",
            spec.qdrant_image
        ));
        let launch = stack.launch("qdrant", startup_timeout, false);
        stack.qdrant = Some(qdrant::start_qdrant(spec.qdrant_image.clone(), &launch).await?);
        spin.finish_and_clear();
        if uses.any() {
            let spin = console::spinner(format!(
                "starting {}{} (pulled on first use), waiting for its API",
                spec.ollama_image,
                if spec.use_gpu { " with the GPU" } else { "" }
            ));
            let launch = stack.launch("ollama", startup_timeout, spec.use_gpu);
            let image = Ollama::new(spec.ollama_image.clone(), Some(ollama::MODELS_VOLUME));
            stack.ollama = Some(ollama::start_ollama(image, &launch).await?);
            spin.finish_and_clear();
        }
        console::step(format!("containers ready: {}", stack.describe()));
        Ok(stack)
    }

    /// From now on (the bring-up is over), a second ctrl-c ends the process at once and the
    /// exit hook removes the containers; see [`interrupt`].
    pub fn watch_interrupts(&mut self) {
        self.interrupts = Some(interrupt::SecondCtrlC::watch());
    }

    fn launch(&self, role: &str, startup_timeout: Duration, gpu: bool) -> Launch {
        Launch {
            network: Some(self.prefix.clone()),
            name: Some(self.name(role)),
            log: Some(self.log_dir.join(format!("{role}.log"))),
            startup_timeout: Some(startup_timeout),
            gpu,
        }
    }

    fn name(&self, role: &str) -> String {
        format!("{}-{role}", self.prefix)
    }

    /// One line: each container, its image and where the host reaches it.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(q) = &self.qdrant {
            parts.push(format!(
                "qdrant {} (gRPC {}, REST {})",
                q.container.image(),
                q.grpc_url,
                q.rest_url
            ));
        }
        if let Some(o) = &self.ollama {
            parts.push(format!("ollama {} ({})", o.container.image(), o.url));
        }
        if let Some(s) = &self.server {
            parts.push(format!("server {} ({})", s.container.image(), s.base_url));
        }
        format!("{}; logs in {LOG_DIR}/", parts.join(", "))
    }

    /// The environment that points a server at the containers: a server process on the host
    /// uses the mapped ports, a server container the names on the run's network.
    pub fn server_env(&self, in_container: bool) -> Vec<(String, String)> {
        let mut env = Vec::new();
        if let Some(q) = &self.qdrant {
            let url = if in_container {
                format!("http://{}:{}", self.name("qdrant"), qdrant::GRPC_PORT)
            } else {
                q.grpc_url.clone()
            };
            env.push(("RAGBENCH_STORE__BACKEND".into(), "qdrant".into()));
            env.push(("RAGBENCH_STORE__URL".into(), url));
        }
        if let Some(o) = &self.ollama {
            let url = if in_container {
                format!("http://{}:{}", self.name("ollama"), ollama::API_PORT)
            } else {
                o.url.clone()
            };
            if self.uses.generator {
                env.push(("RAGBENCH_GENERATOR__BACKEND".into(), "ollama".into()));
                env.push(("RAGBENCH_GENERATOR__URL".into(), url.clone()));
            }
            if self.uses.embedder {
                env.push(("RAGBENCH_EMBEDDER__URL".into(), url));
            }
        }
        env
    }

    /// Starts the server image on the run's network with `env`, the corpus folder mounted
    /// read-only at its own path, and waits for its "listening" line. Returns its base URL.
    pub async fn start_server(
        &mut self,
        image: &ragbench_containers::ImageRef,
        env: BTreeMap<String, String>,
        generator: bool,
        corpus: Option<&Path>,
        startup_timeout: Duration,
    ) -> Result<String, StackError> {
        let mut server = ServerImage::new(image.clone(), env, generator);
        if let Some(folder) = corpus {
            server = server.with_folder(folder);
        }
        let launch = self.launch("server", startup_timeout, self.use_gpu);
        let started = ragbench_containers::start_server(server, &launch)
            .await
            .map_err(|source| StackError::ServerImage {
                image: image.to_string(),
                source,
            })?;
        let url = started.base_url.clone();
        self.server = Some(started);
        Ok(url)
    }

    /// The server container's log, relative to the run folder.
    pub fn server_log() -> String {
        format!("{LOG_DIR}/server.log")
    }

    /// Stops and removes every container, the server first; says what could not be removed.
    pub async fn remove(mut self) {
        if let Some(s) = self.server.take() {
            report(s.container.remove().await);
        }
        if let Some(o) = self.ollama.take() {
            report(o.container.remove().await);
        }
        if let Some(q) = self.qdrant.take() {
            report(q.container.remove().await);
        }
        console::step(format!(
            "containers removed (logs in {})",
            self.log_dir.display()
        ));
    }
}

fn report(result: Result<(), ragbench_containers::ContainerError>) {
    if let Err(e) = result {
        console::step(format!(
            "warning: {e}; `docker ps --filter label=ragbench` lists it"
        ));
    }
}
