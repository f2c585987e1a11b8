//! JSON errors with the right status: `{ "error": { "code", "message" } }`.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::embed::EmbedError;
use crate::generate::GenerateError;
use crate::ingest::IngestError;
use crate::store::StoreError;

/// An error as the client sees it.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable machine-readable code.
    pub code: &'static str,
    /// What was wrong and what to do.
    pub message: String,
}

impl ApiError {
    /// 400: the request is wrong.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }
    /// 401: no valid token.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }
    /// 403: a valid token that may not do this, or a request the configuration forbids.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }
    /// 413: more than the server accepts.
    pub fn too_large(message: impl Into<String>) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", message)
    }
    /// 429: over capacity.
    pub fn too_many(message: impl Into<String>) -> Self {
        Self::new(StatusCode::TOO_MANY_REQUESTS, "over_capacity", message)
    }
    /// 503: a backend is down or disabled.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
    }
    /// 504: a backend did not answer in time.
    pub fn timeout(message: impl Into<String>) -> Self {
        Self::new(StatusCode::GATEWAY_TIMEOUT, "timeout", message)
    }
    /// 404: no such thing.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }
    /// 409: conflicts with work under way.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", message)
    }
    /// 500: our fault.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }

    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        metrics::counter!("ragbench_errors_total", "code" => self.code).increment(1);
        let body = json!({ "error": { "code": self.code, "message": self.message } });
        (self.status, Json(body)).into_response()
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        match rejection.status() {
            StatusCode::PAYLOAD_TOO_LARGE => Self::too_large(
                "request body is larger than the server's limit ([server] body_limit_bytes)",
            ),
            StatusCode::UNSUPPORTED_MEDIA_TYPE => {
                Self::bad_request("send the body as JSON with `Content-Type: application/json`")
            }
            _ => Self::bad_request(format!("invalid JSON body: {}", rejection.body_text())),
        }
    }
}

impl From<EmbedError> for ApiError {
    fn from(e: EmbedError) -> Self {
        match e {
            EmbedError::Overloaded(_) => Self::too_many(e.to_string()),
            _ => Self::unavailable(e.to_string()),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        Self::unavailable(e.to_string())
    }
}

impl From<GenerateError> for ApiError {
    fn from(e: GenerateError) -> Self {
        match e {
            GenerateError::Load(_) | GenerateError::Unavailable(_) => {
                Self::unavailable(e.to_string())
            }
            GenerateError::Timeout(_) => Self::timeout(e.to_string()),
            GenerateError::Inference(_) => Self::internal(e.to_string()),
        }
    }
}

impl From<IngestError> for ApiError {
    fn from(e: IngestError) -> Self {
        match e {
            IngestError::NotAFolder(_)
            | IngestError::Walk { .. }
            | IngestError::BadSource(_)
            | IngestError::NoSourceName(_) => Self::bad_request(e.to_string()),
            IngestError::NoAllowedRoots | IngestError::NotAllowed => Self::forbidden(e.to_string()),
            IngestError::TooManyFiles { .. } | IngestError::FileTooLarge { .. } => {
                Self::too_large(e.to_string())
            }
            IngestError::Embed(e) => e.into(),
            IngestError::Store(e) => e.into(),
        }
    }
}

/// `Json` whose rejections are [`ApiError`]s, so bad bodies get our JSON error shape.
#[derive(Debug, axum::extract::FromRequest)]
#[from_request(via(Json), rejection(ApiError))]
pub struct ApiJson<T>(pub T);
