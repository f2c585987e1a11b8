//! HS256 JWT verification for `/v1/*`, and the scopes that gate what a token may do.
//!
//! Every message a client gets says what is wrong with its token and what to do; none of them
//! repeats what the JWT or JSON parser said, so the server's internals stay out of responses.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::{Request, State};
use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::Response;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
use serde::{Deserialize, Serialize};

use super::SharedState;
use super::error::ApiError;
use crate::config::AuthConfig;

/// The scope a token needs for `POST /v1/ingest`.
pub const INGEST_SCOPE: &str = "ingest";

/// The claims we read. `exp` is mandatory; `iss` and `aud` are checked by the verifier itself.
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
    /// Permissions, space-separated as in OAuth 2.0 (`"ingest"`, `"search ingest"`).
    #[serde(default)]
    pub scope: Option<String>,
}

impl Claims {
    /// Whether the `scope` claim lists `scope`.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scope
            .as_deref()
            .is_some_and(|s| s.split_whitespace().any(|s| s == scope))
    }
}

/// Verifies tokens with one shared secret.
///
/// A token that passed every check is remembered with its claims (bounded, dropped after 10
/// minutes unused), and its later uses only re-check `exp`: the one claim that can turn a
/// good token bad with time (`nbf` and `iat` only become more valid). Verifying the same token
/// again (base64, HMAC, the header's and claims' JSON) was 13 % of the server's CPU on cached
/// searches. Only verified tokens enter, so a forged one costs a full check every time.
pub struct JwtVerifier {
    key: DecodingKey,
    validation: Validation,
    issuer: Option<String>,
    audience: Option<String>,
    verified: moka::sync::Cache<String, Arc<Claims>, foldhash::fast::RandomState>,
}

/// Tokens remembered as verified.
const VERIFIED_TOKENS: u64 = 10_000;

impl JwtVerifier {
    /// A verifier for `secret`; `[auth] leeway_secs` of clock skew is tolerated on `exp`, `nbf`
    /// and `iat`, and `iss` / `aud` are required when configured.
    pub fn new(secret: &str, auth: &AuthConfig) -> Self {
        // Only HS256 is accepted: `alg: none` and every other algorithm fail the header check.
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = auth.leeway_secs;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        let mut required = vec!["exp"];
        if let Some(iss) = &auth.issuer {
            validation.set_issuer(&[iss]);
            required.push("iss");
        }
        match &auth.audience {
            Some(aud) => {
                validation.set_audience(&[aud]);
                required.push("aud");
            }
            // Without a configured audience a token's `aud` names nothing we could check.
            None => validation.validate_aud = false,
        }
        validation.set_required_spec_claims(&required);
        Self {
            key: DecodingKey::from_secret(secret.as_bytes()),
            validation,
            issuer: auth.issuer.clone(),
            audience: auth.audience.clone(),
            verified: moka::sync::Cache::builder()
                .max_capacity(VERIFIED_TOKENS)
                .time_to_idle(std::time::Duration::from_secs(600))
                .build_with_hasher(foldhash::fast::RandomState::default()),
        }
    }

    /// Checks a bearer token.
    pub fn verify(&self, token: &str) -> Result<Arc<Claims>, ApiError> {
        if let Some(claims) = self.verified.get(token) {
            if self.expired(&claims) {
                self.verified.invalidate(token);
                return Err(ApiError::unauthorized(
                    self.explain(&ErrorKind::ExpiredSignature, false),
                ));
            }
            return Ok(claims);
        }
        let claims = Arc::new(self.verify_fully(token)?);
        self.verified.insert(token.to_owned(), claims.clone());
        Ok(claims)
    }

    /// The claims of a token that passed [`Self::verify`] before and has not expired since;
    /// `None` for any other token, good or bad (only [`Self::verify`] says which, and why).
    pub fn remembered(&self, token: &str) -> Option<Arc<Claims>> {
        self.verified
            .get(token)
            .filter(|claims| !self.expired(claims))
    }

    /// jsonwebtoken's rule: expired once `exp` is more than the leeway in the past.
    fn expired(&self, claims: &Claims) -> bool {
        claims.exp.saturating_add(self.validation.leeway) < unix_now()
    }

    /// Every check: header, signature, issuer, audience, `exp`, `nbf`, `iat`.
    fn verify_fully(&self, token: &str) -> Result<Claims, ApiError> {
        // The header alone first, so a bad header and bad claims get different messages.
        match decode_header(token) {
            Ok(header) if header.alg == Algorithm::HS256 => {}
            Ok(_) => return Err(ApiError::unauthorized(WRONG_ALG)),
            Err(e) => return Err(ApiError::unauthorized(self.explain(e.kind(), true))),
        }
        let claims = decode::<Claims>(token, &self.key, &self.validation)
            .map(|data| data.claims)
            .map_err(|e| ApiError::unauthorized(self.explain(e.kind(), false)))?;
        // jsonwebtoken does not look at `iat`: a token minted in the future is a clock problem
        // or a forgery, treated like an early `nbf`.
        let now = unix_now();
        if claims
            .iat
            .is_some_and(|iat| iat > now.saturating_add(self.validation.leeway))
        {
            return Err(ApiError::unauthorized(format!(
                "token was issued in the future (`iat` is more than {} s ahead of the server's \
                 clock, [auth] leeway_secs): fix the issuer's clock and mint a new one",
                self.validation.leeway
            )));
        }
        Ok(claims)
    }

    /// What is wrong, in words a client can act on.
    fn explain(&self, kind: &ErrorKind, in_header: bool) -> String {
        let leeway = self.validation.leeway;
        match kind {
            ErrorKind::InvalidToken => {
                "token is not a JWT: expected three base64url parts separated by dots".into()
            }
            ErrorKind::Base64(_) => "token is not a JWT: its parts must be base64url".into(),
            ErrorKind::Json(_) | ErrorKind::Utf8(_) if in_header => {
                "token header is not a JWT header for HS256: expected \
                 {\"alg\":\"HS256\",\"typ\":\"JWT\"}"
                    .into()
            }
            ErrorKind::Json(_) | ErrorKind::Utf8(_) => {
                "token claims are not what this server reads: a JSON object whose `exp`, `nbf` \
                 and `iat` are integer unix seconds and whose `sub`, `iss` and `scope` are strings"
                    .into()
            }
            ErrorKind::InvalidSignature => {
                "token signature is invalid: sign it with the server's secret".into()
            }
            ErrorKind::InvalidAlgorithm
            | ErrorKind::InvalidAlgorithmName
            | ErrorKind::UnsupportedAlgorithm
            | ErrorKind::MissingAlgorithm => WRONG_ALG.into(),
            ErrorKind::ExpiredSignature => "token expired: mint a new one".into(),
            ErrorKind::ImmatureSignature => format!(
                "token is not valid yet (`nbf` is more than {leeway} s ahead of the server's \
                 clock, [auth] leeway_secs): wait, or fix the issuer's clock"
            ),
            ErrorKind::MissingRequiredClaim(c) if c == "iss" => {
                format!(
                    "token has no `iss` claim: this server requires {}",
                    self.expected_iss()
                )
            }
            ErrorKind::MissingRequiredClaim(c) if c == "aud" => {
                format!(
                    "token has no `aud` claim: this server requires {}",
                    self.expected_aud()
                )
            }
            ErrorKind::MissingRequiredClaim(_) => {
                "token has no `exp` claim: tokens must expire (unix seconds)".into()
            }
            ErrorKind::InvalidClaimFormat(_) => {
                "token's `exp` and `nbf` must be integer unix seconds".into()
            }
            ErrorKind::InvalidIssuer => format!(
                "token's `iss` is not accepted: this server requires {}",
                self.expected_iss()
            ),
            ErrorKind::InvalidAudience => format!(
                "token's `aud` is not accepted: this server requires {}",
                self.expected_aud()
            ),
            _ => "token could not be verified: mint a new one with the server's secret".into(),
        }
    }

    fn expected_iss(&self) -> String {
        match &self.issuer {
            Some(iss) => format!("`iss` = {iss:?} ([auth] issuer)"),
            None => "no particular issuer".into(),
        }
    }

    fn expected_aud(&self) -> String {
        match &self.audience {
            Some(aud) => format!("`aud` to include {aud:?} ([auth] audience)"),
            None => "no particular audience".into(),
        }
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

const WRONG_ALG: &str = "token must be signed with HS256 (`\"alg\": \"HS256\"` in its header)";

/// The token of an `Authorization: Bearer <token>` header.
pub fn bearer_token(headers: &HeaderMap) -> Result<&str, ApiError> {
    let header = headers
        .get(AUTHORIZATION)
        .ok_or_else(|| ApiError::unauthorized("missing `Authorization: Bearer <token>` header"))?;
    header
        .to_str()
        .ok()
        .and_then(|h| {
            h.strip_prefix("Bearer ")
                .or_else(|| h.strip_prefix("bearer "))
        })
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| ApiError::unauthorized("the Authorization header must be `Bearer <token>`"))
}

/// Middleware: rejects requests without a valid `Authorization: Bearer` token, and hands the
/// token's [`Claims`] (as `Arc<Claims>`) to the handler as a request extension.
pub async fn require_jwt(
    State(state): State<SharedState>,
    mut request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let claims = state.auth.verify(bearer_token(request.headers())?)?;
    request.extensions_mut().insert(claims);
    Ok(next.run(request).await)
}

/// 403 unless `claims` carry `scope`.
pub fn require_scope(claims: &Claims, scope: &str, what: &str) -> Result<(), ApiError> {
    if claims.has_scope(scope) {
        return Ok(());
    }
    Err(ApiError::forbidden(format!(
        "this token may not {what}: it needs the `{scope}` scope (a `scope` claim listing \
         `{scope}`, space-separated, e.g. \"scope\": \"{scope}\"); mint one with it"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_are_space_separated_words() {
        let claims = |scope: Option<&str>| Claims {
            sub: None,
            exp: 0,
            iat: None,
            scope: scope.map(String::from),
        };
        assert!(claims(Some("search ingest")).has_scope("ingest"));
        assert!(claims(Some("ingest")).has_scope("ingest"));
        assert!(!claims(Some("ingestion")).has_scope("ingest"));
        assert!(!claims(None).has_scope("ingest"));
    }

    fn mint(secret: &str, exp: u64) -> String {
        let claims = serde_json::json!({ "sub": "t", "exp": exp });
        jsonwebtoken::encode(
            &jsonwebtoken::Header::new(Algorithm::HS256),
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
        )
        .unwrap()
    }

    #[test]
    fn a_remembered_token_still_expires_and_a_forged_one_is_never_remembered() {
        let secret = "a-test-secret-of-thirty-two-bytes!!";
        let verifier = JwtVerifier::new(secret, &AuthConfig::default());
        let token = mint(secret, unix_now() + 1);
        assert_eq!(verifier.verify(&token).unwrap().sub.as_deref(), Some("t"));
        assert!(verifier.verified.contains_key(&token));
        // Served from memory now, until `exp` passes.
        assert!(verifier.verify(&token).is_ok());
        assert!(verifier.remembered(&token).is_some());
        std::thread::sleep(std::time::Duration::from_millis(2_100));
        assert!(
            verifier.remembered(&token).is_none(),
            "expired: not remembered"
        );
        let err = verifier.verify(&token).unwrap_err();
        assert!(err.message.contains("expired"), "{}", err.message);
        assert!(!verifier.verified.contains_key(&token));

        let forged = mint("another-secret-of-thirty-two-bytes!", unix_now() + 600);
        for _ in 0..2 {
            let err = verifier.verify(&forged).unwrap_err();
            assert!(err.message.contains("signature"), "{}", err.message);
        }
        assert!(!verifier.verified.contains_key(&forged));
        assert!(verifier.remembered(&forged).is_none());
    }
}
