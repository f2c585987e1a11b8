//! ctrl-c while the containers run.
//!
//! During the bring-up (pulls, health waits, model pull, ingest: the long part), the bring-up
//! races ctrl-c and is dropped when it comes, which removes what it started. After it, the
//! load owns the first ctrl-c: goose and the open loop stop early and the run ends normally,
//! summary written and containers removed. Outside the load nothing would listen, so this
//! watcher says what a first ctrl-c does and ends the process on a second one; the exit hook
//! of `ragbench-containers` then removes the containers, and the server child exits with its
//! stdin. (goose handles ctrl-c itself while it runs, with the same first/second rule.)

use tokio::task::JoinHandle;

use crate::output::console;

/// Watches ctrl-c until dropped.
#[derive(Debug)]
pub struct SecondCtrlC {
    task: JoinHandle<()>,
}

impl SecondCtrlC {
    /// Starts watching (inside the run's runtime).
    pub fn watch() -> SecondCtrlC {
        let task = tokio::spawn(async {
            let mut presses = 0u32;
            while tokio::signal::ctrl_c().await.is_ok() {
                presses += 1;
                if presses == 1 {
                    console::step(
                        "ctrl-c: a running load stops early and the run ends with its results; \
                         press ctrl-c again to stop now (the containers are removed)",
                    );
                } else {
                    eprintln!("harness: interrupted: stopping now and removing the containers");
                    std::process::exit(i32::from(crate::cli::EXIT_SETUP));
                }
            }
        });
        SecondCtrlC { task }
    }
}

impl Drop for SecondCtrlC {
    fn drop(&mut self) {
        self.task.abort();
    }
}
