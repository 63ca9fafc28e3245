//! Bearer ID tokens verified against the issuer's JWKS: signature with an allowed algorithm
//! (never `none`), issuer, audience and expiry. Keys are cached and fetched again when a token
//! names a key id the cache does not hold (the issuer rotated its keys), at most once per
//! [`REFETCH_AFTER`] (or what [`Verifier::with_refetch_after`] set) whether or not the last
//! fetch succeeded. One fetch runs at a time, and tokens signed with cached keys are verified
//! while it runs.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{JwkSet, KeyAlgorithm};
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
use serde::Deserialize;
use tokio::sync::{Mutex, RwLock};

/// The least time between two JWKS fetches caused by unknown key ids (a flood of forged `kid`s
/// must not turn into a flood of requests to the issuer).
pub const REFETCH_AFTER: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    #[error("the token is not a signed JWT: {0}")]
    Malformed(String),
    #[error("algorithm {0} is not allowed")]
    Algorithm(String),
    #[error("key {kid:?} is published for {declared}, the token is signed {used}")]
    KeyAlgorithm {
        kid: String,
        declared: String,
        used: String,
    },
    #[error("no key {0:?} in the issuer's JWKS")]
    UnknownKey(String),
    #[error("the token was refused: {0}")]
    Invalid(String),
    #[error("the token's header requires extensions this verifier does not understand (crit {0})")]
    Critical(String),
    #[error("the issuer's keys cannot be fetched: {0}")]
    Issuer(String),
}

/// A header that lists extensions in `crit` must be refused by a recipient that does not
/// understand them (RFC 7515 §4.1.11), and the console understands none; the JWT library does not
/// read `crit`, so the header is read here first.
fn refuse_critical_extensions(token: &str) -> Result<(), TokenError> {
    use base64::Engine;
    let segment = token.split('.').next().unwrap_or_default();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(segment)
        .map_err(|e| TokenError::Malformed(format!("header: {e}")))?;
    let header: serde_json::Value = serde_json::from_slice(&bytes)
        .map_err(|e| TokenError::Malformed(format!("header: {e}")))?;
    match header.get("crit") {
        None => Ok(()),
        Some(crit) => Err(TokenError::Critical(
            crate::text::clip(&crit.to_string(), 120).into_owned(),
        )),
    }
}

/// What the console needs to know about the issuer (nothing secret).
#[derive(Clone, Debug)]
pub struct OidcConfig {
    pub issuer: String,
    pub audience: String,
    pub algorithms: Vec<Algorithm>,
    /// The claim holding the display name (falls back to `sub`).
    pub username_claim: String,
    pub groups_claim: String,
    /// Clock skew tolerated on `exp`/`nbf`, in seconds.
    pub leeway: u64,
}

/// The verified identity in a token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claims {
    pub username: String,
    pub groups: Vec<String>,
}

#[derive(Deserialize)]
struct Discovery {
    jwks_uri: String,
    #[serde(default)]
    end_session_endpoint: Option<String>,
}

struct Keys {
    set: JwkSet,
    fetched: Option<Instant>,
    end_session: Option<String>,
}

pub struct Verifier {
    config: OidcConfig,
    http: reqwest::Client,
    keys: RwLock<Keys>,
    /// Held while fetching, with when the last fetch began: waiters for a fetch in flight find
    /// it recent and do not fetch again, and a failing issuer is asked no more often.
    fetching: Mutex<Option<Instant>>,
    refetch_after: Duration,
}

impl Verifier {
    pub fn new(config: OidcConfig, http: reqwest::Client) -> Self {
        Self {
            config,
            http,
            keys: RwLock::new(Keys {
                set: JwkSet { keys: Vec::new() },
                fetched: None,
                end_session: None,
            }),
            fetching: Mutex::new(None),
            refetch_after: REFETCH_AFTER,
        }
    }

    /// The least time between two refetches caused by unknown key ids.
    pub fn with_refetch_after(mut self, interval: Duration) -> Self {
        self.refetch_after = interval;
        self
    }

    pub fn config(&self) -> &OidcConfig {
        &self.config
    }

    /// The issuer's sign-out URL, once discovery has been read.
    pub async fn end_session_endpoint(&self) -> Option<String> {
        if self.keys.read().await.fetched.is_none() {
            let _ = self.refresh().await;
        }
        self.keys.read().await.end_session.clone()
    }

    async fn refresh(&self) -> Result<(), TokenError> {
        let mut attempted = self.fetching.lock().await;
        if attempted.is_some_and(|at| at.elapsed() < self.refetch_after) {
            return Ok(());
        }
        *attempted = Some(Instant::now());
        let issuer = self.config.issuer.trim_end_matches('/');
        let get = |url: String| {
            let http = self.http.clone();
            async move {
                http.get(&url)
                    .timeout(Duration::from_secs(5))
                    .send()
                    .await
                    .and_then(reqwest::Response::error_for_status)
                    .map_err(|e| TokenError::Issuer(e.without_url().to_string()))?
                    .bytes()
                    .await
                    .map_err(|e| TokenError::Issuer(e.without_url().to_string()))
            }
        };
        let discovery: Discovery = serde_json::from_slice(
            &get(format!("{issuer}/.well-known/openid-configuration")).await?,
        )
        .map_err(|e| TokenError::Issuer(format!("discovery document: {e}")))?;
        let set: JwkSet = serde_json::from_slice(&get(discovery.jwks_uri).await?)
            .map_err(|e| TokenError::Issuer(format!("JWKS: {e}")))?;
        *self.keys.write().await = Keys {
            set,
            fetched: Some(Instant::now()),
            end_session: discovery.end_session_endpoint,
        };
        Ok(())
    }

    pub async fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        refuse_critical_extensions(token)?;
        let header = decode_header(token).map_err(|e| TokenError::Malformed(e.to_string()))?;
        if !self.config.algorithms.contains(&header.alg) {
            return Err(TokenError::Algorithm(format!("{:?}", header.alg)));
        }
        let kid = header.kid.clone().unwrap_or_default();
        let (key, declared) = match self.key(&kid).await {
            Some(k) => k,
            None => {
                self.refresh().await?;
                self.key(&kid)
                    .await
                    .ok_or_else(|| TokenError::UnknownKey(kid.clone()))?
            }
        };
        // A key published for one algorithm signs nothing else (RFC 7517 §4.4).
        if let Some(declared) =
            declared.filter(|d| d.to_string().parse::<Algorithm>().ok() != Some(header.alg))
        {
            return Err(TokenError::KeyAlgorithm {
                kid,
                declared: declared.to_string(),
                used: format!("{:?}", header.alg),
            });
        }
        let mut validation = Validation::new(header.alg);
        validation.algorithms = vec![header.alg];
        validation.set_issuer(&[&self.config.issuer]);
        validation.set_audience(&[&self.config.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = self.config.leeway;
        validation.validate_nbf = true;
        let data = decode::<serde_json::Value>(token, &key, &validation)
            .map_err(|e| TokenError::Invalid(e.to_string()))?;
        let claims = data.claims;
        let username = claims
            .get(&self.config.username_claim)
            .and_then(serde_json::Value::as_str)
            .or_else(|| claims.get("sub").and_then(serde_json::Value::as_str))
            .unwrap_or_default()
            .to_string();
        let groups: BTreeSet<String> = match claims.get(&self.config.groups_claim) {
            Some(serde_json::Value::Array(items)) => items
                .iter()
                .filter_map(serde_json::Value::as_str)
                .map(str::to_string)
                .collect(),
            Some(serde_json::Value::String(one)) => [one.clone()].into(),
            _ => BTreeSet::new(),
        };
        Ok(Claims {
            username,
            groups: groups.into_iter().collect(),
        })
    }

    /// The key with this id (or the only key, for a token without `kid`), and the algorithm it
    /// is published for.
    async fn key(&self, kid: &str) -> Option<(DecodingKey, Option<KeyAlgorithm>)> {
        let keys = self.keys.read().await;
        let jwk = if kid.is_empty() && keys.set.keys.len() == 1 {
            keys.set.keys.first()
        } else {
            keys.set.find(kid)
        }?;
        let key = DecodingKey::from_jwk(jwk).ok()?;
        Some((key, jwk.common.key_algorithm))
    }
}
