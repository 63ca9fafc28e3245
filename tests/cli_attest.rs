//! Attestations end to end: keygen → attest (signed) → verify; a tampered file fails.

use crate::common;

use common::demo::passport;

#[test]
fn attest_verify_and_tamper() {
    let dir = tempfile::tempdir().unwrap();
    let d = |f: &str| dir.path().join(f).to_str().unwrap().to_string();
    assert_eq!(
        passport(&["keygen", "--out-dir", &d("")]).status.code(),
        Some(0)
    );
    let out = passport(&[
        "attest",
        "-f",
        "examples/shop",
        "--release",
        "shop/payments-production-5-0-2",
        "--key",
        &d("passport.key"),
    ]);
    common::demo::assert_ok(&out);
    std::fs::write(d("signed.json"), &out.stdout).unwrap();
    let ok = passport(&[
        "verify",
        &d("signed.json"),
        "--public-key",
        &d("passport.pub"),
    ]);
    common::demo::assert_ok(&ok);
    assert!(String::from_utf8_lossy(&ok.stdout).contains("shop/payments-production-5-0-2 Hold"));
    assert_eq!(
        passport(&["verify", &d("signed.json")]).status.code(),
        Some(1),
        "signed: the key is needed"
    );

    // Tamper with one byte of the payload.
    let mut envelope: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let payload = envelope["payload"].as_str().unwrap().to_string();
    let flipped = if payload.starts_with('e') {
        payload.replacen('e', "f", 1)
    } else {
        format!("e{}", &payload[1..])
    };
    envelope["payload"] = serde_json::json!(flipped);
    std::fs::write(d("tampered.json"), serde_json::to_vec(&envelope).unwrap()).unwrap();
    let bad = passport(&[
        "verify",
        &d("tampered.json"),
        "--public-key",
        &d("passport.pub"),
    ]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("not verified"));

    // Unsigned statements verify by their digests; the statement records evidence digests and time.
    let out = passport(&[
        "attest",
        "-f",
        "examples/shop",
        "--release",
        "shop/checkout-production-2-3-1",
    ]);
    let statement: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(statement["_type"], "https://in-toto.io/Statement/v1");
    let evidence = statement["predicate"]["evidence"].as_array().unwrap();
    assert_eq!(
        evidence.len(),
        6,
        "five sources and the journeys an expression reads"
    );
    assert!(
        evidence
            .iter()
            .all(|e| e["digest"]["sha256"].as_str().unwrap().len() == 64
                && e["observedAt"].is_string()
                && e["connector"].is_string())
    );
    assert!(
        statement["predicate"]["policies"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["digest"]["sha256"].is_string())
    );
    std::fs::write(d("statement.json"), &out.stdout).unwrap();
    assert_eq!(
        passport(&["verify", &d("statement.json")]).status.code(),
        Some(0)
    );

    // Unreadable input is an error (3), not a verdict.
    std::fs::write(d("garbage.json"), "not json").unwrap();
    assert_eq!(
        passport(&["verify", &d("garbage.json")]).status.code(),
        Some(3)
    );
    assert_eq!(
        passport(&["attest", "-f", "examples/shop", "--release", "shop/nope"])
            .status
            .code(),
        Some(3)
    );
}
