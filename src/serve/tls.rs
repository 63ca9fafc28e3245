//! TLS for a listener from a certificate and key in PEM files (a cert-manager Secret mounted
//! as files, say). The files are read again when they change, checked at most every
//! [`RECHECK`], so a renewed certificate is served without a restart.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio_rustls::TlsAcceptor;

/// How often the files are looked at for a change.
pub const RECHECK: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{file}: {message}")]
    File { file: String, message: String },
    #[error("TLS settings: {0}")]
    Config(String),
}

/// Where the certificate chain and its private key are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl CertFiles {
    fn modified(&self) -> Option<(SystemTime, SystemTime)> {
        let at = |p: &PathBuf| std::fs::metadata(p).and_then(|m| m.modified()).ok();
        Some((at(&self.cert)?, at(&self.key)?))
    }

    fn load(&self, provider: &CryptoProvider) -> Result<Arc<CertifiedKey>, TlsError> {
        let file_error = |file: &PathBuf, message: String| TlsError::File {
            file: file.display().to_string(),
            message,
        };
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&self.cert)
            .and_then(Iterator::collect)
            .map_err(|e| file_error(&self.cert, e.to_string()))?;
        if chain.is_empty() {
            return Err(file_error(&self.cert, "no CERTIFICATE in it".into()));
        }
        let key = PrivateKeyDer::from_pem_file(&self.key)
            .map_err(|e| file_error(&self.key, e.to_string()))?;
        let signing = provider
            .key_provider
            .load_private_key(key)
            .map_err(|e| file_error(&self.key, e.to_string()))?;
        let certified = CertifiedKey::new(chain, signing);
        certified
            .keys_match()
            .map_err(|e| file_error(&self.key, format!("does not match the certificate: {e}")))?;
        Ok(Arc::new(certified))
    }
}

/// The certificate being served, swapped when its files change.
#[derive(Debug)]
struct Reloading {
    recheck: Duration,
    files: CertFiles,
    provider: Arc<CryptoProvider>,
    state: Mutex<Served>,
}

#[derive(Debug)]
struct Served {
    key: Arc<CertifiedKey>,
    modified: Option<(SystemTime, SystemTime)>,
    checked: Instant,
}

impl ResolvesServerCert for Reloading {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let mut served = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if served.checked.elapsed() >= self.recheck {
            served.checked = Instant::now();
            let modified = self.files.modified();
            if modified != served.modified {
                // A half-written renewal fails to load: keep serving the old one until it is whole.
                match self.files.load(&self.provider) {
                    Ok(key) => {
                        tracing::info!(cert = %self.files.cert.display(), "serving the renewed certificate");
                        served.key = key;
                        served.modified = modified;
                    }
                    Err(e) => tracing::warn!("keeping the current certificate: {e}"),
                }
            }
        }
        Some(Arc::clone(&served.key))
    }
}

/// What a TLS listener accepts connections with.
#[derive(Clone)]
pub struct Tls(pub TlsAcceptor);

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tls(..)")
    }
}

/// An acceptor serving the certificate in `files` (read now, so a bad file fails at start).
pub fn acceptor(files: &CertFiles) -> Result<Tls, TlsError> {
    acceptor_rechecking(files, RECHECK)
}

/// The same, looking at the files for a change every `recheck`.
pub fn acceptor_rechecking(files: &CertFiles, recheck: Duration) -> Result<Tls, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let key = files.load(&provider)?;
    let resolver = Reloading {
        recheck,
        files: files.clone(),
        provider: Arc::clone(&provider),
        state: Mutex::new(Served {
            key,
            modified: files.modified(),
            checked: Instant::now(),
        }),
    };
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(resolver));
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Tls(TlsAcceptor::from(Arc::new(config))))
}
