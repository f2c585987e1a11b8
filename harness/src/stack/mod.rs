//! Bringing up what the load runs against: an [`embedded`] server child process, Qdrant and
//! Ollama in [`containers`] with the server against them, or an external server somebody else
//! started; the [`corpus`] it is given, and the [`ingest`] job that loads it.

pub mod containers;
pub mod corpus;
pub mod embedded;
pub mod ingest;
pub mod store_cache;

use std::path::PathBuf;

pub use embedded::{ServerChild, ServerSpec};

/// Why the stack could not be brought up.
#[derive(Debug, thiserror::Error)]
pub enum StackError {
    /// A file or folder could not be created.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The server executable could not be started.
    #[error("cannot start the server ({exe}): {source}")]
    Spawn {
        exe: PathBuf,
        source: std::io::Error,
    },
    /// The server exited before it listened.
    #[error(
        "the server exited ({status}) before it was listening. Its log ({log}) ends with:\n{tail}"
    )]
    ServerExited {
        status: String,
        log: PathBuf,
        tail: String,
    },
    /// The server did not listen in time.
    #[error(
        "the server did not start listening within {waited}s (raise [stack] startup_timeout if \
         a first start is fetching models). Its log ({log}) ends with:\n{tail}"
    )]
    StartupTimeout {
        /// Seconds waited.
        waited: u64,
        log: PathBuf,
        tail: String,
    },
    /// The server's ingest job failed.
    #[error("the server's ingest job {job} failed ({status} {code}): {message}")]
    IngestFailed {
        job: String,
        /// The status the synchronous call would have answered.
        status: u16,
        /// Machine-readable code.
        code: String,
        /// The server's message.
        message: String,
    },
    /// The server's ingest job did not finish in time.
    #[error(
        "the server's ingest job {job} did not finish within {waited}s (raise [corpus] \
         ingest_timeout); it was {progress}"
    )]
    IngestTimeout {
        job: String,
        /// Seconds waited.
        waited: u64,
        progress: String,
    },
    /// A call starting or following the ingest job failed.
    #[error(transparent)]
    IngestCall(#[from] crate::load::client::ClientError),
    /// A container of the containers stack did not start, or no Docker daemon answered.
    #[error(transparent)]
    Containers(#[from] ragbench_containers::ContainerError),
    /// The server image did not start.
    #[error(
        "the server image {image} did not start: {source} (build it first: docker build -f \
         deploy/Dockerfile -t {image} .; see deploy/README.md)"
    )]
    ServerImage {
        image: String,
        source: ragbench_containers::ContainerError,
    },
    /// ctrl-c during the bring-up.
    #[error("interrupted (ctrl-c) while bringing up the stack; every container was removed")]
    Interrupted,
    /// An external stack was given without the secret its tokens need.
    #[error(
        "the external server's JWT secret is needed to mint tokens: set {env} or pass --jwt-secret"
    )]
    NoSecret {
        /// The environment variable looked at.
        env: String,
    },
}
