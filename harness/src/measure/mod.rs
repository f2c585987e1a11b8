//! What a run measures, beside driving the load: every response's latency and stage timings
//! ([`recorder`] into [`histogram`]s, reading [`server_timing`]), the server process
//! ([`procmon`]), the GPU ([`gpu`]), the server's own counters from `/metrics` ([`prom`]), and
//! where the figures came from ([`provenance`]).

pub mod gpu;
pub mod histogram;
pub mod procmon;
pub mod prom;
pub mod provenance;
pub mod recorder;
pub mod server_timing;
