//! The settings in effect, recorded beside the figures: a recall figure means little without
//! the index, passage size and model it was measured with.

use ragbench_server::config::Config;

use super::record::EvalSettings;
use crate::load::client::Health;
use crate::summary::Backend;

/// The settings of a server the harness started with `cfg` (its file and environment as the
/// server read them), with the backends its `/health` named.
pub fn from_config(cfg: &Config, health: &Health) -> EvalSettings {
    EvalSettings {
        hnsw_m: Some(cfg.store.hnsw_m),
        hnsw_ef_construct: Some(cfg.store.hnsw_ef_construct),
        hnsw_ef: cfg.store.hnsw_ef,
        chunk_tokens: Some(cfg.ingest.chunk_tokens),
        overlap_tokens: Some(cfg.ingest.overlap_tokens),
        hybrid: Some(cfg.store.hybrid),
        origin: "the embedded server's configuration (file, then RAGBENCH_* environment)".into(),
        ..from_health(health)
    }
}

/// What `/health` tells of a server somebody else started: its backends, not its settings.
pub fn from_health(health: &Health) -> EvalSettings {
    EvalSettings {
        embedder: health.backends.get("embedder").map(describe),
        store: health.backends.get("store").map(describe),
        origin: "an external server: only its /health backends are known".into(),
        ..EvalSettings::default()
    }
}

/// `name (detail)`, as far as known.
fn describe(b: &Backend) -> String {
    let name = b.name.as_deref().unwrap_or("?");
    match b.detail.as_deref().filter(|d| !d.is_empty()) {
        Some(detail) => format!("{name} ({detail})"),
        None => name.to_string(),
    }
}

/// The settings on one line, for the console and the report.
pub fn describe_settings(s: &EvalSettings) -> String {
    let known = |v: Option<usize>| v.map_or_else(|| "?".to_string(), |v| v.to_string());
    format!(
        "hnsw m {} ef_construct {} ef {}; passages {} tokens (overlap {}); search {}; embedder {}",
        known(s.hnsw_m),
        known(s.hnsw_ef_construct),
        match (s.hnsw_ef, s.hnsw_m) {
            (Some(ef), _) => ef.to_string(),
            (None, Some(_)) => "engine default".into(),
            (None, None) => "?".into(),
        },
        known(s.chunk_tokens),
        known(s.overlap_tokens),
        match s.hybrid {
            Some(true) => "hybrid (dense + BM25, fused by RRF)",
            Some(false) => "dense",
            None => "?",
        },
        s.embedder.as_deref().unwrap_or("?"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn health() -> Health {
        serde_json::from_value(serde_json::json!({
            "status": "green",
            "backends": {
                "embedder": {"name": "fastembed", "state": "up", "detail": "all-MiniLM-L6-v2"},
                "store": {"name": "qdrant-edge", "state": "up", "detail": ""}
            }
        }))
        .unwrap()
    }

    #[test]
    fn settings_from_the_config_and_health() {
        let cfg = Config::load_with_env(
            None,
            [("RAGBENCH_STORE__HNSW_EF".to_string(), "64".to_string())],
        )
        .unwrap();
        let s = from_config(&cfg, &health());
        assert_eq!(s.hnsw_m, Some(cfg.store.hnsw_m));
        assert_eq!(s.hnsw_ef, Some(64));
        assert_eq!(s.chunk_tokens, Some(cfg.ingest.chunk_tokens));
        assert_eq!(s.embedder.as_deref(), Some("fastembed (all-MiniLM-L6-v2)"));
        assert_eq!(s.store.as_deref(), Some("qdrant-edge"));
        let line = describe_settings(&s);
        assert!(line.contains("ef 64;"), "{line}");
        assert!(line.contains("search hybrid (dense + BM25"), "{line}");

        let external = from_health(&health());
        assert_eq!(external.hnsw_m, None);
        assert!(describe_settings(&external).contains("hnsw m ? ef_construct ? ef ?"));
    }
}
