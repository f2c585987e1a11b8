//! `POST /v1/ingest` and `GET /v1/ingest/{id}`: ingesting a folder on the server's machine,
//! waiting for it or as a job followed by its id (see [`super::jobs`]).

use std::path::PathBuf;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Deserialize;

use super::SharedState;
use super::auth::{Claims, INGEST_SCOPE, require_scope};
use super::error::{ApiError, ApiJson};
use super::jobs::{JobStarted, JobView};
use crate::ingest::{default_source, validate_source};

/// `POST /v1/ingest` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IngestRequest {
    /// A folder on the server's machine.
    pub path: PathBuf,
    /// The source (documentation set) to ingest it as; default: the folder's name.
    #[serde(default)]
    pub source: Option<String>,
    /// `true` (default): answer when the ingestion has finished, with its summary. `false`:
    /// answer `202` at once with the job's id; `GET /v1/ingest/{id}` follows it.
    #[serde(default = "default_wait")]
    pub wait: bool,
}

fn default_wait() -> bool {
    true
}

/// `POST /v1/ingest`: ingests a folder on the server's machine. Needs the `ingest` scope and
/// a folder inside `[ingest] allowed_roots`; 409 while the same source is being ingested.
pub async fn ingest(
    State(state): State<SharedState>,
    Extension(claims): Extension<Arc<Claims>>,
    ApiJson(req): ApiJson<IngestRequest>,
) -> Result<Response, ApiError> {
    require_scope(&claims, INGEST_SCOPE, "ingest")?;
    if let Some(name) = &req.source {
        validate_source(name).map_err(|e| ApiError::bad_request(format!("`source`: {e}")))?;
    }
    let dir = state.ingest_policy.resolve(&req.path)?;
    let source = match req.source {
        Some(name) => name,
        None => default_source(&dir)?,
    };
    let job = state.ingest_jobs.start(&state, dir, source)?;
    if req.wait {
        // The job runs on its own task: a client that hangs up does not stop it half-way.
        return Ok(Json(job.finished().await?).into_response());
    }
    let status_url = format!("/v1/ingest/{}", job.id);
    let body = JobStarted {
        job: job.id.clone(),
        status_url: status_url.clone(),
        state: job.state(),
        source: job.source().to_string(),
    };
    Ok((
        StatusCode::ACCEPTED,
        [(header::LOCATION, status_url)],
        Json(body),
    )
        .into_response())
}

/// `GET /v1/ingest/{id}`: a job's state, progress, and summary or error. Needs the `ingest`
/// scope; 404 for an id this server does not know (never issued, forgotten, or issued before
/// a restart).
pub async fn ingest_job(
    State(state): State<SharedState>,
    Extension(claims): Extension<Arc<Claims>>,
    Path(id): Path<String>,
) -> Result<Json<JobView>, ApiError> {
    require_scope(&claims, INGEST_SCOPE, "follow an ingest job")?;
    let job = state.ingest_jobs.get(&id).ok_or_else(|| {
        ApiError::not_found(format!(
            "no ingest job {id:?} on this server: jobs are kept in memory, the running ones and \
             the last {} finished, and are forgotten on a restart",
            super::jobs::KEEP_FINISHED
        ))
    })?;
    Ok(Json(job.view()))
}
