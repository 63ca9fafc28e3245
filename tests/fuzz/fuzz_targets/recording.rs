//! An evidence recording read beside the shop's manifests, then every release decided from it.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use release_passport::decide::decide_all;
use release_passport::load::{Bundle, load_str};

const SHOP: &[(&str, &str)] = &[
    (
        "releases.yaml",
        include_str!("../../../examples/shop/releases.yaml"),
    ),
    (
        "policies.yaml",
        include_str!("../../../examples/shop/policies.yaml"),
    ),
    (
        "approvals.yaml",
        include_str!("../../../examples/shop/approvals.yaml"),
    ),
    (
        "waivers.yaml",
        include_str!("../../../examples/shop/waivers.yaml"),
    ),
    (
        "connectors.yaml",
        include_str!("../../../examples/shop/connectors.yaml"),
    ),
];

fn shop() -> &'static Bundle {
    static SHOP_BUNDLE: OnceLock<Bundle> = OnceLock::new();
    SHOP_BUNDLE.get_or_init(|| {
        let mut bundle = Bundle::default();
        for (file, text) in SHOP {
            if let Err(e) = load_str(file, text, "default", &mut bundle) {
                panic!("the shop's examples no longer load: {e}");
            }
        }
        bundle
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut bundle = shop().clone();
    if load_str("recording.yaml", text, "default", &mut bundle).is_ok() {
        let now = bundle.recorded_at.unwrap_or_default();
        decide_all(&bundle, now);
    }
});
