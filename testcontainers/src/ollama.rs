//! `ollama/ollama`: its API on 11434. Ready when `ollama list` (GET /api/tags) succeeds
//! inside the container, the health check `deploy/compose.yaml` uses. The GPU is requested
//! only when asked (`Launch::gpu`). Pulled models live in a named volume, as in the compose
//! stack, so a second run does not pull them again; the server pulls the model it needs and
//! loads it before it listens, so the load never waits on a pull.

use std::borrow::Cow;
use std::time::Duration;

use testcontainers::core::{ContainerPort, Mount, WaitFor};
use testcontainers::{ContainerRequest, Healthcheck, Image, ImageExt};

use crate::launch::{Launch, apply};
use crate::pins::{self, ImageRef};
use crate::running::Running;
use crate::{ContainerError, check_daemon};

/// Ollama's API port.
pub const API_PORT: u16 = 11434;
/// The named volume that keeps pulled models between runs.
pub const MODELS_VOLUME: &str = "ragbench-ollama-models";
/// Where the image keeps its models.
const MODELS_PATH: &str = "/root/.ollama";

const PORTS: [ContainerPort; 1] = [ContainerPort::Tcp(API_PORT)];

/// The Ollama image, with its models volume.
#[derive(Debug, Clone)]
pub struct Ollama {
    image: ImageRef,
    mounts: Vec<Mount>,
}

impl Ollama {
    /// Ollama at `image` (normally [`pins::ollama`]), keeping models in `models_volume`
    /// (`None`: in the container, pulled again every run).
    pub fn new(image: ImageRef, models_volume: Option<&str>) -> Ollama {
        let mounts = models_volume
            .map(|v| vec![Mount::volume_mount(v, MODELS_PATH)])
            .unwrap_or_default();
        Ollama { image, mounts }
    }
}

impl Default for Ollama {
    fn default() -> Ollama {
        Ollama::new(pins::ollama(), Some(MODELS_VOLUME))
    }
}

impl Image for Ollama {
    fn name(&self) -> &str {
        &self.image.name
    }

    fn tag(&self) -> &str {
        &self.image.tag
    }

    fn ready_conditions(&self) -> Vec<WaitFor> {
        vec![WaitFor::healthcheck()]
    }

    fn env_vars(
        &self,
    ) -> impl IntoIterator<Item = (impl Into<Cow<'_, str>>, impl Into<Cow<'_, str>>)> {
        // The image's default too; written out so a changed default cannot close the port.
        [("OLLAMA_HOST", "0.0.0.0:11434")]
    }

    fn mounts(&self) -> impl IntoIterator<Item = &Mount> {
        &self.mounts
    }

    fn expose_ports(&self) -> &[ContainerPort] {
        &PORTS
    }
}

/// `ollama list` (GET /api/tags) polled every second; the image has no curl.
pub fn readiness_check() -> Healthcheck {
    Healthcheck::cmd(["ollama", "list"])
        .with_interval(Duration::from_secs(1))
        .with_timeout(Duration::from_secs(5))
        .with_retries(120)
}

/// The container request: the image, its health check and the launch settings (the GPU
/// request among them when `launch.gpu`).
pub fn request(image: Ollama, launch: &Launch) -> Result<ContainerRequest<Ollama>, ContainerError> {
    apply(image.with_health_check(readiness_check()), launch, "ollama")
}

/// A running Ollama server.
#[derive(Debug)]
pub struct OllamaContainer {
    /// The container (removed when dropped).
    pub container: Running<Ollama>,
    /// The API as the host reaches it, e.g. `http://127.0.0.1:32769`: the server's
    /// `[generator] url`.
    pub url: String,
}

/// Starts Ollama and waits until its API answers. Models are pulled by the server.
pub async fn start_ollama(
    image: Ollama,
    launch: &Launch,
) -> Result<OllamaContainer, ContainerError> {
    check_daemon().await?;
    let container = Running::start(request(image, launch)?).await?;
    let url = container.url(API_PORT).await?;
    Ok(OllamaContainer { container, url })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::launch::gpu_request;
    use testcontainers::core::MountType;

    #[test]
    fn the_image_is_pinned_exposes_its_api_and_keeps_models_in_a_volume() {
        let image = Ollama::default();
        assert_eq!(image.name(), "ollama/ollama");
        assert_eq!(image.tag(), pins::OLLAMA_TAG);
        assert_eq!(image.expose_ports(), &[ContainerPort::Tcp(11434)]);
        let env: Vec<(String, String)> = image
            .env_vars()
            .into_iter()
            .map(|(k, v)| (k.into().into_owned(), v.into().into_owned()))
            .collect();
        assert_eq!(env, vec![("OLLAMA_HOST".into(), "0.0.0.0:11434".into())]);
        let mounts: Vec<&Mount> = image.mounts().into_iter().collect();
        assert_eq!(mounts.len(), 1);
        assert_eq!(mounts[0].mount_type(), MountType::Volume);
        assert_eq!(mounts[0].source(), Some(MODELS_VOLUME));
        assert_eq!(mounts[0].target(), Some("/root/.ollama"));
        let bare = Ollama::new(pins::ollama(), None);
        assert_eq!(bare.mounts().into_iter().count(), 0);
        let ready = image.ready_conditions();
        assert!(
            matches!(ready.as_slice(), [WaitFor::Healthcheck(_)]),
            "{ready:?}"
        );
    }

    #[test]
    fn ready_means_ollama_list_succeeds() {
        let check = readiness_check();
        assert_eq!(check.test(), ["CMD", "ollama", "list"]);
        assert_eq!(check.interval(), Some(Duration::from_secs(1)));
    }

    #[test]
    fn the_gpu_is_requested_only_when_asked() {
        let cpu = request(Ollama::default(), &Launch::default()).unwrap();
        assert!(cpu.device_requests().is_none());
        assert!(cpu.health_check().is_some());
        assert_eq!(
            cpu.labels().get("ragbench").map(String::as_str),
            Some("ollama")
        );
        let launch = Launch {
            gpu: true,
            ..Launch::default()
        };
        let gpu = request(Ollama::default(), &launch).unwrap();
        let requested = gpu.device_requests().expect("a GPU request");
        assert_eq!(requested, &[gpu_request()]);
        assert_eq!(requested[0].driver.as_deref(), Some("nvidia"));
        assert_eq!(requested[0].count, Some(-1));
        assert_eq!(
            requested[0].capabilities,
            Some(vec![vec!["gpu".to_string()]])
        );
    }
}
