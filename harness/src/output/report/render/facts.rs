//! The run's facts table: what ran, on which server, on which machine.

use super::{Fact, NOT_RECORDED, fact, non_empty, or_nr, us};
use crate::output::report::figures;
use crate::scenario::Loop;
use crate::summary::{HealthStatus, Summary};
use crate::units;

/// What ran, then the server, then the machine.
pub(super) fn facts(d: &Summary) -> Vec<Fact> {
    let mut f = run_facts(d);
    f.extend(server_facts(d));
    f.extend(machine_facts(d));
    f
}

/// What ran, when and with which load.
fn run_facts(d: &Summary) -> Vec<Fact> {
    let sc = &d.scenario;
    let mut f = Vec::new();
    let mut scenario = sc.name.clone();
    if let Some(desc) = non_empty(&sc.description) {
        scenario = format!("{scenario}: {desc}");
    }
    if !sc.file.is_empty() {
        scenario = format!("{scenario} ({})", sc.file);
    }
    f.push(fact("Scenario", scenario));
    f.push(fact(
        "Started",
        d.started_at.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
    ));
    f.push(fact(
        "Duration",
        format!(
            "{} measured, after {} of warm-up",
            units::seconds(d.measured_s),
            units::seconds(sc.warmup_s)
        ),
    ));
    f.push(fact("Load", load(d)));
    let total: u32 = sc.mix.values().sum();
    if !sc.mix.is_empty() {
        let mix = sc
            .mix
            .iter()
            .map(|(k, w)| {
                if total > 0 {
                    format!(
                        "{k} {}",
                        units::pct(100.0 * f64::from(*w) / f64::from(total))
                    )
                } else {
                    format!("{k} {w}")
                }
            })
            .collect::<Vec<_>>()
            .join(", ");
        f.push(fact("Workload mix", mix));
    }
    f
}

/// The server, its backends and its corpus.
fn server_facts(d: &Summary) -> Vec<Fact> {
    let mut f = Vec::new();
    let st = &d.stack;
    f.push(fact(
        "Stack",
        if st.base_url.is_empty() {
            st.kind.name().to_string()
        } else {
            format!("{} ({})", st.kind.name(), st.base_url)
        },
    ));
    if let Some(v) = non_empty(&st.server_version) {
        f.push(fact("Server version", v));
    }
    match (
        st.health_before.map(HealthStatus::name),
        st.health_after.map(HealthStatus::name),
    ) {
        (Some(b), Some(a)) => f.push(fact("Health", format!("{b} before the load, {a} after"))),
        (Some(b), None) => f.push(fact("Health", format!("{b} before the load"))),
        (None, Some(a)) => f.push(fact("Health", format!("{a} after the load"))),
        (None, None) => {}
    }
    let backends = backends(d);
    if backends.is_empty() {
        // The backend's detail names its model (e.g. "fastembed: all-MiniLM-L6-v2 ..."):
        // without backends, the model is not recorded either.
        f.push(fact("Backends", NOT_RECORDED));
        f.push(fact("Model", NOT_RECORDED));
    }
    for (role, b) in backends {
        f.push(fact(&capitalize_word(&role), b));
    }
    f.push(fact("Corpus", or_nr(corpus(d))));
    f.push(fact("Vectors", or_nr(d.corpus.vectors.map(units::int))));
    f
}

/// The machine, the revision and the harness.
fn machine_facts(d: &Summary) -> Vec<Fact> {
    let mut f = Vec::new();
    let m = &d.machine;
    let cores = match m.cpu_physical_cores {
        Some(p) if p != m.cpu_cores => format!("{} logical cores ({p} physical)", m.cpu_cores),
        _ => format!("{} cores", m.cpu_cores),
    };
    let cpu = if m.cpu_model.is_empty() {
        cores
    } else {
        format!("{}, {cores}", m.cpu_model)
    };
    f.push(fact("CPU", cpu));
    f.push(fact("Memory", units::bytes(m.memory_bytes)));
    if let Some(os) = non_empty(&m.os) {
        f.push(fact("OS", os));
    }
    f.push(fact("GPU", figures::gpu(d).describe()));
    f.push(fact(
        "Git revision",
        or_nr(non_empty(&d.git_revision).map(|r| {
            let short: String = r.chars().take(12).collect();
            match d.git_dirty {
                Some(true) => format!("{short} (with uncommitted changes)"),
                _ => short,
            }
        })),
    ));
    if !d.harness_version.is_empty() {
        f.push(fact("Harness", d.harness_version.clone()));
    }
    f
}

/// How the load was applied: `closed loop, 50 virtual users (goose 0.19)`.
fn load(d: &Summary) -> String {
    let sc = &d.scenario;
    let l = &d.load;
    let mut load = if sc.mode == Loop::Open {
        sc.rate_per_s.map(|r| {
            let mut s = format!(
                "open loop, {} {}arrivals",
                units::rps(r),
                sc.arrival
                    .map(|a| format!("{} ", a.name()))
                    .unwrap_or_default()
            );
            if let Some(m) = sc.max_in_flight {
                s.push_str(&format!(", at most {m} in flight"));
            }
            s
        })
    } else {
        sc.vus.map(|v| {
            let mut s = format!("closed loop, {v} virtual users");
            if sc.think_time_ms > 0.0 {
                s.push_str(&format!(", {} ms think time", units::num(sc.think_time_ms)));
            }
            s
        })
    }
    .unwrap_or_else(|| sc.mode.name().to_string());
    if !l.generator.is_empty() {
        load.push_str(&format!(" ({})", l.generator));
    }
    if let Some(p) = l.planned {
        load.push_str(&format!(
            "; {} arrivals planned, {} dropped",
            units::int(p),
            units::int(l.dropped.unwrap_or(0))
        ));
    }
    if let Some(g) = &l.generator_lag {
        load.push_str(&format!(
            "; the generator's own send lag P99 {}, max {}",
            us(g.p99_us),
            us(g.max_us)
        ));
    }
    load
}

/// The corpus and its ingestion: `bun-types@1.3.14: 332 files, 1,543 chunks, ingested in 12 s`.
fn corpus(d: &Summary) -> Option<String> {
    let c = &d.corpus;
    let mut parts = Vec::new();
    if let Some(n) = c.files {
        parts.push(format!("{} files", units::int(n)));
    }
    if let Some(n) = c.chunks {
        parts.push(format!("{} chunks", units::int(n)));
    }
    if let Some(s) = c.ingest_s.or(c.ingest_wall_s) {
        parts.push(format!("ingested in {}", units::seconds(s)));
    }
    match (c.source.is_empty(), parts.is_empty()) {
        (false, true) => Some(c.source.clone()),
        (false, false) => Some(format!("{}: {}", c.source, parts.join(", "))),
        (true, false) => Some(parts.join(", ")),
        (true, true) => None,
    }
}

/// `(role, "name: detail")` of the stack's backends; the state is added when it is not `up`.
/// A backend with neither name nor detail is left out.
fn backends(d: &Summary) -> Vec<(String, String)> {
    d.stack
        .backends
        .iter()
        .filter_map(|(role, b)| {
            let mut t = match (non_empty(&b.name), non_empty(&b.detail)) {
                (Some(n), Some(d)) => format!("{n}: {d}"),
                (Some(n), None) => n,
                (None, Some(d)) => d,
                (None, None) => return None,
            };
            if let Some(s) = non_empty(&b.state).filter(|s| s != "up") {
                t.push_str(&format!(" ({s})"));
            }
            Some((role.clone(), t))
        })
        .collect()
}

fn capitalize_word(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}
