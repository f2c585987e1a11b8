//! HS256 JWT verification for `/v1/*`.

use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::Response;
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode};
use serde::{Deserialize, Serialize};

use super::error::ApiError;
use crate::state::AppState;

/// The claims we require. `exp` is mandatory; tokens without it are rejected.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// Subject (user or client id).
    #[serde(default)]
    pub sub: Option<String>,
    /// Expiry, unix seconds.
    pub exp: u64,
    /// Issued at, unix seconds.
    #[serde(default)]
    pub iat: Option<u64>,
}

/// Verifies tokens with one shared secret.
pub struct JwtVerifier {
    key: DecodingKey,
    validation: Validation,
}

impl JwtVerifier {
    /// A verifier for `secret`; `leeway_secs` of clock skew is tolerated on `exp`.
    pub fn new(secret: &str, leeway_secs: u64) -> Self {
        // Only HS256 is accepted: `alg: none` and every other algorithm fail the header check.
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = leeway_secs;
        validation.validate_exp = true;
        validation.set_required_spec_claims(&["exp"]);
        Self {
            key: DecodingKey::from_secret(secret.as_bytes()),
            validation,
        }
    }

    /// Checks a bearer token.
    pub fn verify(&self, token: &str) -> Result<Claims, ApiError> {
        decode::<Claims>(token, &self.key, &self.validation)
            .map(|data| data.claims)
            .map_err(|e| {
                use jsonwebtoken::errors::ErrorKind;
                let why = match e.kind() {
                    ErrorKind::ExpiredSignature => "token expired: mint a new one".to_string(),
                    ErrorKind::InvalidSignature => {
                        "token signature is invalid: sign it with the server's secret".to_string()
                    }
                    ErrorKind::InvalidAlgorithm => "token must be signed with HS256".to_string(),
                    ErrorKind::MissingRequiredClaim(c) => format!("token has no `{c}` claim"),
                    _ => format!("token is malformed ({e})"),
                };
                ApiError::unauthorized(why)
            })
    }
}

/// Middleware: rejects requests without a valid `Authorization: Bearer` token.
pub async fn require_jwt(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let header = request
        .headers()
        .get(AUTHORIZATION)
        .ok_or_else(|| ApiError::unauthorized("missing `Authorization: Bearer <token>` header"))?;
    let token = header
        .to_str()
        .ok()
        .and_then(|h| {
            h.strip_prefix("Bearer ")
                .or_else(|| h.strip_prefix("bearer "))
        })
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            ApiError::unauthorized("the Authorization header must be `Bearer <token>`")
        })?;
    state.auth.verify(token)?;
    Ok(next.run(request).await)
}
