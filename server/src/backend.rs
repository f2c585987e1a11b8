//! What every backend reports about itself for `/health` and the harness's report.

use serde::Serialize;

/// A backend's identity and state, shown in `/health`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct BackendInfo {
    /// Backend name, e.g. `fastembed-onnx` or `qdrant-edge`.
    pub name: String,
    /// `up`, `down` or `disabled`.
    pub state: BackendState,
    /// Model, path or URL: what a reader needs to know which backend this was.
    pub detail: String,
}

/// Whether a backend can serve.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum BackendState {
    /// Serving.
    Up,
    /// Configured but failing.
    Down,
    /// Turned off by configuration.
    Disabled,
}
