//! Containers for ragbench's scale-out stack: a Qdrant server, an Ollama server and the
//! ragbench server's own image, started with testcontainers from pinned images.
//!
//! The embedded stack needs none of this. The harness's `containers` stack uses it, and so
//! can any test of the remote backends: the definitions are plain values (`Image`s and
//! container requests) that can be checked without a daemon, and `start` functions that run
//! them. With no Docker daemon reachable, [`check_daemon`] says so at once
//! ([`ContainerError::NoDocker`]); callers report it, tests skip on it.
//!
//! Layout: [`pins`] the images' tags (one place, kept equal to `deploy/compose.yaml`'s);
//! [`launch`] what every container shares (network, name, log file, GPU request, label);
//! [`qdrant`], [`ollama`], [`server`] one definition each; [`running`] a started container,
//! removed when dropped; `reaper` removes what an `exit` would leave behind; [`logs`] the
//! log file; `docker` the daemon check.

mod docker;
pub mod launch;
pub mod logs;
pub mod ollama;
pub mod pins;
pub mod qdrant;
mod reaper;
pub mod running;
pub mod server;

use testcontainers::TestcontainersError;
use testcontainers::core::client::ClientError;

pub use docker::check_daemon;
pub use launch::Launch;
pub use ollama::{OllamaContainer, start_ollama};
pub use pins::{ImageRef, ImageRefError};
pub use qdrant::{QdrantContainer, start_qdrant};
pub use reaper::live as live_containers;
pub use running::Running;
pub use server::{ServerContainer, start_server};

/// Why a container is not running.
#[derive(Debug, thiserror::Error)]
pub enum ContainerError {
    /// No Docker (or compatible) daemon answered.
    #[error(
        "no Docker daemon is reachable ({0}): start Docker (or set DOCKER_HOST to a running \
         daemon), or run the scenario on the embedded stack"
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
    /// The container's log file could not be created.
    #[error("cannot create the container log {path}: {source}")]
    Log {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
}

/// Sorts a testcontainers error: a client that cannot reach a daemon, or a container that
/// did not start.
pub(crate) fn classify(image: &str, e: TestcontainersError) -> ContainerError {
    match e {
        TestcontainersError::Client(
            e @ (ClientError::Init(_)
            | ClientError::Configuration(_)
            | ClientError::InvalidDockerHost(_)),
        ) => ContainerError::NoDocker(docker::one_line(&e.to_string())),
        other => ContainerError::Start {
            image: image.into(),
            message: docker::one_line(&other.to_string()),
        },
    }
}
