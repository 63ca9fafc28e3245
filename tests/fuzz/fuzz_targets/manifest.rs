//! The manifest loader (what `passport evaluate`, `simulate`, `attest` and `demo --examples`
//! read), then a decision over whatever it accepted.
#![no_main]

use libfuzzer_sys::fuzz_target;
use release_passport::decide::decide_all;
use release_passport::load::{Bundle, load_str};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut bundle = Bundle::default();
    if load_str("fuzz.yaml", text, "default", &mut bundle).is_ok() {
        let now = bundle.recorded_at.unwrap_or_default();
        decide_all(&bundle, now);
    }
});
