//! `ragbench-server`: serve, ingest, fetch assets. All logic lives in the library.

use clap::Parser;

fn main() -> anyhow::Result<()> {
    ragbench_server::cli::run(ragbench_server::cli::Cli::parse())
}
