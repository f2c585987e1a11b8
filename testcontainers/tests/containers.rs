//! Starts the real images when a Docker daemon is reachable; otherwise says so and skips.

use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use ragbench_containers::ollama::Ollama;
use ragbench_containers::{ContainerError, Launch, check_daemon, pins, start_ollama, start_qdrant};

/// Says why a test skipped, past the test harness's output capture (which only takes the
/// print macros), so a skip is visible in every CI log.
fn skip(test: &str, why: &ContainerError) {
    let _ = writeln!(std::io::stderr(), "SKIPPED: {test}: {why}");
}

fn reachable(url: &str) -> bool {
    let addr = url.trim_start_matches("http://");
    TcpStream::connect_timeout(&addr.parse().expect("ip:port"), Duration::from_secs(5)).is_ok()
}

#[tokio::test(flavor = "multi_thread")]
async fn no_daemon_is_reported_at_once_and_says_what_to_do() {
    let started = Instant::now();
    match check_daemon().await {
        Ok(()) => skip(
            "the no-daemon message (a Docker daemon is reachable here)",
            &ContainerError::NoDocker("-".into()),
        ),
        Err(e) => {
            assert!(
                started.elapsed() < Duration::from_secs(15),
                "took {:?}",
                started.elapsed()
            );
            let text = e.to_string();
            assert!(matches!(e, ContainerError::NoDocker(_)), "{text}");
            assert!(text.contains("start Docker"), "{text}");
            assert!(!text.contains('\n'), "{text}");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn qdrant_starts_ready_and_is_removed_when_dropped() {
    let qdrant = match start_qdrant(pins::qdrant(), &Launch::default()).await {
        Ok(q) => q,
        Err(e @ ContainerError::NoDocker(_)) => return skip("qdrant container test", &e),
        Err(e) => panic!("{e}"),
    };
    assert!(
        reachable(&qdrant.rest_url),
        "{} not reachable",
        qdrant.rest_url
    );
    assert!(
        reachable(&qdrant.grpc_url),
        "{} not reachable",
        qdrant.grpc_url
    );
    let id = qdrant.container.id().to_string();
    assert!(ragbench_containers::live_containers().contains(&id));
    qdrant.container.remove().await.unwrap();
    assert!(!ragbench_containers::live_containers().contains(&id));
}

#[tokio::test(flavor = "multi_thread")]
async fn ollama_starts_ready() {
    let launch = Launch::default();
    match start_ollama(Ollama::default(), &launch).await {
        Ok(o) => assert!(reachable(&o.url), "{} not reachable", o.url),
        Err(e @ ContainerError::NoDocker(_)) => skip("ollama container test", &e),
        Err(e) => panic!("{e}"),
    }
}
