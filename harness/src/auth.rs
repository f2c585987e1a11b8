//! JWTs for the load: one HS256 token per virtual user, minted with the run's secret, and
//! deliberately bad ones for the bad-token share. Only the harness's own ingest token carries
//! the `ingest` scope the server requires for `POST /v1/ingest`; the load's tokens do not.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{EncodingKey, Header, encode};
use rand::Rng;
use serde::Serialize;

/// Why a token could not be minted.
#[derive(Debug, thiserror::Error)]
#[error("cannot mint a JWT: {0}")]
pub struct AuthError(#[from] jsonwebtoken::errors::Error);

#[derive(Debug, Serialize)]
struct Claims<'a> {
    sub: &'a str,
    exp: u64,
    iat: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    scope: Option<&'a str>,
}

/// The scope the server requires for `POST /v1/ingest`.
pub const INGEST_SCOPE: &str = "ingest";

/// A fresh random secret (64 hex characters) for one run.
pub fn random_secret() -> String {
    let bytes: [u8; 32] = rand::rng().random();
    hex::encode(bytes)
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Mints tokens for a run.
#[derive(Clone)]
pub struct TokenMint {
    key: EncodingKey,
    lifetime: Duration,
}

impl std::fmt::Debug for TokenMint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenMint")
            .field("lifetime", &self.lifetime)
            .finish_non_exhaustive()
    }
}

impl TokenMint {
    /// A mint for `secret`; tokens live `lifetime` (cover the whole run, plus margin).
    pub fn new(secret: &str, lifetime: Duration) -> TokenMint {
        TokenMint {
            key: EncodingKey::from_secret(secret.as_bytes()),
            lifetime,
        }
    }

    /// A valid token for user `sub` (search and query only).
    pub fn token(&self, sub: &str) -> Result<String, AuthError> {
        self.mint(sub, None)
    }

    /// A valid token for `sub` that may also ingest (`"scope": "ingest"`).
    pub fn ingest_token(&self, sub: &str) -> Result<String, AuthError> {
        self.mint(sub, Some(INGEST_SCOPE))
    }

    fn mint(&self, sub: &str, scope: Option<&str>) -> Result<String, AuthError> {
        let iat = now();
        let claims = Claims {
            sub,
            iat,
            exp: iat + self.lifetime.as_secs().max(60),
            scope,
        };
        Ok(encode(&Header::default(), &claims, &self.key)?)
    }

    /// `n` tokens for users `vu-1` .. `vu-n`.
    pub fn tokens(&self, n: usize) -> Result<Vec<String>, AuthError> {
        (1..=n).map(|i| self.token(&format!("vu-{i}"))).collect()
    }
}

/// A well-formed token signed with a different secret: the server must answer 401.
pub fn bad_token(lifetime: Duration) -> Result<String, AuthError> {
    TokenMint::new(&random_secret(), lifetime).token("intruder")
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{DecodingKey, Validation, decode};

    #[derive(Debug, serde::Deserialize)]
    struct Back {
        sub: String,
        exp: u64,
        iat: u64,
        scope: Option<String>,
    }

    #[test]
    fn tokens_verify_with_the_secret_only() {
        let secret = random_secret();
        assert_eq!(secret.len(), 64);
        let mint = TokenMint::new(&secret, Duration::from_secs(600));
        let t = mint.token("vu-1").unwrap();
        let back = decode::<Back>(
            &t,
            &DecodingKey::from_secret(secret.as_bytes()),
            &Validation::default(),
        )
        .unwrap();
        assert_eq!(back.claims.sub, "vu-1");
        assert!(back.claims.exp >= back.claims.iat + 600);
        assert_eq!(back.claims.scope, None, "load tokens may not ingest");
        let ingest = decode::<Back>(
            &mint.ingest_token("harness-ingest").unwrap(),
            &DecodingKey::from_secret(secret.as_bytes()),
            &Validation::default(),
        )
        .unwrap();
        assert_eq!(ingest.claims.scope.as_deref(), Some(INGEST_SCOPE));
        let bad = bad_token(Duration::from_secs(600)).unwrap();
        assert!(
            decode::<Back>(
                &bad,
                &DecodingKey::from_secret(secret.as_bytes()),
                &Validation::default()
            )
            .is_err()
        );
    }
}
