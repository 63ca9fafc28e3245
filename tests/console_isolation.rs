//! BRIEF §5 "Console coherence": a viewer restricted to some namespaces sees nothing derived
//! from others. Two demos of the same shop, one with a second team's namespace beside it
//! (tests/console/other-namespace.yaml, every name marked `zz-marked`, its checkout production
//! release sharing the shop's service and environment): a viewer who sees only `shop` gets
//! the same bytes from every page, JSON route and export of both, and never the marker; a
//! viewer who sees every namespace does get it, so the marker is really there.

use crate::common::demo::{Demo, crawl, request, start};

const SHOP: [&str; 2] = ["examples/shop", "examples/history"];
const OTHER: &str = "tests/console/other-namespace.yaml";

fn demo(with_other: bool) -> Demo {
    let root = env!("CARGO_MANIFEST_DIR");
    let mut files: Vec<String> = SHOP.iter().map(|f| format!("{root}/{f}")).collect();
    if with_other {
        files.push(format!("{root}/{OTHER}"));
    }
    let mut args: Vec<&str> = vec![
        "--auth-proxy",
        "127.0.0.1/32",
        "--group-namespaces",
        "shop-devs=shop",
        "--group-namespaces",
        "zz-marked-group=zz-marked-ns",
        "--group-namespaces",
        "sre=*",
    ];
    for f in &files {
        args.extend(["--examples", f]);
    }
    start(&args)
}

fn get(demo: &Demo, path: &str, groups: &str) -> (u16, String) {
    let (status, _, body) = request(
        demo.port,
        path,
        &[
            ("X-Forwarded-User", "viewer"),
            ("X-Forwarded-Groups", groups),
        ],
    );
    (status, body)
}

/// The page without the names of the files the demo read (its footer and Settings say them).
fn content(body: &str) -> String {
    let other = format!(", {}/{OTHER}", env!("CARGO_MANIFEST_DIR"));
    body.replace(&other, "")
}

#[test]
fn a_restricted_viewer_finds_no_trace_of_another_namespace() {
    let (with, without) = (demo(true), demo(false));

    let pages = crawl(|path| get(&with, path, "shop-devs"), 400);
    assert!(pages.len() > 40, "the crawl reached {} paths", pages.len());
    for (path, status, body) in &pages {
        assert!(
            !body.contains("zz-marked"),
            "{path} ({status}) shows the other namespace to a shop-only viewer"
        );
        let (status_without, body_without) = get(&without, path, "shop-devs");
        assert_eq!(*status, status_without, "{path}");
        assert_eq!(
            content(body),
            content(&body_without),
            "{path}: a shop-only viewer's page changed when another namespace was added"
        );
    }

    // The marker is there for a viewer who may see it, on the figures pages too.
    for path in [
        "/console/radar",
        "/console/metrics",
        "/console/gate",
        "/settings",
    ] {
        let (status, body) = get(&with, path, "sre");
        assert_eq!(status, 200, "{path}");
        assert!(
            body.contains("zz-marked"),
            "{path} hides the other namespace from sre"
        );
    }
    let (_, radar_all) = get(&with, "/console/radar", "sre");
    let (_, radar_without) = get(&without, "/console/radar", "sre");
    assert_ne!(
        content(&radar_all),
        content(&radar_without),
        "sre's Radar counts both namespaces"
    );
    // Settings names only the viewer's own groups.
    let (_, settings) = get(&with, "/settings", "shop-devs");
    assert!(settings.contains("shop-devs"), "{settings}");
    assert!(!settings.contains("sre</code>"), "{settings}");
}
