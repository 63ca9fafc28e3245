//! The GitHub App's Secret and the JWT an App signs to ask for an installation token.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::json;

/// What the App's Secret holds (keys `webhookSecret`, and `appId` + `privateKey` or `token`,
/// optionally `apiUrl`).
#[derive(Clone)]
pub struct App {
    pub webhook_secret: String,
    pub auth: AppAuth,
    pub api: String,
}

#[derive(Clone)]
pub enum AppAuth {
    /// A GitHub App: a JWT signed with its private key, exchanged for an installation token.
    App {
        id: String,
        key: jsonwebtoken::EncodingKey,
    },
    /// A token that may answer protection rules (tests, or a fine-grained PAT).
    Token(String),
}

/// Why the Secret cannot configure the receiver.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("Secret {0}: key webhookSecret is missing or empty")]
    NoWebhookSecret(String),
    #[error("Secret {0}: set appId and privateKey (a GitHub App), or token")]
    NoAuth(String),
    #[error("Secret {0}: privateKey is not an RSA private key in PEM (PKCS#1): {1}")]
    BadKey(String, #[source] KeyError),
}

/// Why a private key cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("expected -----BEGIN RSA PRIVATE KEY-----")]
    NotPkcs1,
    #[error("its body is not base64: {0}")]
    Base64(#[source] base64::DecodeError),
}

impl App {
    /// Reads the App from a Secret's data.
    pub fn from_secret(name: &str, data: &BTreeMap<String, String>) -> Result<Self, AppError> {
        let get = |k: &str| data.get(k).map(|v| v.trim()).filter(|v| !v.is_empty());
        let webhook_secret = get("webhookSecret")
            .ok_or_else(|| AppError::NoWebhookSecret(name.into()))?
            .to_string();
        let auth = match (get("appId"), get("privateKey"), get("token")) {
            (Some(id), Some(pem), _) => AppAuth::App {
                id: id.to_string(),
                key: rsa_key(pem).map_err(|e| AppError::BadKey(name.into(), e))?,
            },
            (_, _, Some(token)) => AppAuth::Token(token.to_string()),
            _ => return Err(AppError::NoAuth(name.into())),
        };
        let api = get("apiUrl")
            .unwrap_or(crate::notify::payload::GITHUB_API)
            .trim_end_matches('/')
            .to_string();
        Ok(Self {
            webhook_secret,
            auth,
            api,
        })
    }
}

fn rsa_key(pem: &str) -> Result<jsonwebtoken::EncodingKey, KeyError> {
    use base64::Engine;
    let body: String = pem
        .lines()
        .map(str::trim)
        .filter(|l| !l.starts_with("-----"))
        .collect();
    if !pem.contains("BEGIN RSA PRIVATE KEY") {
        return Err(KeyError::NotPkcs1);
    }
    let der = base64::engine::general_purpose::STANDARD
        .decode(body)
        .map_err(KeyError::Base64)?;
    Ok(jsonwebtoken::EncodingKey::from_rsa_der(&der))
}

/// The JWT a GitHub App authenticates with (RS256; issued a minute back for clock drift, valid
/// for nine more, under GitHub's ten-minute limit).
pub fn app_jwt(
    id: &str,
    key: &jsonwebtoken::EncodingKey,
    now: DateTime<Utc>,
) -> Result<String, jsonwebtoken::errors::Error> {
    let now = now.timestamp();
    let claims = json!({"iat": now - 60, "exp": now + 540, "iss": id});
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256),
        &claims,
        key,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    /// An App key as GitHub issues it (PKCS#1 PEM) signs a JWT its public key verifies.
    #[test]
    fn an_app_signs_its_jwt_with_its_private_key() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("app.pem");
        let public = dir.path().join("app.der");
        let run = |args: &[&str]| {
            let out = std::process::Command::new("openssl")
                .args(args)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        run(&[
            "genrsa",
            "-traditional",
            "-out",
            key.to_str().unwrap(),
            "2048",
        ]);
        run(&[
            "rsa",
            "-in",
            key.to_str().unwrap(),
            "-RSAPublicKey_out",
            "-outform",
            "DER",
            "-out",
            public.to_str().unwrap(),
        ]);
        let pem = std::fs::read_to_string(&key).unwrap();
        let data: BTreeMap<String, String> = [
            ("webhookSecret".to_string(), "s".to_string()),
            ("appId".to_string(), "123".to_string()),
            ("privateKey".to_string(), pem),
        ]
        .into();
        let app = App::from_secret("github-app", &data).unwrap();
        let AppAuth::App { id, key } = &app.auth else {
            panic!("an App")
        };
        let now = Utc::now();
        let jwt = app_jwt(id, key, now).unwrap();
        let decoding = jsonwebtoken::DecodingKey::from_rsa_der(&std::fs::read(&public).unwrap());
        let claims = jsonwebtoken::decode::<Value>(
            &jwt,
            &decoding,
            &jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256),
        )
        .unwrap()
        .claims;
        assert_eq!(claims["iss"], "123");
        assert_eq!(claims["exp"], now.timestamp() + 540);
        // Without a key, or with a PKCS#8 one, the Secret is refused naming what to set.
        let missing: BTreeMap<String, String> = [("webhookSecret".into(), "s".into())].into();
        assert!(matches!(
            App::from_secret("g", &missing),
            Err(AppError::NoAuth(_))
        ));
        let pkcs8: BTreeMap<String, String> = [
            ("webhookSecret".into(), "s".into()),
            ("appId".into(), "1".into()),
            (
                "privateKey".into(),
                "-----BEGIN PRIVATE KEY-----\nMII\n-----END PRIVATE KEY-----".into(),
            ),
        ]
        .into();
        assert!(matches!(
            App::from_secret("g", &pkcs8),
            Err(AppError::BadKey(..))
        ));
    }
}
