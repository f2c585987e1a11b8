//! `qdrant/qdrant`: REST on 6333, gRPC on 6334 (what the server's `qdrant-client` backend
//! speaks). Ready when `GET /readyz` answers 200, checked inside the container by a Docker
//! health check written as `deploy/compose.yaml`'s (the image has bash but no curl or wget),
//! so the harness and the compose stack agree on what "ready" means.

use std::borrow::Cow;
use std::time::Duration;

use testcontainers::core::{ContainerPort, WaitFor};
use testcontainers::{ContainerRequest, Healthcheck, Image, ImageExt};

use crate::launch::{Launch, apply};
use crate::pins::{self, ImageRef};
use crate::running::Running;
use crate::{ContainerError, check_daemon};

/// Qdrant's REST port (`/readyz`, the dashboard).
pub const REST_PORT: u16 = 6333;
/// Qdrant's gRPC port, the one the server connects to.
pub const GRPC_PORT: u16 = 6334;
/// The path that answers 200 once Qdrant serves.
pub const READY_PATH: &str = "/readyz";

const PORTS: [ContainerPort; 2] = [ContainerPort::Tcp(REST_PORT), ContainerPort::Tcp(GRPC_PORT)];

/// The Qdrant image.
#[derive(Debug, Clone)]
pub struct Qdrant {
    image: ImageRef,
}

impl Qdrant {
    /// Qdrant at `image` (normally [`pins::qdrant`]).
    pub fn new(image: ImageRef) -> Qdrant {
        Qdrant { image }
    }
}

impl Default for Qdrant {
    fn default() -> Qdrant {
        Qdrant::new(pins::qdrant())
    }
}

impl Image for Qdrant {
    fn name(&self) -> &str {
        &self.image.name
    }

    fn tag(&self) -> &str {
        &self.image.tag
    }

    fn ready_conditions(&self) -> Vec<WaitFor> {
        // The health check below: GET /readyz from inside the container.
        vec![WaitFor::healthcheck()]
    }

    fn env_vars(
        &self,
    ) -> impl IntoIterator<Item = (impl Into<Cow<'_, str>>, impl Into<Cow<'_, str>>)> {
        [("QDRANT__TELEMETRY_DISABLED", "true")]
    }

    fn expose_ports(&self) -> &[ContainerPort] {
        &PORTS
    }
}

/// `GET /readyz` with bash alone, healthy on status 200; polled every second.
pub fn readiness_check() -> Healthcheck {
    let script = format!(
        r#"exec 3<>/dev/tcp/127.0.0.1/{REST_PORT} && printf 'GET {READY_PATH} HTTP/1.0\r\nHost: localhost\r\n\r\n' >&3 && read -r -t 2 _ code _ <&3 && [ "$code" = 200 ]"#
    );
    Healthcheck::cmd(["bash", "-c", script.as_str()])
        .with_interval(Duration::from_secs(1))
        .with_timeout(Duration::from_secs(3))
        .with_retries(120)
}

/// The container request: the image, its health check and the launch settings.
pub fn request(
    image: ImageRef,
    launch: &Launch,
) -> Result<ContainerRequest<Qdrant>, ContainerError> {
    let request = Qdrant::new(image).with_health_check(readiness_check());
    apply(request, launch, "qdrant")
}

/// A running Qdrant server.
#[derive(Debug)]
pub struct QdrantContainer {
    /// The container (removed when dropped).
    pub container: Running<Qdrant>,
    /// REST, as the host reaches it, e.g. `http://127.0.0.1:32768`.
    pub rest_url: String,
    /// gRPC, as the host reaches it: the server's `[store] url`.
    pub grpc_url: String,
}

/// Starts Qdrant and waits until `/readyz` answers 200.
pub async fn start_qdrant(
    image: ImageRef,
    launch: &Launch,
) -> Result<QdrantContainer, ContainerError> {
    check_daemon().await?;
    let container = Running::start(request(image, launch)?).await?;
    let rest_url = container.url(REST_PORT).await?;
    let grpc_url = container.url(GRPC_PORT).await?;
    Ok(QdrantContainer {
        container,
        rest_url,
        grpc_url,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(image: &Qdrant) -> Vec<(String, String)> {
        image
            .env_vars()
            .into_iter()
            .map(|(k, v)| (k.into().into_owned(), v.into().into_owned()))
            .collect()
    }

    #[test]
    fn the_image_is_pinned_exposes_rest_and_grpc_and_waits_for_its_health_check() {
        let image = Qdrant::default();
        assert_eq!(image.name(), "qdrant/qdrant");
        assert_eq!(image.tag(), pins::QDRANT_TAG);
        assert_eq!(
            image.expose_ports(),
            &[ContainerPort::Tcp(6333), ContainerPort::Tcp(6334)]
        );
        assert_eq!(
            env(&image),
            vec![("QDRANT__TELEMETRY_DISABLED".into(), "true".into())]
        );
        let ready = image.ready_conditions();
        assert_eq!(ready.len(), 1);
        assert!(matches!(ready[0], WaitFor::Healthcheck(_)), "{ready:?}");
    }

    #[test]
    fn the_health_check_asks_readyz_on_the_rest_port() {
        let check = readiness_check();
        let test = check.test();
        assert_eq!(&test[..3], ["CMD", "bash", "-c"]);
        assert!(test[3].contains("/dev/tcp/127.0.0.1/6333"), "{}", test[3]);
        assert!(test[3].contains("GET /readyz HTTP/1.0"), "{}", test[3]);
        assert!(test[3].contains(r#"[ "$code" = 200 ]"#), "{}", test[3]);
        assert_eq!(check.interval(), Some(Duration::from_secs(1)));
    }

    #[test]
    fn the_request_carries_the_check_and_the_launch_and_asks_no_gpu() {
        let dir = tempfile::tempdir().unwrap();
        let launch = Launch {
            network: Some("ragbench-run1".into()),
            name: Some("ragbench-qdrant-run1".into()),
            log: Some(dir.path().join("containers/qdrant.log")),
            startup_timeout: Some(Duration::from_secs(90)),
            gpu: false,
        };
        let custom = ImageRef::parse("qdrant/qdrant:v1.17.0").unwrap();
        let request = request(custom, &launch).unwrap();
        assert_eq!(request.descriptor(), "qdrant/qdrant:v1.17.0");
        assert!(request.health_check().is_some());
        assert_eq!(request.network().as_deref(), Some("ragbench-run1"));
        assert_eq!(
            request.container_name().as_deref(),
            Some("ragbench-qdrant-run1")
        );
        assert_eq!(
            request.labels().get("ragbench").map(String::as_str),
            Some("qdrant")
        );
        assert_eq!(request.startup_timeout(), Some(Duration::from_secs(90)));
        assert!(request.device_requests().is_none());
        assert!(dir.path().join("containers/qdrant.log").is_file());
    }
}
