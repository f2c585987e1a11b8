//! The ragbench server's own image (`deploy/Dockerfile`, tagged `ragbench-server:VERSION` by
//! `docker compose build`), for a stack where the server runs in a container beside Qdrant and
//! Ollama. The image is built by the user, never pulled; it is ready when the server prints
//! its "listening" line, which it does only after its backends answered and the Ollama model
//! is loaded.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::Path;

use testcontainers::core::{AccessMode, ContainerPort, Mount, WaitFor};
use testcontainers::{ContainerRequest, Image};

use crate::launch::{Launch, apply};
use crate::pins::{self, ImageRef};
use crate::running::Running;
use crate::{ContainerError, check_daemon};

/// The port the image's server listens on.
pub const HTTP_PORT: u16 = 8080;
/// The line the server prints on stdout once it listens.
pub const LISTENING: &str = "ragbench-server listening on ";

const PORTS: [ContainerPort; 1] = [ContainerPort::Tcp(HTTP_PORT)];

/// The server image, its environment, the folders it reads and whether it loads a generator.
#[derive(Debug, Clone)]
pub struct ServerImage {
    image: ImageRef,
    env: BTreeMap<String, String>,
    mounts: Vec<Mount>,
    cmd: Vec<String>,
}

impl ServerImage {
    /// The server at `image` (normally [`pins::server`]) with `env` (`RAGBENCH_*`), serving on
    /// 8080, with `--no-generator` unless `generator`.
    pub fn new(image: ImageRef, env: BTreeMap<String, String>, generator: bool) -> ServerImage {
        let mut cmd: Vec<String> = ["serve", "--listen", "0.0.0.0:8080"]
            .into_iter()
            .map(String::from)
            .collect();
        if !generator {
            cmd.push("--no-generator".into());
        }
        ServerImage {
            image,
            env,
            mounts: Vec::new(),
            cmd,
        }
    }

    /// Mounts a host folder read-only at the same path, so a path the harness names in an
    /// ingest request means the same files inside the container.
    pub fn with_folder(mut self, folder: &Path) -> ServerImage {
        let path = folder.display().to_string();
        self.mounts
            .push(Mount::bind_mount(path.clone(), path).with_access_mode(AccessMode::ReadOnly));
        self
    }
}

impl Default for ServerImage {
    fn default() -> ServerImage {
        ServerImage::new(pins::server(), BTreeMap::new(), true)
    }
}

impl Image for ServerImage {
    fn name(&self) -> &str {
        &self.image.name
    }

    fn tag(&self) -> &str {
        &self.image.tag
    }

    fn ready_conditions(&self) -> Vec<WaitFor> {
        vec![WaitFor::message_on_stdout(LISTENING)]
    }

    fn env_vars(
        &self,
    ) -> impl IntoIterator<Item = (impl Into<Cow<'_, str>>, impl Into<Cow<'_, str>>)> {
        self.env.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    fn mounts(&self) -> impl IntoIterator<Item = &Mount> {
        &self.mounts
    }

    fn cmd(&self) -> impl IntoIterator<Item = impl Into<Cow<'_, str>>> {
        self.cmd.iter().map(String::as_str)
    }

    fn expose_ports(&self) -> &[ContainerPort] {
        &PORTS
    }
}

/// The container request with the launch settings.
pub fn request(
    image: ServerImage,
    launch: &Launch,
) -> Result<ContainerRequest<ServerImage>, ContainerError> {
    apply(ContainerRequest::from(image), launch, "server")
}

/// A running server container.
#[derive(Debug)]
pub struct ServerContainer {
    /// The container (removed when dropped).
    pub container: Running<ServerImage>,
    /// Its base URL as the host reaches it, e.g. `http://127.0.0.1:32770`.
    pub base_url: String,
}

/// Starts the server image and waits for its "listening" line.
pub async fn start_server(
    image: ServerImage,
    launch: &Launch,
) -> Result<ServerContainer, ContainerError> {
    check_daemon().await?;
    let container = Running::start(request(image, launch)?).await?;
    let base_url = container.url(HTTP_PORT).await?;
    Ok(ServerContainer {
        container,
        base_url,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(image: &ServerImage) -> Vec<(String, String)> {
        image
            .env_vars()
            .into_iter()
            .map(|(k, v)| (k.into().into_owned(), v.into().into_owned()))
            .collect()
    }

    fn cmd(image: &ServerImage) -> Vec<String> {
        image
            .cmd()
            .into_iter()
            .map(|c| c.into().into_owned())
            .collect()
    }

    #[test]
    fn the_image_serves_on_8080_with_its_environment_and_waits_for_the_listening_line() {
        let vars: BTreeMap<String, String> = [
            ("RAGBENCH_STORE__BACKEND", "qdrant"),
            ("RAGBENCH_STORE__URL", "http://ragbench-qdrant-x:6334"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let image = ServerImage::new(pins::server(), vars, true);
        assert_eq!(image.name(), "ragbench-server");
        assert_eq!(image.tag(), env!("CARGO_PKG_VERSION"));
        assert_eq!(image.expose_ports(), &[ContainerPort::Tcp(8080)]);
        assert_eq!(
            env(&image),
            vec![
                ("RAGBENCH_STORE__BACKEND".into(), "qdrant".into()),
                (
                    "RAGBENCH_STORE__URL".into(),
                    "http://ragbench-qdrant-x:6334".into()
                ),
            ]
        );
        assert_eq!(cmd(&image), ["serve", "--listen", "0.0.0.0:8080"]);
        let ready = format!("{:?}", image.ready_conditions());
        assert!(ready.contains("StdOut"), "{ready}");
        assert!(ready.contains("ragbench-server listening on"), "{ready}");
    }

    #[test]
    fn without_a_generator_the_server_is_told_so_and_folders_are_mounted_read_only() {
        let image = ServerImage::new(pins::server(), BTreeMap::new(), false)
            .with_folder(Path::new("/runs/x/corpus"));
        assert_eq!(
            cmd(&image),
            ["serve", "--listen", "0.0.0.0:8080", "--no-generator"]
        );
        let mounts: Vec<&Mount> = image.mounts().into_iter().collect();
        assert_eq!(mounts.len(), 1);
        assert_eq!(mounts[0].source(), Some("/runs/x/corpus"));
        assert_eq!(mounts[0].target(), Some("/runs/x/corpus"));
        assert_eq!(mounts[0].access_mode(), AccessMode::ReadOnly);
        let request = request(image, &Launch::default()).unwrap();
        assert!(request.device_requests().is_none());
        assert_eq!(
            request.labels().get("ragbench").map(String::as_str),
            Some("server")
        );
    }
}
