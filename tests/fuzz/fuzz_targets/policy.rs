//! Policy compilation, CEL included: the input read as GatePolicy YAML, and as the CEL
//! expression of a policy's rule; whatever compiles decides the shop's releases.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use release_passport::decide::decide_all;
use release_passport::load::{Bundle, load_str};

fn shop() -> &'static Bundle {
    static SHOP_BUNDLE: OnceLock<Bundle> = OnceLock::new();
    SHOP_BUNDLE.get_or_init(|| {
        let mut bundle = Bundle::default();
        for text in [
            include_str!("../../../examples/shop/releases.yaml"),
            include_str!("../../../examples/shop/evidence.yaml"),
            include_str!("../../../examples/shop/approvals.yaml"),
        ] {
            if let Err(e) = load_str("shop.yaml", text, "default", &mut bundle) {
                panic!("the shop's examples no longer load: {e}");
            }
        }
        bundle
    })
}

fn decide_with(text: &str) {
    let mut bundle = shop().clone();
    if load_str("policy.yaml", text, "default", &mut bundle).is_ok() {
        let now = bundle.recorded_at.unwrap_or_default();
        decide_all(&bundle, now);
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    decide_with(text);
    // The same bytes as one CEL expression (a JSON string is a YAML scalar that holds any text).
    let Ok(cel) = serde_json::to_string(text) else {
        return;
    };
    decide_with(&format!(
        "apiVersion: releasepassport.io/v1alpha1\nkind: GatePolicy\nmetadata: {{name: fuzz}}\n\
         spec:\n  rules:\n  - name: expression\n    expression: {{cel: {cel}}}\n"
    ));
});
