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
];

/// The bundled shop, loaded.
pub fn bundle() -> Result<Bundle, LoadError> {
    let mut bundle = Bundle::default();
    for (name, text) in FILES {
        load_str(name, text, "default", &mut bundle)?;
    }
    Ok(bundle)
}
