//! The last line of defence against a container outliving its run.
//!
//! A running container is removed when its handle is dropped, which covers every normal end
//! and every error. A process that ends through `std::process::exit` runs no destructors,
//! though, and the load generator (goose) calls it on a second ctrl-c. So every started
//! container is also listed here, and an `atexit` hook, installed with the first one, removes
//! whatever is still listed when the process exits. A removed container leaves the list.
//! (A SIGKILL runs nothing: `docker ps --filter label=ragbench` finds what it leaves.)

use std::collections::BTreeSet;
use std::sync::{Mutex, Once};
use std::time::Duration;

use testcontainers::bollard::Docker;
use testcontainers::bollard::query_parameters::RemoveContainerOptionsBuilder;

static LIVE: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());
static HOOK: Once = Once::new();

/// Lists a started container.
pub(crate) fn register(id: &str) {
    HOOK.call_once(|| {
        // SAFETY: registers a plain `extern "C" fn` with no arguments, as atexit(3) requires.
        unsafe {
            libc::atexit(remove_left_at_exit);
        }
    });
    if let Ok(mut live) = LIVE.lock() {
        live.insert(id.to_string());
    }
}

/// Takes a removed container off the list.
pub(crate) fn unregister(id: &str) {
    if let Ok(mut live) = LIVE.lock() {
        live.remove(id);
    }
}

/// The containers listed now (for tests and messages).
pub fn live() -> Vec<String> {
    LIVE.lock()
        .map(|l| l.iter().cloned().collect())
        .unwrap_or_default()
}

extern "C" fn remove_left_at_exit() {
    let ids: Vec<String> = match LIVE.lock() {
        Ok(mut live) => std::mem::take(&mut *live).into_iter().collect(),
        Err(_) => return,
    };
    if ids.is_empty() {
        return;
    }
    eprintln!("removing {} container(s) left running at exit", ids.len());
    // A thread of its own with its own runtime: exit may come from any thread, inside or
    // outside the harness's runtime, and the hook must not depend on it.
    let worker = std::thread::spawn(move || {
        let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        runtime.block_on(async move {
            let Ok(docker) = Docker::connect_with_defaults() else {
                return;
            };
            let options = RemoveContainerOptionsBuilder::new()
                .force(true)
                .v(true)
                .build();
            for id in ids {
                let removal = docker.remove_container(&id, Some(options.clone()));
                if !matches!(
                    tokio::time::timeout(Duration::from_secs(20), removal).await,
                    Ok(Ok(()))
                ) {
                    eprintln!("container {id} may still run: remove it with `docker rm -f {id}`");
                }
            }
        });
    });
    let _ = worker.join();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listed_until_removed() {
        register("abc123");
        register("def456");
        assert!(live().contains(&"abc123".to_string()));
        unregister("abc123");
        assert!(!live().contains(&"abc123".to_string()));
        assert!(live().contains(&"def456".to_string()));
        // Leave nothing for the exit hook of the test binary.
        unregister("def456");
        assert!(!live().contains(&"def456".to_string()));
    }
}
