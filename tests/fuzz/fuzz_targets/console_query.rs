//! The console's query strings, as a browser or a script sends them: every page and API route
//! that reads one, over the shop's decided passports. A query is answered (200), refused with
//! the console's 400, or not found — never a 500, never a panic — and no page sends an
//! invisible bidi or zero-width mark raw.
#![no_main]

use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use release_passport::console::{self, AuthConfig, Fixed, Settings};
use release_passport::decide::decide_all;
use release_passport::load::{Bundle, load_str};

const ROUTES: &[&str] = &[
    "/console/releases",
    "/console/gate",
    "/console/gate/builder",
    "/console/metrics",
    "/console/integrations",
    "/console/reports",
    "/console/refresh",
    "/api/v1/passports",
    "/api/v1/export/passports.csv",
    "/api/v1/export/passports.md",
    "/api/v1/export/governance.json",
];

struct Harness {
    runtime: tokio::runtime::Runtime,
    app: axum::Router,
}

fn harness() -> &'static Harness {
    static HARNESS: OnceLock<Harness> = OnceLock::new();
    HARNESS.get_or_init(|| {
        let mut bundle = Bundle::default();
        for (name, text) in release_passport::examples::FILES {
            if let Err(e) = load_str(name, text, "default", &mut bundle) {
                panic!("the shop's examples no longer load: {e}");
            }
        }
        let at = bundle.recorded_at.unwrap_or_default();
        let passports = decide_all(&bundle, at)
            .into_iter()
            .map(|d| d.passport)
            .collect();
        let snapshot = release_passport::commands::demo::demo_snapshot(
            &bundle,
            passports,
            at,
            "fuzz".into(),
            Vec::new(),
        );
        Harness {
            runtime: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap_or_else(|e| panic!("no runtime: {e}")),
            app: console::router(
                Arc::new(Fixed(Arc::new(snapshot))),
                AuthConfig::local(),
                Settings::default(),
            ),
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, query)) = data.split_first() else {
        return;
    };
    let Ok(query) = std::str::from_utf8(query) else {
        return;
    };
    let route = ROUTES[usize::from(pick) % ROUTES.len()];
    // What a client can put on the request line at all.
    let Ok(uri) = format!("{route}?{query}").parse::<axum::http::Uri>() else {
        return;
    };
    let h = harness();
    let (status, body) = h.runtime.block_on(async {
        use tower::ServiceExt;
        let request = axum::http::Request::get(uri)
            .body(axum::body::Body::empty())
            .unwrap_or_else(|e| panic!("{e}"));
        let response = h
            .app
            .clone()
            .oneshot(request)
            .await
            .unwrap_or_else(|e| match e {});
        let status = response.status();
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap_or_default();
        (status, body)
    });
    assert!(
        !status.is_server_error(),
        "{route}?{query} answered {status}"
    );
    let text = String::from_utf8_lossy(&body);
    for mark in ['\u{202e}', '\u{202d}', '\u{2066}', '\u{200b}'] {
        assert!(
            !(text.contains(mark) && text.starts_with("<!DOCTYPE")),
            "{route}?{query} sent {mark:?} raw"
        );
    }
});
