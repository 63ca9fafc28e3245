//! The console with real parts: Debian Chromium driven by playwright-core over every page at
//! desktop and phone widths, and a real OIDC provider (npm oidc-provider) issuing the tokens the
//! console must accept or refuse. `make test` installs both (apt chromium, npm ci).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common;

use common::demo::{request, start};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn node_tests() -> PathBuf {
    let dir = root().join("tests/console");
    assert!(
        dir.join("node_modules/playwright-core").exists()
            && dir.join("node_modules/oidc-provider").exists(),
        "npm packages missing: run `make test` (it runs npm ci in tests/console)"
    );
    dir
}

#[test]
fn every_page_in_a_real_browser_at_desktop_and_phone_widths() {
    let dir = node_tests();
    let shop = root().join("examples/shop");
    let hostile = root().join("tests/console/hostile");
    // A second namespace that just installed: the Overview's first-passport progress.
    let search = root().join("examples/search");
    // Behind an auth proxy on loopback: the browser sends the identity headers the proxy would.
    let demo = start(&[
        "--examples",
        shop.to_str().unwrap(),
        hostile.to_str().unwrap(),
        search.to_str().unwrap(),
        "--auth-proxy",
        "127.0.0.1/32",
        "--sign-out-url",
        "/console/signed-out",
    ]);
    let out_dir = root().join("target/console-screenshots");
    let out = Command::new("node")
        .arg(dir.join("browser.mjs"))
        .arg(format!("http://127.0.0.1:{}", demo.port))
        .arg(&out_dir)
        .output()
        .expect("node is needed for the browser tier");
    assert!(
        out.status.success(),
        "browser checks failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    for page in ["overview", "truth-screen", "metrics", "settings"] {
        for width in ["desktop", "mobile"] {
            assert!(out_dir.join(format!("{page}-{width}.png")).exists());
        }
    }
}

struct Issuer {
    child: Child,
    issuer: String,
    tokens: serde_json::Value,
}

impl Drop for Issuer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn issuer() -> Issuer {
    let dir = node_tests();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new("node")
        .arg(dir.join("oidc.mjs"))
        .arg(port.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("node is needed for the OIDC tier");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let tokens: serde_json::Value =
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("oidc.mjs printed {line:?}: {e}"));
    Issuer {
        child,
        issuer: tokens["issuer"].as_str().unwrap().to_string(),
        tokens,
    }
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn unb64(text: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text)
        .unwrap()
}

#[test]
fn oidc_tokens_from_a_real_provider_are_verified() {
    let idp = issuer();
    let issued = Instant::now();
    let demo = start(&[
        "--oidc-issuer",
        &idp.issuer,
        "--oidc-audience",
        "console",
        "--oidc-leeway",
        "0s",
        "--group-namespaces",
        "shop-devs=payments-team",
        "--group-namespaces",
        "sre=*",
        // Identity headers are believed only from this (non-loopback) proxy.
        "--auth-proxy",
        "10.9.9.9/32",
    ]);
    let token = |name: &str| idp.tokens[name].as_str().unwrap().to_string();
    let bearer = |t: &str| format!("Bearer {t}");
    let get_as = |path: &str, t: &str| request(demo.port, path, &[("Authorization", &bearer(t))]);

    // A short-lived token works while it lasts.
    let short = token("shortLived");
    assert_eq!(
        get_as("/console", &short).0,
        200,
        "the short-lived token expired too early"
    );

    // A token the provider issued through its login and consent screens.
    let (status, _, body) = get_as("/console", &token("sre"));
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains("sam@example.test"),
        "the account menu names the user"
    );
    let (_, _, list) = get_as("/api/v1/passports", &token("sre"));
    let all: serde_json::Value = serde_json::from_str(&list).unwrap();
    let items = all["items"].as_array().unwrap();
    assert!(
        items.len() > 100,
        "the shop and its 90 days of history: {}",
        items.len()
    );
    assert!(
        items
            .iter()
            .any(|p| p["metadata"]["name"] == "checkout-production-2-3-1")
    );

    // Groups decide what a user sees: alice's group maps to another namespace only.
    let (status, _, list) = get_as("/api/v1/passports", &token("valid"));
    assert_eq!(status, 200);
    let mine: serde_json::Value = serde_json::from_str(&list).unwrap();
    assert_eq!(mine["items"].as_array().unwrap().len(), 0, "{list}");
    assert_eq!(
        get_as(
            "/console/releases/shop/checkout-production-2-3-1",
            &token("valid")
        )
        .0,
        404
    );

    // Refused, and the caller learns nothing.
    let refused = |what: &str, t: &str| {
        let (status, _, body) = get_as("/api/v1/passports", t);
        assert_eq!(status, 401, "{what} was accepted");
        assert_eq!(body, r#"{"error":"unauthenticated"}"#, "{what}");
    };
    let valid = token("valid");
    let parts: Vec<&str> = valid.split('.').collect();
    let mut claims: serde_json::Value = serde_json::from_slice(&unb64(parts[1])).unwrap();
    claims["groups"] = serde_json::json!(["sre"]);
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        b64(claims.to_string().as_bytes()),
        parts[2]
    );
    refused("a tampered token", &tampered);
    let none = format!("{}.{}.", b64(br#"{"alg":"none","typ":"JWT"}"#), parts[1]);
    refused("an alg:none token", &none);
    refused("a token for another audience", &token("otherAudience"));
    refused("garbage", "not-a-jwt");
    let (status, _, _) = request(demo.port, "/api/v1/passports", &[]);
    assert_eq!(status, 401, "no token");
    let (status, _, _) = request(demo.port, "/console", &[]);
    assert_eq!(status, 401, "a browser without a session");
    // Forged identity headers from an address that is not the proxy.
    let (status, _, _) = request(
        demo.port,
        "/console",
        &[("X-Forwarded-User", "admin"), ("X-Forwarded-Groups", "sre")],
    );
    assert_eq!(status, 401, "forged proxy headers were believed");

    // The short-lived token (4 s) worked at first; now it has expired (no leeway here).
    std::thread::sleep(Duration::from_secs(5).saturating_sub(issued.elapsed()));
    refused("an expired token", &short);

    // Logout clears the session and goes to the provider's sign-out endpoint.
    let (status, headers, _) = request(demo.port, "/console/logout", &[]);
    assert_eq!(status, 303);
    assert!(
        headers.contains(&format!("location: {}/session/end", idp.issuer)),
        "{headers}"
    );
    assert!(
        headers.contains("clear-site-data: \"cookies\""),
        "{headers}"
    );
}
