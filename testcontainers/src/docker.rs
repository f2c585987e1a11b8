//! Is a Docker daemon there? Asked once, before anything starts, so a machine without one
//! gets one line saying so instead of a half-started stack or a long wait.

use std::time::Duration;

use testcontainers::core::client::docker_client_instance;

use crate::ContainerError;

/// How long the daemon has to answer a ping.
const PING_TIMEOUT: Duration = Duration::from_secs(10);

/// Connects as testcontainers will (`DOCKER_HOST`, `~/.testcontainers.properties`, else the
/// local socket) and pings the daemon.
pub async fn check_daemon() -> Result<(), ContainerError> {
    let docker = docker_client_instance()
        .await
        .map_err(|e| ContainerError::NoDocker(one_line(&e.to_string())))?;
    match tokio::time::timeout(PING_TIMEOUT, docker.ping()).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(ContainerError::NoDocker(one_line(&e.to_string()))),
        Err(_) => Err(ContainerError::NoDocker(format!(
            "no answer to a ping within {}s",
            PING_TIMEOUT.as_secs()
        ))),
    }
}

/// An error's text on one line (bollard's can span several).
pub(crate) fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_flattened_to_one_line() {
        assert_eq!(
            one_line("error trying to connect:\n  No such file  (os error 2)\n"),
            "error trying to connect: No such file (os error 2)"
        );
    }
}
