//! A listener given a certificate speaks only TLS, serves a renewed certificate without a
//! restart, and a bad key file is refused at start naming the file.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use release_passport::serve::tls::{CertFiles, acceptor, acceptor_rechecking};
use release_passport::serve::{Limits, serve_with};

fn openssl(args: &[&str], dir: &Path) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl is needed for the TLS tests");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A certificate for 127.0.0.1 issued by a CA of its own (openssl, which `make test`
/// installs): the leaf's files, and the CA certificate a client trusts.
fn issued(dir: &Path, name: &str) -> (CertFiles, std::path::PathBuf) {
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
    ];
    let ca = format!("{name}-ca");
    openssl(
        &[
            &[
                "req",
                "-x509",
                "-days",
                "1",
                "-subj",
                "/CN=test-ca",
                "-keyout",
                &format!("{ca}.key"),
                "-out",
                &format!("{ca}.crt"),
            ][..],
            &ec,
        ]
        .concat(),
        dir,
    );
    openssl(
        &[
            &[
                "req",
                "-subj",
                "/CN=passport-test",
                "-keyout",
                &format!("{name}.key"),
                "-out",
                &format!("{name}.csr"),
            ][..],
            &ec,
        ]
        .concat(),
        dir,
    );
    std::fs::write(
        dir.join("leaf.ext"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(
        &[
            "x509",
            "-req",
            "-days",
            "1",
            "-in",
            &format!("{name}.csr"),
            "-CA",
            &format!("{ca}.crt"),
            "-CAkey",
            &format!("{ca}.key"),
            "-CAcreateserial",
            "-extfile",
            "leaf.ext",
            "-out",
            &format!("{name}.crt"),
        ],
        dir,
    );
    (
        CertFiles {
            cert: dir.join(format!("{name}.crt")),
            key: dir.join(format!("{name}.key")),
        },
        dir.join(format!("{ca}.crt")),
    )
}

/// A client that trusts only `cert`.
fn trusting(cert: &Path) -> reqwest::Client {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_file(cert).unwrap())
        .unwrap();
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    reqwest::Client::builder()
        .use_preconfigured_tls(config)
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap()
}

#[tokio::test]
async fn tls_only_renewed_in_place_and_bad_files_named() {
    let dir = tempfile::tempdir().unwrap();
    let (first, first_ca) = issued(dir.path(), "first");
    let served = CertFiles {
        cert: dir.path().join("tls.crt"),
        key: dir.path().join("tls.key"),
    };
    std::fs::copy(&first.cert, &served.cert).unwrap();
    std::fs::copy(&first.key, &served.key).unwrap();
    let tls = acceptor_rechecking(&served, Duration::ZERO).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let app = Router::new().route("/", get(|| async { "over tls" }));
    tokio::spawn(serve_with(
        listener,
        app,
        Limits::default(),
        Some(tls),
        std::future::pending(),
    ));

    let url = format!("https://127.0.0.1:{port}/");
    let body = trusting(&first_ca)
        .get(&url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(body, "over tls");
    // Plain HTTP gets no answer: a token would never be sent in the clear and answered.
    let plain = release_passport::connectors::http::client().unwrap();
    assert!(
        plain
            .get(format!("http://127.0.0.1:{port}/"))
            .send()
            .await
            .is_err()
    );

    // cert-manager renews: the files change, the next handshake presents the new certificate.
    let (second, second_ca) = issued(dir.path(), "second");
    std::fs::copy(&second.key, &served.key).unwrap();
    std::fs::copy(&second.cert, &served.cert).unwrap();
    let body = trusting(&second_ca)
        .get(&url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(body, "over tls");
    assert!(
        trusting(&first_ca).get(&url).send().await.is_err(),
        "the old certificate is gone"
    );

    // A key that is not a key is refused at start, naming the file.
    std::fs::write(dir.path().join("bad.key"), "not a key").unwrap();
    let bad = CertFiles {
        cert: first.cert.clone(),
        key: dir.path().join("bad.key"),
    };
    let err = acceptor(&bad).unwrap_err().to_string();
    assert!(err.contains("bad.key"), "{err}");
    let mismatched = CertFiles {
        cert: first.cert.clone(),
        key: second.key.clone(),
    };
    let err = acceptor(&mismatched).unwrap_err().to_string();
    assert!(err.contains("does not match the certificate"), "{err}");
}
