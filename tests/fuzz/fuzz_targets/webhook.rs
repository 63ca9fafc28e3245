//! The webhook receiver's reading of a delivery: headers and signature as sent, and a body
//! that (when `signed`) carries a valid signature, so the payload parser behind it is reached.
#![no_main]

use chrono::{DateTime, Utc};
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use release_passport::connectors::webhook::{read_delivery, sign, verify};

#[derive(Arbitrary, Debug)]
struct Delivery<'a> {
    timestamp: Option<&'a str>,
    signature: Option<&'a str>,
    signed: bool,
    body: &'a [u8],
}

const SECRET: &[u8] = b"fuzz-webhook-secret";

fuzz_target!(|d: Delivery| {
    let now = DateTime::<Utc>::from_timestamp(1_800_000_000, 0).unwrap_or_default();
    let signature = d
        .signed
        .then(|| sign(SECRET, now.timestamp(), d.body))
        .or(d.signature.map(str::to_string));
    let timestamp = if d.signed {
        Some(now.timestamp().to_string())
    } else {
        d.timestamp.map(str::to_string)
    };
    if verify(
        SECRET,
        timestamp.as_deref(),
        signature.as_deref(),
        d.body,
        now,
    )
    .is_ok()
        && let Ok((delivery, _)) = read_delivery(d.body)
    {
        let summary = delivery.summary(&["fuzz-webhook-secret"]);
        assert!(!summary.contains("fuzz-webhook-secret"), "{summary}");
    }
});
