//! `ragbench-server`: serve, ingest, fetch assets. All logic lives in the library.

use clap::Parser;

/// mimalloc rather than glibc's malloc: a cached search's few dozen short-lived allocations
/// cost glibc ~10 % of the server's CPU (malloc, free, consolidation), measured with perf.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<()> {
    ragbench_server::cli::run(ragbench_server::cli::Cli::parse())
}
