//! GitHub's `X-Hub-Signature-256`: HMAC-SHA256 of the body with the webhook secret.

/// Checks `X-Hub-Signature-256` (HMAC-SHA256 of the body with the webhook secret) in constant
/// time.
pub fn verify_signature(secret: &[u8], signature: Option<&str>, body: &[u8]) -> bool {
    let Some(mac) = signature
        .and_then(|s| s.trim().strip_prefix("sha256="))
        .and_then(|hex| hex::decode(hex).ok())
    else {
        return false;
    };
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret);
    ring::hmac::verify(&key, body, &mac).is_ok()
}

/// The `X-Hub-Signature-256` GitHub sends for `body`.
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret);
    let mac = ring::hmac::sign(&key, body);
    format!("sha256={}", hex::encode(mac.as_ref()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_are_github_s() {
        let body = br#"{"action":"requested"}"#;
        let sig = sign(b"It's a Secret to Everybody", body);
        assert!(verify_signature(
            b"It's a Secret to Everybody",
            Some(&sig),
            body
        ));
        assert!(!verify_signature(b"other", Some(&sig), body));
        assert!(!verify_signature(b"It's a Secret to Everybody", None, body));
        assert!(!verify_signature(
            b"It's a Secret to Everybody",
            Some("sha1=00"),
            body
        ));
        // GitHub's documented example.
        assert_eq!(
            sign(b"It's a Secret to Everybody", b"Hello, World!"),
            "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
        );
    }
}
