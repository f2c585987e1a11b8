//! The GPU section: devices, figures and charts, or why there is no GPU.

use serde::Serialize;

use super::{Fact, fact, or_nr};
use crate::output::report::charts::Chart;
use crate::output::report::figures;
use crate::summary::Summary;
use crate::units;

#[derive(Serialize)]
struct GpuDeviceRow {
    index: u32,
    name: String,
    memory: String,
    power_limit: String,
    driver: String,
}

#[derive(Serialize)]
pub(super) struct GpuView {
    available: bool,
    reason: String,
    devices: Vec<GpuDeviceRow>,
    stats: Vec<Fact>,
    charts: Vec<Chart>,
}

pub(super) fn gpu_view(d: &Summary, charts: Vec<Chart>) -> GpuView {
    let g = figures::gpu(d);
    GpuView {
        available: figures::has_gpu(d),
        reason: {
            let r = g.describe();
            let detail = r
                .strip_prefix(crate::measure::gpu::NO_GPU_PREFIX)
                .map(|d| d.trim_start_matches(':').trim().to_string())
                .unwrap_or(r);
            if detail.is_empty() {
                "NVML reported no device".into()
            } else {
                detail
            }
        },
        devices: g
            .devices
            .iter()
            .map(|dev| GpuDeviceRow {
                index: dev.index,
                name: dev.name.clone(),
                memory: units::bytes(dev.memory_total_bytes),
                power_limit: dev
                    .power_limit_w
                    .map(|w| format!("{} W", units::num(w)))
                    .unwrap_or_else(|| "-".into()),
                driver: dev.driver_version.clone().unwrap_or_else(|| "-".into()),
            })
            .collect(),
        stats: vec![
            fact("Samples", units::int(g.samples.len() as u64)),
            fact(
                "Mean utilization",
                or_nr(g.mean_utilization_pct().map(units::pct)),
            ),
            fact(
                "Peak utilization",
                or_nr(g.max_utilization_pct().map(|u| units::pct(f64::from(u)))),
            ),
            fact(
                "Peak memory used",
                or_nr(g.peak_memory_used_bytes().map(units::bytes)),
            ),
            fact(
                "Peak temperature",
                or_nr(g.max_temperature_c().map(|t| format!("{t} °C"))),
            ),
            fact(
                "Mean power",
                or_nr(g.mean_power_w().map(|w| format!("{} W", units::num(w)))),
            ),
        ],
        charts,
    }
}
