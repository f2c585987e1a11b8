//! ragbench's benchmarking and validation harness.
//!
//! # Layout
//!
//! A run goes scenario -> stack -> calibrate -> load -> measure -> verdict -> output, and the
//! folders follow it; [`run`] calls one stage after the other and [`cli`] is the command line.
//!
//! - [`scenario`]: the scenario file, parsed and resolved into a [`scenario::Scenario`].
//! - [`stack`], [`auth`]: the server brought up (a child process, or one somebody else
//!   started), the corpus located and ingested ([`stack::corpus`]), and the tokens the load
//!   sends.
//! - [`load`]: the requests ([`load::workload`], [`load::client`]), driven closed-loop with
//!   goose ([`load::closed`]) or open-loop ([`load::open`]); [`load::calibrate`] measures the
//!   instrument's own floor with the same load shape.
//! - [`measure`]: what is recorded meanwhile: latencies ([`measure::recorder`]), the server
//!   process, the GPU, `/metrics`, and the machine and revision.
//! - [`eval`]: retrieval quality on the same server: recall and MRR over labeled sets, the
//!   HNSW index against exact search (`harness eval`, or a scenario's `[eval]`).
//! - [`sweep`]: capacity: open-loop steps at rising rates against one stack, searched for the
//!   highest rate that meets the latency thresholds (`harness sweep`, or a scenario's `[sweep]`).
//! - [`verdict`]: threshold rules ([`verdict::rules`]) and the regression gate
//!   ([`verdict::regression`]) decided once, into `summary.thresholds` and `summary.verdict`.
//! - [`summary`]: `summary.json`, the typed record every stage writes into and every output
//!   reads.
//! - [`output`]: views of the summary (console, `junit.xml`, `report.html`) and the tools on
//!   finished runs (`harness merge`, `harness compare`).
//! - [`units`]: durations parsed, and the one way figures are printed.

pub mod auth;
pub mod cli;
pub mod eval;
pub mod load;
pub mod measure;
pub mod output;
pub mod preflight;
pub mod run;
pub mod scenario;
pub mod stack;
pub mod summary;
pub mod sweep;
pub mod units;
pub mod verdict;
