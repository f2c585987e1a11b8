//! Starts the real images when a Docker daemon is reachable; otherwise says so and skips.

use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use ragbench_containers::{ContainerError, start_ollama, start_qdrant};

/// Says why a test skipped, past the test harness's output capture (which only takes the
/// print macros), so a skip is visible in every CI log.
fn skip(test: &str, why: &ContainerError) {
    let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {why}");
}

fn reachable(url: &str) -> bool {
    let addr = url.trim_start_matches("http://");
    TcpStream::connect_timeout(&addr.parse().expect("ip:port"), Duration::from_secs(5)).is_ok()
}

#[tokio::test]
async fn qdrant_starts_or_reports_no_docker_quickly() {
    let started = Instant::now();
    match start_qdrant().await {
        Ok(q) => {
            assert!(reachable(&q.http_url), "{} not reachable", q.http_url);
            assert!(reachable(&q.grpc_url), "{} not reachable", q.grpc_url);
        }
        Err(e @ ContainerError::NoDocker(_)) => {
            // No daemon: the error must be immediate and say what to do, never a hang.
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "took {:?}",
                started.elapsed()
            );
            assert!(e.to_string().contains("start Docker"), "{e}");
            skip("qdrant container test", &e);
        }
        Err(e) => panic!("{e}"),
    }
}

#[tokio::test]
async fn ollama_starts_or_reports_no_docker_quickly() {
    match start_ollama().await {
        Ok(o) => assert!(reachable(&o.url), "{} not reachable", o.url),
        Err(e @ ContainerError::NoDocker(_)) => skip("ollama container test", &e),
        Err(e) => panic!("{e}"),
    }
}
