//! ID-token verification against a local issuer whose keys rotate: a token signed with a key the
//! cache has not seen makes the verifier fetch the JWKS again; a key the issuer dropped stops
//! working; claims map to the user's name and groups.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::routing::get;
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use release_passport::console::oidc::{OidcConfig, TokenError, Verifier};
use ring::signature::{Ed25519KeyPair, KeyPair};

/// The refetch rate limit under test: short, so the test waits it out quickly; long enough that
/// the flood below lands inside one interval.
const REFETCH_AFTER: std::time::Duration = std::time::Duration::from_millis(500);

struct Key {
    kid: String,
    pkcs8: Vec<u8>,
    public: Vec<u8>,
}

fn key(kid: &str) -> Key {
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng)
        .unwrap()
        .as_ref()
        .to_vec();
    let public = Ed25519KeyPair::from_pkcs8(&pkcs8)
        .unwrap()
        .public_key()
        .as_ref()
        .to_vec();
    Key {
        kid: kid.into(),
        pkcs8,
        public,
    }
}

fn jwk(k: &Key) -> serde_json::Value {
    use base64::Engine;
    serde_json::json!({"kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "use": "sig", "kid": k.kid,
        "x": base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&k.public)})
}

fn token(k: &Key, issuer: &str, sub: &str) -> String {
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some(k.kid.clone());
    let now = chrono::Utc::now().timestamp();
    let claims = serde_json::json!({"iss": issuer, "aud": "console", "sub": sub, "exp": now + 300, "iat": now,
        "preferred_username": format!("{sub}-name"), "groups": "solo-group"});
    encode(&header, &claims, &EncodingKey::from_ed_der(&k.pkcs8)).unwrap()
}

#[tokio::test]
async fn rotated_keys_are_fetched_on_an_unknown_kid() {
    let published: Arc<Mutex<Vec<serde_json::Value>>> = Arc::default();
    let fetches: Arc<Mutex<u32>> = Arc::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("http://{}", listener.local_addr().unwrap());
    let app = {
        let (published, fetches, issuer) =
            (Arc::clone(&published), Arc::clone(&fetches), issuer.clone());
        Router::new()
            .route(
                "/.well-known/openid-configuration",
                get(move || {
                    let issuer = issuer.clone();
                    async move { axum::Json(serde_json::json!({"issuer": issuer, "jwks_uri": format!("{issuer}/jwks")})) }
                }),
            )
            .route(
                "/jwks",
                get(move || {
                    *fetches.lock().unwrap() += 1;
                    let keys = published.lock().unwrap().clone();
                    async move { axum::Json(serde_json::json!({"keys": keys})) }
                }),
            )
    };
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let (k1, k2) = (key("k1"), key("k2"));
    published.lock().unwrap().push(jwk(&k1));
    let verifier = Verifier::new(
        OidcConfig {
            issuer: issuer.clone(),
            audience: "console".into(),
            algorithms: vec![Algorithm::EdDSA],
            username_claim: "preferred_username".into(),
            groups_claim: "groups".into(),
            leeway: 0,
        },
        release_passport::connectors::http::client().unwrap(),
    )
    .with_refetch_after(REFETCH_AFTER);
    let claims = verifier.verify(&token(&k1, &issuer, "ann")).await.unwrap();
    assert_eq!(claims.username, "ann-name");
    assert_eq!(
        claims.groups,
        vec!["solo-group".to_string()],
        "a single-string groups claim"
    );
    verifier.verify(&token(&k1, &issuer, "ann")).await.unwrap();
    assert_eq!(
        *fetches.lock().unwrap(),
        1,
        "known keys are served from the cache"
    );

    // The issuer rotates: k2 appears, k1 goes. Refetches are rate-limited, so wait that out.
    *published.lock().unwrap() = vec![jwk(&k2)];
    tokio::time::sleep(REFETCH_AFTER).await;
    let claims = verifier.verify(&token(&k2, &issuer, "bob")).await.unwrap();
    assert_eq!(claims.username, "bob-name");
    assert_eq!(
        *fetches.lock().unwrap(),
        2,
        "an unknown kid fetched the JWKS again"
    );
    assert!(matches!(
        verifier.verify(&token(&k1, &issuer, "ann")).await,
        Err(TokenError::UnknownKey(_))
    ));
    // A flood of unknown kids does not turn into a flood of JWKS requests.
    for _ in 0..5 {
        let _ = verifier.verify(&token(&key("forged"), &issuer, "x")).await;
    }
    assert_eq!(*fetches.lock().unwrap(), 2);
    // A token from another issuer, signed with a current key, is refused.
    assert!(matches!(
        verifier.verify(&token(&k2, "http://elsewhere", "x")).await,
        Err(TokenError::Invalid(_))
    ));
}

/// An issuer whose JWKS answers as `jwks` says, counting requests.
async fn issuer_serving(
    jwks: impl Fn() -> futures::future::BoxFuture<'static, axum::response::Response>
    + Clone
    + Send
    + Sync
    + 'static,
) -> (String, Arc<Mutex<u32>>) {
    let fetches: Arc<Mutex<u32>> = Arc::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("http://{}", listener.local_addr().unwrap());
    let app = {
        let (fetches, issuer) = (Arc::clone(&fetches), issuer.clone());
        Router::new()
            .route(
                "/.well-known/openid-configuration",
                get(move || {
                    let issuer = issuer.clone();
                    async move { axum::Json(serde_json::json!({"issuer": issuer, "jwks_uri": format!("{issuer}/jwks")})) }
                }),
            )
            .route(
                "/jwks",
                get(move || {
                    *fetches.lock().unwrap() += 1;
                    jwks()
                }),
            )
    };
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (issuer, fetches)
}

fn verifier(issuer: &str, refetch_after: std::time::Duration) -> Verifier {
    Verifier::new(
        OidcConfig {
            issuer: issuer.into(),
            audience: "console".into(),
            algorithms: vec![Algorithm::EdDSA, Algorithm::RS256],
            username_claim: "preferred_username".into(),
            groups_claim: "groups".into(),
            leeway: 0,
        },
        release_passport::connectors::http::client().unwrap(),
    )
    .with_refetch_after(refetch_after)
}

/// Forged key ids against an issuer that fails made one JWKS request each (30 for 30): a failed
/// fetch did not count against the rate limit.
#[tokio::test]
async fn a_failing_issuer_is_asked_once_per_interval() {
    use axum::response::IntoResponse;
    let (issuer, fetches) = issuer_serving(|| {
        Box::pin(async { axum::http::StatusCode::INTERNAL_SERVER_ERROR.into_response() })
    })
    .await;
    let verifier = Arc::new(verifier(&issuer, std::time::Duration::from_secs(600)));
    let forged: Vec<_> = (0..30)
        .map(|i| {
            let (verifier, token) = (
                Arc::clone(&verifier),
                token(&key(&format!("forged-{i}")), &issuer, "x"),
            );
            tokio::spawn(async move { verifier.verify(&token).await })
        })
        .collect();
    for handle in forged {
        assert!(handle.await.unwrap().is_err());
    }
    assert_eq!(*fetches.lock().unwrap(), 1, "one fetch for 30 forged kids");
}

/// A fetch in flight held the key cache's write lock: every sign-in waited on a slow issuer.
#[tokio::test]
async fn cached_keys_verify_while_a_fetch_hangs() {
    use axum::response::IntoResponse;
    let k1 = key("k1");
    let published = jwk(&k1);
    let entered = Arc::new(tokio::sync::Notify::new());
    let release = Arc::new(tokio::sync::Notify::new());
    let first = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let (issuer, _) = issuer_serving({
        let (entered, release, first) = (entered.clone(), release.clone(), first.clone());
        move || {
            let (entered, release, first, published) = (
                entered.clone(),
                release.clone(),
                first.clone(),
                published.clone(),
            );
            Box::pin(async move {
                if !first.swap(false, std::sync::atomic::Ordering::SeqCst) {
                    entered.notify_one();
                    release.notified().await;
                }
                axum::Json(serde_json::json!({"keys": [published]})).into_response()
            })
        }
    })
    .await;
    let verifier = Arc::new(verifier(&issuer, std::time::Duration::ZERO));
    verifier.verify(&token(&k1, &issuer, "ann")).await.unwrap();

    let forged = {
        let (verifier, token) = (Arc::clone(&verifier), token(&key("new"), &issuer, "x"));
        tokio::spawn(async move { verifier.verify(&token).await })
    };
    entered.notified().await;
    let claims = verifier.verify(&token(&k1, &issuer, "ann")).await.unwrap();
    assert_eq!(claims.username, "ann-name");
    assert!(!forged.is_finished(), "the fetch was still hanging");
    release.notify_one();
    assert!(matches!(
        forged.await.unwrap(),
        Err(TokenError::UnknownKey(_))
    ));
}

/// An issuer whose JWKS publishes exactly `key`; its URL.
async fn publishing(key: serde_json::Value) -> String {
    use axum::response::IntoResponse;
    let (issuer, _) = issuer_serving(move || {
        let key = key.clone();
        Box::pin(async move { axum::Json(serde_json::json!({"keys": [key]})).into_response() })
    })
    .await;
    issuer
}

/// A JWK's `alg` was not enforced: a key published for RS256 verified an EdDSA signature.
#[tokio::test]
async fn a_key_signs_only_the_algorithm_it_is_published_for() {
    let k1 = key("k1");
    let mut published = jwk(&k1);
    published["alg"] = "RS256".into();
    let issuer = publishing(published).await;
    let verifier = verifier(&issuer, REFETCH_AFTER);
    let refused = verifier.verify(&token(&k1, &issuer, "ann")).await;
    assert_eq!(
        refused,
        Err(TokenError::KeyAlgorithm {
            kid: "k1".into(),
            declared: "RS256".into(),
            used: "EdDSA".into()
        })
    );
}

/// RFC 7515 §4.1.11: a header naming extensions in `crit` that the recipient does not understand
/// is refused. A token signed with the issuer's current key, whose header says `crit`, was
/// accepted because the JWT library ignores the field.
#[tokio::test]
async fn a_token_with_critical_header_extensions_is_refused() {
    use base64::Engine;
    let k1 = key("k1");
    let published = jwk(&k1);
    let issuer = publishing(published).await;
    let verifier = verifier(&issuer, REFETCH_AFTER);
    let b64 = |v: &serde_json::Value| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    };
    let now = chrono::Utc::now().timestamp();
    let claims = serde_json::json!({"iss": issuer, "aud": "console", "sub": "ann", "exp": now + 300, "iat": now});
    let signed = |header: serde_json::Value| {
        let input = format!("{}.{}", b64(&header), b64(&claims));
        let pair = Ed25519KeyPair::from_pkcs8(&k1.pkcs8).unwrap();
        let signature =
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(pair.sign(input.as_bytes()));
        format!("{input}.{signature}")
    };
    // The same construction without `crit` verifies: the refusal is for `crit` alone.
    verifier
        .verify(&signed(
            serde_json::json!({"alg": "EdDSA", "kid": "k1", "typ": "JWT"}),
        ))
        .await
        .unwrap();
    let refused = verifier
        .verify(&signed(
            serde_json::json!({"alg": "EdDSA", "kid": "k1", "crit": ["exp-ext"], "exp-ext": 1}),
        ))
        .await;
    assert!(
        matches!(refused, Err(TokenError::Critical(ref c)) if c.contains("exp-ext")),
        "{refused:?}"
    );
}
