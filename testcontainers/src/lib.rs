//! Containers for ragbench's scale-out stacks: a Qdrant server and an Ollama server, started
//! with testcontainers from their public images.
//!
//! The embedded stack needs none of this. The harness's `containers` stack and the tests of the
//! remote backends use it; with no Docker daemon reachable every start fails fast with
//! [`ContainerError::NoDocker`], which callers report (and tests skip on) instead of hanging.

use std::time::Duration;

use testcontainers::core::{ContainerPort, IntoContainerPort, WaitFor};
use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, GenericImage, ImageExt, TestcontainersError};

/// Why a container is not running.
#[derive(Debug, thiserror::Error)]
pub enum ContainerError {
    /// No Docker (or compatible) daemon answered.
    #[error(
        "no Docker daemon is reachable ({0}): start Docker, set DOCKER_HOST, or use the \
         embedded stack"
    )]
    NoDocker(String),
    /// The daemon answered but the container did not come up.
    #[error("container {image} did not start: {message}")]
    Start {
        /// The image.
        image: String,
        /// What the daemon or the wait said.
        message: String,
    },
}

fn classify(image: &str, e: TestcontainersError) -> ContainerError {
    match e {
        // Every client error (not only the init one) means the daemon is not usable.
        TestcontainersError::Client(e) => ContainerError::NoDocker(e.to_string()),
        other => ContainerError::Start {
            image: image.into(),
            message: other.to_string(),
        },
    }
}

/// Image tags pinned so a run is repeatable.
pub const QDRANT_IMAGE: (&str, &str) = ("qdrant/qdrant", "v1.15.4");
/// Ollama's image.
pub const OLLAMA_IMAGE: (&str, &str) = ("ollama/ollama", "0.11.10");

/// A running Qdrant server; stopped and removed when dropped.
pub struct QdrantContainer {
    _container: ContainerAsync<GenericImage>,
    /// REST endpoint, e.g. `http://127.0.0.1:32768`.
    pub http_url: String,
    /// gRPC endpoint for `qdrant-client`.
    pub grpc_url: String,
}

/// Starts `qdrant/qdrant` and waits until it serves.
pub async fn start_qdrant() -> Result<QdrantContainer, ContainerError> {
    let (name, tag) = QDRANT_IMAGE;
    let container = GenericImage::new(name, tag)
        .with_exposed_port(6333.tcp())
        .with_exposed_port(6334.tcp())
        .with_wait_for(WaitFor::message_on_stdout("Qdrant gRPC listening"))
        .with_startup_timeout(Duration::from_secs(120))
        .start()
        .await
        .map_err(|e| classify(name, e))?;
    let http = host_port(&container, name, 6333.tcp()).await?;
    let grpc = host_port(&container, name, 6334.tcp()).await?;
    Ok(QdrantContainer {
        _container: container,
        http_url: format!("http://{http}"),
        grpc_url: format!("http://{grpc}"),
    })
}

/// A running Ollama server; stopped and removed when dropped.
pub struct OllamaContainer {
    _container: ContainerAsync<GenericImage>,
    /// API endpoint, e.g. `http://127.0.0.1:32769` (`/api/chat`).
    pub url: String,
}

/// Starts `ollama/ollama` and waits until its API listens. Models are pulled by the caller.
pub async fn start_ollama() -> Result<OllamaContainer, ContainerError> {
    let (name, tag) = OLLAMA_IMAGE;
    let container = GenericImage::new(name, tag)
        .with_exposed_port(11434.tcp())
        .with_wait_for(WaitFor::message_on_stderr("Listening on"))
        .with_startup_timeout(Duration::from_secs(120))
        .start()
        .await
        .map_err(|e| classify(name, e))?;
    let addr = host_port(&container, name, 11434.tcp()).await?;
    Ok(OllamaContainer {
        _container: container,
        url: format!("http://{addr}"),
    })
}

async fn host_port(
    container: &ContainerAsync<GenericImage>,
    image: &str,
    port: ContainerPort,
) -> Result<String, ContainerError> {
    let host = container.get_host().await.map_err(|e| classify(image, e))?;
    let mapped = container
        .get_host_port_ipv4(port)
        .await
        .map_err(|e| classify(image, e))?;
    Ok(format!("{host}:{mapped}"))
}
