//! The GitHub deployment protection receiver's reading of a delivery: the signature over the
//! body as sent (or a correct one, so the payload parser is reached), then what is kept. A
//! request is kept at most once whatever its delivery id, the bound on waiting requests holds,
//! and what is kept survives its ConfigMap round trip.
#![no_main]

use chrono::{DateTime, Utc};
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use release_passport::controller::github::{
    Kept, MAX_WAITING, ProtectionEvent, Refused, sign, verify_signature,
};

#[derive(Arbitrary, Debug)]
struct Delivery<'a> {
    delivery: &'a str,
    signature: Option<&'a str>,
    signed: bool,
    body: &'a [u8],
}

const SECRET: &[u8] = b"fuzz-protection-secret";
const API: &str = "https://api.github.com";

fuzz_target!(|d: Delivery| {
    let now = DateTime::<Utc>::from_timestamp(1_800_000_000, 0).unwrap_or_default();
    let signature = if d.signed {
        Some(sign(SECRET, d.body))
    } else {
        d.signature.map(str::to_string)
    };
    if !verify_signature(SECRET, signature.as_deref(), d.body) {
        return;
    }
    let Ok(event) = serde_json::from_slice::<ProtectionEvent>(d.body) else {
        return;
    };
    let mut kept = Kept::default();
    let first = kept.accept(d.delivery, event.clone(), API, now);
    if first == Ok(true) {
        assert_eq!(kept.waiting.len(), 1);
        assert_eq!(
            kept.accept("another-delivery-id", event, API, now),
            Err(Refused::Replayed),
            "the same signed body under a new delivery id was kept again"
        );
    }
    assert!(kept.waiting.len() <= MAX_WAITING);
    let text = serde_json::to_string(&kept).unwrap_or_default();
    let back: Kept = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    assert_eq!(back, kept);
});
