//! The example shop bundled into the binary, so `passport demo` works from any directory.

use crate::load::{Bundle, LoadError, load_str};

/// The bundled files, by the path they have in the repository.
pub const FILES: &[(&str, &str)] = &[
    (
        "examples/shop/approvals.yaml",
        include_str!("../examples/shop/approvals.yaml"),
    ),
    (
        "examples/shop/connectors.yaml",
        include_str!("../examples/shop/connectors.yaml"),
    ),
    (
        "examples/shop/evidence.yaml",
        include_str!("../examples/shop/evidence.yaml"),
    ),
    (
        "examples/shop/history.yaml",
        include_str!("../examples/shop/history.yaml"),
    ),
    // 90 days of recorded passports, so the demo's Metrics page has trends to show.
    (
        "examples/history/shop-90d.yaml",
        include_str!("../examples/history/shop-90d.yaml"),
    ),
    (
        "examples/shop/policies.yaml",
        include_str!("../examples/shop/policies.yaml"),
    ),
    (
        "examples/shop/releases.yaml",
        include_str!("../examples/shop/releases.yaml"),
    ),
    (
        "examples/shop/waivers.yaml",
        include_str!("../examples/shop/waivers.yaml"),
    ),
    // A second, just-installed namespace: what first-passport progress looks like.
    (
        "examples/search/onboarding.yaml",
        include_str!("../examples/search/onboarding.yaml"),
    ),
];

/// The bundled shop, loaded.
pub fn bundle() -> Result<Bundle, LoadError> {
    let mut bundle = Bundle::default();
    for (name, text) in FILES {
        load_str(name, text, "default", &mut bundle)?;
    }
    Ok(bundle)
}

/// The policy templates shipped in `examples/policies/`.
pub const TEMPLATES: &[(&str, &str)] = &[
    (
        "examples/policies/production-standard.yaml",
        include_str!("../examples/policies/production-standard.yaml"),
    ),
    (
        "examples/policies/canary-metrics.yaml",
        include_str!("../examples/policies/canary-metrics.yaml"),
    ),
    (
        "examples/policies/change-freeze.yaml",
        include_str!("../examples/policies/change-freeze.yaml"),
    ),
    (
        "examples/policies/regulated-two-person.yaml",
        include_str!("../examples/policies/regulated-two-person.yaml"),
    ),
];

/// Each template's file and its policy's description.
pub fn templates() -> Vec<(&'static str, String)> {
    TEMPLATES
        .iter()
        .map(|(file, text)| {
            let mut bundle = Bundle::default();
            let description = load_str(file, text, "default", &mut bundle)
                .ok()
                .and_then(|()| bundle.policies.first()?.spec.description.clone())
                .unwrap_or_default();
            (*file, description)
        })
        .collect()
}
