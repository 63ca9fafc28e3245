//! Decision attestations: a passport as an in-toto Statement whose predicate records the
//! decision, each policy's digest and each evidence item's digest, time and source — optionally
//! signed (ed25519, in a DSSE envelope). `verify` checks the signature and that every digest
//! matches what it covers, so an edited attestation fails.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ring::signature::{ED25519, Ed25519KeyPair, KeyPair, UnparsedPublicKey};
use serde_json::{Value, json};

use crate::api::{GatePolicy, Keyed, Release, ReleasePassport};

pub const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";
pub const PREDICATE_TYPE: &str = "https://releasepassport.io/attestation/decision/v1";
pub const PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";

/// Why an attestation does not verify.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("not an attestation: {0}")]
    Malformed(String),
    #[error("the signature does not verify with this public key")]
    BadSignature,
    #[error("the attestation is signed; pass the signer's --public-key")]
    KeyNeeded,
    #[error("{0} does not match its digest: the attestation was altered")]
    Tampered(String),
}

fn sha256(v: &Value) -> String {
    // serde_json serialises maps in key order (no preserve_order): a canonical form.
    let bytes = serde_json::to_vec(v).unwrap_or_default();
    ring::digest::digest(&ring::digest::SHA256, &bytes)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn to_value<T: serde::Serialize>(t: &T) -> Value {
    serde_json::to_value(t).unwrap_or(Value::Null)
}

/// The in-toto Statement for one decided release (pure).
pub fn statement(release: &Release, passport: &ReleasePassport, policies: &[GatePolicy]) -> Value {
    let status = passport.status.clone().unwrap_or_default();
    let used: Vec<&GatePolicy> = policies
        .iter()
        .filter(|p| {
            status
                .trace
                .iter()
                .any(|t| Some(&t.policy) == p.metadata.name.as_ref())
        })
        .collect();
    let evidence: Vec<Value> = status
        .evidence
        .iter()
        .map(|e| {
            let content = to_value(e);
            json!({
                "source": e.source,
                "status": e.status,
                "observedAt": e.observed_at,
                "connector": e.connector,
                "content": content,
                "digest": {"sha256": sha256(&content)},
            })
        })
        .collect();
    json!({
        "_type": STATEMENT_TYPE,
        "subject": [{
            "name": format!("releasepassport.io/{}", release.key()),
            "digest": {"sha256": sha256(&to_value(&release.spec))},
        }],
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "decision": status.decision,
            "decidedAt": status.timeline.last().map(|t| t.at),
            "release": to_value(&release.spec),
            "reasons": status.reasons,
            "policies": used.iter().map(|p| {
                let spec = to_value(&p.spec);
                json!({"name": p.metadata.name, "mode": p.spec.mode, "spec": spec, "digest": {"sha256": sha256(&spec)}})
            }).collect::<Vec<_>>(),
            "evidence": evidence,
            "trace": status.trace,
        }
    })
}

/// DSSE pre-authentication encoding.
fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "DSSEv1 {} {} {} ",
        payload_type.len(),
        payload_type,
        payload.len()
    )
    .into_bytes();
    out.extend_from_slice(payload);
    out
}

/// Why a key could not be made or used to sign.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    #[error("the system's random source failed")]
    Random(#[source] ring::error::Unspecified),
    #[error("the key is not base64")]
    NotBase64(#[source] base64::DecodeError),
    #[error("the key is not an ed25519 PKCS#8 key")]
    NotEd25519(#[source] ring::error::KeyRejected),
    #[error("the statement does not serialise")]
    Statement(#[source] serde_json::Error),
}

/// A new ed25519 key: (PKCS#8 private key, raw public key), both base64.
pub fn generate_key() -> Result<(String, String), SignError> {
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).map_err(SignError::Random)?;
    let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).map_err(SignError::NotEd25519)?;
    Ok((
        B64.encode(pkcs8.as_ref()),
        B64.encode(pair.public_key().as_ref()),
    ))
}

/// Signs a statement into a DSSE envelope with a base64 PKCS#8 ed25519 key.
pub fn sign(statement: &Value, private_key_b64: &str) -> Result<Value, SignError> {
    let pkcs8 = B64
        .decode(private_key_b64.trim())
        .map_err(SignError::NotBase64)?;
    let pair = Ed25519KeyPair::from_pkcs8(&pkcs8).map_err(SignError::NotEd25519)?;
    let payload = serde_json::to_vec(statement).map_err(SignError::Statement)?;
    let signature = pair.sign(&pae(PAYLOAD_TYPE, &payload));
    let keyid = sha256(&Value::String(B64.encode(pair.public_key().as_ref())));
    Ok(json!({
        "payloadType": PAYLOAD_TYPE,
        "payload": B64.encode(&payload),
        "signatures": [{"keyid": &keyid[..16], "sig": B64.encode(signature.as_ref())}],
    }))
}

/// Verifies an envelope (with `public_key_b64`) or a bare statement, and every digest inside.
/// Returns the statement.
pub fn verify(document: &Value, public_key_b64: Option<&str>) -> Result<Value, VerifyError> {
    let statement = if document.get("payloadType").is_some() {
        let key = public_key_b64.ok_or(VerifyError::KeyNeeded)?;
        let key = B64
            .decode(key.trim())
            .map_err(|_| VerifyError::Malformed("the public key is not base64".into()))?;
        let payload = document
            .get("payload")
            .and_then(Value::as_str)
            .and_then(|p| B64.decode(p).ok())
            .ok_or_else(|| VerifyError::Malformed("payload".into()))?;
        let payload_type = document
            .get("payloadType")
            .and_then(Value::as_str)
            .unwrap_or("");
        let signed = document
            .pointer("/signatures")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|s| {
                s.get("sig")
                    .and_then(Value::as_str)
                    .and_then(|s| B64.decode(s).ok())
            })
            .any(|sig| {
                UnparsedPublicKey::new(&ED25519, &key)
                    .verify(&pae(payload_type, &payload), &sig)
                    .is_ok()
            });
        if !signed {
            return Err(VerifyError::BadSignature);
        }
        serde_json::from_slice(&payload).map_err(|e| VerifyError::Malformed(e.to_string()))?
    } else {
        document.clone()
    };
    if statement.get("_type").and_then(Value::as_str) != Some(STATEMENT_TYPE)
        || statement.get("predicateType").and_then(Value::as_str) != Some(PREDICATE_TYPE)
    {
        return Err(VerifyError::Malformed(
            "not a Release Passport decision statement".into(),
        ));
    }
    let predicate = statement
        .get("predicate")
        .ok_or_else(|| VerifyError::Malformed("no predicate".into()))?;
    let check = |what: String, covered: Option<&Value>, digest: Option<&Value>| match (
        covered,
        digest.and_then(Value::as_str),
    ) {
        (Some(c), Some(d)) if sha256(c) == d => Ok(()),
        _ => Err(VerifyError::Tampered(what)),
    };
    check(
        "the subject".into(),
        predicate.get("release"),
        statement.pointer("/subject/0/digest/sha256"),
    )?;
    for p in predicate
        .get("policies")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        check(
            format!("policy {}", p["name"]),
            p.get("spec"),
            p.pointer("/digest/sha256"),
        )?;
    }
    for e in predicate
        .get("evidence")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        check(
            format!("evidence {}", e["source"]),
            e.get("content"),
            e.pointer("/digest/sha256"),
        )?;
        let content = &e["content"];
        if content.get("status") != e.get("status") || content.get("source") != e.get("source") {
            return Err(VerifyError::Tampered(format!("evidence {}", e["source"])));
        }
    }
    Ok(statement)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn demo() -> (Release, ReleasePassport, Vec<GatePolicy>) {
        let bundle = crate::examples::bundle().unwrap();
        let at = bundle.recorded_at.unwrap();
        let d = crate::decide::decide_all(&bundle, at)
            .into_iter()
            .find(|d| {
                d.release.key() == crate::api::ObjectKey::new("shop", "catalog-production-1-11-4")
            })
            .unwrap();
        (d.release, d.passport, bundle.policies)
    }

    #[test]
    fn signed_round_trip_and_tampering() {
        let (release, passport, policies) = demo();
        let st = statement(&release, &passport, &policies);
        assert_eq!(st["predicate"]["decision"], "Allow");
        assert_eq!(
            st["predicate"]["policies"].as_array().unwrap().len(),
            2,
            "the policies that decided it"
        );
        let (private, public) = generate_key().unwrap();
        let envelope = sign(&st, &private).unwrap();
        assert_eq!(verify(&envelope, Some(&public)).unwrap(), st);
        assert_eq!(verify(&envelope, None), Err(VerifyError::KeyNeeded));
        let (_, other) = generate_key().unwrap();
        assert_eq!(
            verify(&envelope, Some(&other)),
            Err(VerifyError::BadSignature)
        );
        // Flip the decision inside the signed payload.
        let mut forged = st.clone();
        forged["predicate"]["decision"] = json!("Block");
        let mut tampered = envelope.clone();
        tampered["payload"] = json!(B64.encode(serde_json::to_vec(&forged).unwrap()));
        assert_eq!(
            verify(&tampered, Some(&public)),
            Err(VerifyError::BadSignature)
        );
    }

    #[test]
    fn unsigned_statements_check_their_digests() {
        let (release, passport, policies) = demo();
        let st = statement(&release, &passport, &policies);
        assert!(verify(&st, None).is_ok());
        let mut edited = st.clone();
        edited["predicate"]["evidence"][0]["content"]["status"] = json!("Failed");
        edited["predicate"]["evidence"][0]["status"] = json!("Failed");
        let source = st["predicate"]["evidence"][0]["source"].clone();
        assert!(
            matches!(verify(&edited, None), Err(VerifyError::Tampered(w)) if w.contains(source.as_str().unwrap()))
        );
        let mut policy = st.clone();
        policy["predicate"]["policies"][0]["spec"]["mode"] = json!("Simulate");
        assert!(matches!(
            verify(&policy, None),
            Err(VerifyError::Tampered(_))
        ));
    }
}
