//! Bringing up what the load runs against: an [`embedded`] server child process, or an
//! external server somebody else started (containers arrive with the scale-out work), and
//! the [`corpus`] it is given.

pub mod corpus;
pub mod embedded;

use std::path::PathBuf;

pub use embedded::{ServerChild, ServerSpec};

/// Why the stack could not be brought up.
#[derive(Debug, thiserror::Error)]
pub enum StackError {
    /// A file or folder could not be created.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The server executable could not be started.
    #[error("cannot start the server ({exe}): {source}")]
    Spawn {
        /// The executable.
        exe: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The server exited before it listened.
    #[error(
        "the server exited ({status}) before it was listening. Its log ({log}) ends with:\n{tail}"
    )]
    ServerExited {
        /// Exit status.
        status: String,
        /// The log file.
        log: PathBuf,
        /// The log's last lines.
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
        /// The log file.
        log: PathBuf,
        /// The log's last lines.
        tail: String,
    },
    /// An external stack was given without the secret its tokens need.
    #[error(
        "the external server's JWT secret is needed to mint tokens: set {env} or pass --jwt-secret"
    )]
    NoSecret {
        /// The environment variable looked at.
        env: String,
    },
}
