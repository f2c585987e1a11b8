//! What every container of a stack shares: the run's network, a name on it, a log file, a
//! startup limit, a GPU request and the label that marks it as ragbench's. Each definition
//! (`qdrant`, `ollama`, `server`) says what is particular to its image; this says how it is
//! launched, so the three are launched alike.

use std::path::PathBuf;
use std::time::Duration;

use testcontainers::bollard::models::DeviceRequest;
use testcontainers::{ContainerRequest, Image, ImageExt};

use crate::ContainerError;
use crate::logs::FileLog;

/// The label every container started here carries (`docker ps --filter label=ragbench`).
pub const LABEL: &str = "ragbench";

/// How a container is launched.
#[derive(Debug, Clone, Default)]
pub struct Launch {
    /// A Docker network to join (created when missing, removed with its last container),
    /// so the containers reach one another by name.
    pub network: Option<String>,
    /// The container's name, and so its host name on the network; Docker picks one if `None`.
    pub name: Option<String>,
    /// A file that receives the container's stdout and stderr from its creation on, so a
    /// container that fails to start still leaves its log.
    pub log: Option<PathBuf>,
    /// How long it may take to become ready (image pull excluded); testcontainers' default
    /// (1 min) if `None`.
    pub startup_timeout: Option<Duration>,
    /// Request every NVIDIA GPU for it (`docker run --gpus all`).
    pub gpu: bool,
}

/// The GPU request: all NVIDIA GPUs with the `gpu` capability, as `deploy/compose.gpu.yaml`
/// reserves them.
pub fn gpu_request() -> DeviceRequest {
    DeviceRequest {
        driver: Some("nvidia".into()),
        count: Some(-1),
        capabilities: Some(vec![vec!["gpu".into()]]),
        ..Default::default()
    }
}

/// Applies `launch` to a container request. `role` (`qdrant`, `ollama`, `server`) is the
/// label's value.
pub(crate) fn apply<I: Image>(
    request: ContainerRequest<I>,
    launch: &Launch,
    role: &str,
) -> Result<ContainerRequest<I>, ContainerError> {
    let mut request = request.with_label(LABEL, role);
    if let Some(network) = &launch.network {
        request = request.with_network(network.clone());
    }
    if let Some(name) = &launch.name {
        request = request.with_container_name(name.clone());
    }
    if let Some(timeout) = launch.startup_timeout {
        request = request.with_startup_timeout(timeout);
    }
    if launch.gpu {
        request = request.with_device_requests(vec![gpu_request()]);
    }
    if let Some(path) = &launch.log {
        let log = FileLog::create(path).map_err(|source| ContainerError::Log {
            path: path.display().to_string(),
            source,
        })?;
        request = request.with_log_consumer(log);
    }
    Ok(request)
}
