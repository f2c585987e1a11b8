//! A started container and its ports as URLs. Removing it is tied to the handle: dropped or
//! [`Running::remove`]d, the container is stopped and removed (testcontainers' `rm`), and it
//! leaves the exit hook's list.

use testcontainers::core::IntoContainerPort;
use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, ContainerRequest, Image};

use crate::{ContainerError, classify, reaper};

/// A running container. Drop it inside a tokio runtime (testcontainers removes it from
/// there); the harness always does.
pub struct Running<I: Image> {
    container: Option<ContainerAsync<I>>,
    id: String,
    image: String,
}

impl<I: Image> std::fmt::Debug for Running<I> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Running")
            .field("id", &self.id)
            .field("image", &self.image)
            .finish()
    }
}

impl<I: Image> Running<I> {
    /// Pulls the image when missing, creates and starts the container, and waits until its
    /// ready conditions hold (a container that fails them is removed by testcontainers).
    pub async fn start(request: ContainerRequest<I>) -> Result<Running<I>, ContainerError> {
        let image = request.descriptor();
        let container = request.start().await.map_err(|e| classify(&image, e))?;
        let id = container.id().to_string();
        reaper::register(&id);
        Ok(Running {
            container: Some(container),
            id,
            image,
        })
    }

    /// The container's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The image it runs, `name:tag`.
    pub fn image(&self) -> &str {
        &self.image
    }

    /// `http://HOST:PORT` where the host reaches `port` (TCP) of the container. A local
    /// daemon's `localhost` is written `127.0.0.1`: Docker maps ports on IPv4 for sure, and
    /// clients that try `::1` first would wait on it.
    pub async fn url(&self, port: u16) -> Result<String, ContainerError> {
        let container = self
            .container
            .as_ref()
            .ok_or_else(|| ContainerError::Start {
                image: self.image.clone(),
                message: "already removed".into(),
            })?;
        let host = container
            .get_host()
            .await
            .map_err(|e| classify(&self.image, e))?
            .to_string();
        let host = if host == "localhost" {
            "127.0.0.1".to_string()
        } else {
            host
        };
        let mapped = container
            .get_host_port_ipv4(port.tcp())
            .await
            .map_err(|e| classify(&self.image, e))?;
        Ok(format!("http://{host}:{mapped}"))
    }

    /// Stops and removes the container now.
    pub async fn remove(mut self) -> Result<(), ContainerError> {
        let removed = match self.container.take() {
            Some(c) => c.rm().await.map_err(|e| classify(&self.image, e)),
            None => Ok(()),
        };
        if removed.is_ok() {
            reaper::unregister(&self.id);
        }
        removed
    }
}

impl<I: Image> Drop for Running<I> {
    fn drop(&mut self) {
        if let Some(container) = self.container.take() {
            // testcontainers' own Drop removes it (blocking this thread until done).
            drop(container);
            reaper::unregister(&self.id);
        }
    }
}
