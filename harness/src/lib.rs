//! ragbench's benchmarking and validation harness.
//!
//! A run goes: scenario file ([`scenario`]) -> stack up ([`stack`], [`corpus`]) -> the
//! instrument's own floor measured with the run's load shape ([`calibrate`]) -> warm-up and
//! measured load ([`load`], fed into [`metrics::Recorder`] with [`workload`] and [`auth`]
//! tokens) while the server process ([`procmon`]) and the GPU ([`gpu`]) are sampled and
//! `/metrics` is scraped ([`prom`]) -> thresholds ([`thresholds`]) -> `summary.json`
//! ([`summary`]), `junit.xml` ([`junit`]), `report.html` ([`report`]) and the console table
//! ([`console`]) -> exit code. [`run`] ties it together; [`cli`] is the command line.
//! Afterwards, [`merge`] combines runs made at once from several machines and [`compare`]
//! sets runs side by side.

pub mod auth;
pub mod calibrate;
pub mod cli;
pub mod client;
pub mod compare;
pub mod console;
pub mod corpus;
pub mod gpu;
pub mod junit;
pub mod load;
pub mod merge;
pub mod metrics;
pub mod procmon;
pub mod prom;
pub mod report;
pub mod run;
pub mod scenario;
pub mod stack;
pub mod summary;
pub mod thresholds;
pub mod units;
pub mod verdict;
pub mod workload;
