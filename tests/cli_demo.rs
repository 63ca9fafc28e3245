//! `passport demo` end to end: the real binary serves the console on loopback.

use std::process::Command;

use crate::common;

use common::demo::{get, start, start_logging};

#[test]
fn demo_prints_decisions_and_serves_the_console() {
    let demo = start(&[]);
    assert!(
        demo.stdout.contains("Decisions as of 2026-11-25T14:00:00Z"),
        "{}",
        demo.stdout
    );
    for (name, decision) in [
        ("catalog-staging-1-12-0", "Block"),
        ("payments-production-5-0-2", "Hold"),
        ("checkout-production-2-3-1", "Allow"),
    ] {
        assert!(
            demo.stdout
                .lines()
                .any(|l| l.contains(name) && l.contains(decision)),
            "{name} {decision}:\n{}",
            demo.stdout
        );
    }

    let (status, headers, body) = get(demo.port, "/console");
    assert_eq!(status, 200);
    assert!(
        headers.contains("content-security-policy: default-src 'none'"),
        "{headers}"
    );
    assert!(headers.contains("x-content-type-options: nosniff"));
    assert!(
        body.contains("payments-production-5-0-2")
            && body.contains("an approver from payments-leads, not the author"),
        "{body}"
    );
    // Gate says of every rule what it does on missing, stale and failed input, and what it
    // protects against (a description, else what its type guards).
    let (_, _, gate) = get(demo.port, "/console/gate");
    let protects = regex::Regex::new(r#"data-label="Protects against">([^<]*)<"#).unwrap();
    let rules: Vec<String> = protects
        .captures_iter(&gate)
        .map(|c| c[1].to_string())
        .collect();
    assert!(rules.len() >= 14, "{} rules", rules.len());
    assert!(rules.iter().all(|p| !p.trim().is_empty()), "{rules:?}");
    assert_eq!(
        gate.matches(r#"data-label="Effects">"#).count(),
        rules.len()
    );
    // The demo shows the states a newcomer will meet, each labelled as demo data: a connector
    // waiting for its credential and a detected candidate.
    let (_, _, integrations) = get(demo.port, "/console/integrations");
    assert!(
        integrations.contains("Credential required"),
        "{integrations}"
    );
    assert!(
        integrations.contains("demo data: Secret shop/search-vendor-token not found")
            && integrations.contains("demo data: Service monitoring/thanos-query"),
        "{integrations}"
    );
    // Overview's next action for each held or blocked release is its truth screen's.
    let row = regex::Regex::new(
        r#"<a href="(/console/releases/shop/[^"]+)">[^<]+</a>.*?<td data-label="Next action">([^<]+)"#,
    )
    .unwrap();
    let rows: Vec<_> = row.captures_iter(&body).collect();
    assert_eq!(rows.len(), 3, "{body}");
    for c in rows {
        let (_, _, screen) = get(demo.port, &c[1]);
        assert!(
            screen.contains(&format!("Next: {}", &c[2])),
            "{}: {}",
            &c[1],
            &c[2]
        );
    }
    let (_, _, list) = get(
        demo.port,
        "/console/releases?service=checkout&environment=production",
    );
    assert!(
        list.contains("checkout-production-2-3-1") && list.contains("6/6"),
        "{list}"
    );
    assert!(
        body.contains("<strong>3</strong>allowed"),
        "the latest of six services and environments: 3 allowed, 2 held, 1 blocked: {body}"
    );
    assert!(
        body.contains("<strong>1</strong>blocked"),
        "superseded history is not pending"
    );

    let (status, _, body) = get(
        demo.port,
        "/console/releases/shop/payments-production-5-0-2",
    );
    assert_eq!(status, 200);
    for text in [
        "Decision trace",
        "two-person-rule",
        "1 of 2 approvals from payments-leads",
        "Simulated (never changes the decision)",
        "not counted",
    ] {
        assert!(body.contains(text), "{text} missing");
    }
    let (status, _, body) = get(
        demo.port,
        "/console/releases/shop/checkout-production-2-3-1",
    );
    assert_eq!(status, 200);
    assert!(body.contains("previous release checkout-production-2-3-0 (2.3.0) was allowed"));
    for scope in [
        "Runtime scope",
        "shop-prod",
        "app.kubernetes.io/name=checkout",
        "ArgoApplication argocd/checkout-prod",
        "shop/checkout, pipeline release.yaml",
    ] {
        assert!(body.contains(scope), "{scope} missing");
    }
    // Connector link templates: the Argo CD application, the metric's graph, the CI checks and
    // the commit, each value percent-encoded.
    for link in [
        r#"href="https://argocd.shop.example/applications/argocd/checkout-prod""#,
        r#"href="https://prometheus.shop.example/graph?g0.expr=histogram_quantile%280.99%2C"#,
        r#"href="https://github.com/shop/checkout/commit/41d0c2f99e3a/checks""#,
        r#"href="https://github.com/shop/checkout/commit/41d0c2f99e3a""#,
    ] {
        assert!(body.contains(link), "{link} missing");
    }

    let (status, headers, body) = get(demo.port, "/api/v1/passports/shop/catalog-staging-1-12-0");
    assert_eq!(status, 200);
    assert!(headers.contains("application/json"));
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["status"]["decision"], "Block");

    // Refusals are the console's own pages (in its frame), and JSON under /api/v1/.
    let (status, _, body) = get(demo.port, "/console/releases/shop/nope");
    assert_eq!(status, 404);
    assert!(
        body.contains("No passport shop/nope.") && body.contains("<nav"),
        "{body}"
    );
    assert_eq!(get(demo.port, "/nope").0, 404);
    let (status, _, body) = get(demo.port, "/console/releases?page=two");
    assert_eq!(status, 400);
    assert!(
        body.contains("Not understood")
            && body.contains("page: invalid digit")
            && body.contains("<nav"),
        "{body}"
    );
    let (status, headers, body) = get(demo.port, "/api/v1/export/passports.csv?page=-1");
    assert_eq!(status, 400);
    assert!(headers.contains("application/json"), "{headers}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(v["error"].as_str().unwrap().contains("\"-1\""), "{v}");
    let (status, _, body) = get(demo.port, "/api/v1/export/nothing.csv");
    assert_eq!(
        (status, body.as_str()),
        (404, r#"{"error":"no export nothing.csv"}"#)
    );
    assert_eq!(get(demo.port, "/console/assets/console.css").0, 200);
    assert_eq!(get(demo.port, "/healthz").0, 200);
    // The Gate page leads to the policy builder; with no freeze, no banner anywhere.
    let (_, _, gate) = get(demo.port, "/console/gate");
    assert!(gate.contains(r#"href="/console/gate/builder""#), "{gate}");
    assert!(gate.contains("No freeze, past or present."));
    assert!(!gate.contains("Line stopped in"));
}

#[test]
fn hostile_strings_render_as_text() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("shop.yaml"),
        "apiVersion: releasepassport.io/v1alpha1
kind: Release
metadata: {name: evil, namespace: shop}
spec: {service: '<script>alert(1)</script>', version: '\"><img src=x onerror=alert(2)>', environment: prod}
---
apiVersion: releasepassport.io/v1alpha1
kind: GatePolicy
metadata: {name: p, namespace: shop}
spec:
  rules:
  - name: r
    evidence: {source: '<b>bold</b>'}
",
    )
    .unwrap();
    let demo = start(&["--examples", dir.path().to_str().unwrap()]);
    for path in ["/console", "/console/releases/shop/evil"] {
        let (status, _, body) = get(demo.port, path);
        assert_eq!(status, 200);
        assert!(!body.contains("<script>alert(1)"), "{path}: {body}");
        assert!(!body.contains("<img src=x"), "{path}");
        assert!(!body.contains("<b>bold"), "{path}");
        assert!(
            body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
            "{path}"
        );
    }
}

#[test]
fn a_busy_port_is_a_clear_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    let out = Command::new(env!("CARGO_BIN_EXE_passport"))
        .args(["demo", "--port", &port])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("cannot listen on 127.0.0.1:") && stderr.contains("--port"),
        "{stderr}"
    );
}

/// A chat-completions endpoint on loopback: records each request (head and body) and answers
/// every call with `status` and `body`.
fn chat_endpoint(
    status: u16,
    body: &'static str,
) -> (u16, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = std::sync::Arc::clone(&seen);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut head = String::new();
            let mut length = 0;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap();
                }
                head.push_str(&line);
            }
            let mut request = vec![0; length];
            reader.read_exact(&mut request).unwrap();
            log.lock()
                .unwrap()
                .push(format!("{head}\n{}", String::from_utf8_lossy(&request)));
            let _ = write!(
                stream,
                "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (port, seen)
}

/// The truth screen once the summary call has returned.
fn summary_page(port: u16, path: &str) -> String {
    for _ in 0..100 {
        let (status, _, body) = get(port, path);
        assert_eq!(status, 200);
        if !body.contains("AI summary: being written") {
            return body;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("the AI summary was never written");
}

#[test]
fn an_ai_summary_is_advice_beside_the_investigation() {
    let (endpoint, seen) = chat_endpoint(
        200,
        r#"{"id":"c1","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"<script>alert(1)</script>Held for a second approval; token sk-live-42 ignored."},"finish_reason":"stop"}]}"#,
    );
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, "sk-live-42\n").unwrap();
    let url = format!("http://127.0.0.1:{endpoint}/v1/chat/completions");
    let demo = start(&[
        "--summary-endpoint",
        &url,
        "--summary-model",
        "llama3.1",
        "--summary-token-file",
        token.to_str().unwrap(),
    ]);
    let path = "/console/releases/shop/payments-production-5-0-2";
    let body = summary_page(demo.port, path);
    assert!(body.contains("AI summary"), "{body}");
    assert!(body.contains("llama3.1; advice only"), "{body}");
    assert!(body.contains("&lt;script&gt;alert(1)&lt;/script&gt;Held for a second approval"));
    assert!(!body.contains("<script>alert(1)"));
    assert!(
        !body.contains("sk-live-42"),
        "the token is scrubbed from answers"
    );
    assert!(body.contains("badge hold"), "the decision is the gate's");

    // One call for one investigation, however often the page is viewed.
    for _ in 0..3 {
        get(demo.port, path);
    }
    let requests = seen.lock().unwrap().clone();
    assert_eq!(requests.len(), 1, "{requests:?}");
    let request = &requests[0];
    assert!(
        request.starts_with("POST /v1/chat/completions"),
        "{request}"
    );
    assert!(
        request
            .to_ascii_lowercase()
            .contains("authorization: bearer sk-live-42")
    );
    let json: serde_json::Value =
        serde_json::from_str(request.split_once("\n\n").unwrap().1.trim()).unwrap();
    assert_eq!(json["model"], "llama3.1");
    let facts = json["messages"][1]["content"].as_str().unwrap();
    assert!(
        facts.contains("Release shop/payments-production-5-0-2"),
        "{facts}"
    );
    assert!(facts.contains("Decision: Hold"), "{facts}");
    assert!(facts.contains("approvals"), "{facts}");

    let (_, _, settings) = get(demo.port, "/settings");
    assert!(settings.contains(&format!("http://127.0.0.1:{endpoint}")));
    assert!(settings.contains("from a file (value never shown)"));
    assert!(!settings.contains("sk-live-42"));
}

#[test]
fn a_failing_summary_endpoint_leaves_the_truth_screen_whole() {
    let (endpoint, _) = chat_endpoint(500, r#"{"error":{"message":"model overloaded"}}"#);
    let url = format!("http://127.0.0.1:{endpoint}/v1/chat/completions");
    let demo = start(&["--summary-endpoint", &url]);
    let body = summary_page(demo.port, "/console/releases/shop/catalog-staging-1-12-0");
    assert!(
        body.contains("AI summary unavailable: the endpoint answered HTTP 500"),
        "{body}"
    );
    assert!(body.contains("model overloaded"));
    assert!(body.contains("badge block"));
    assert!(body.contains("Decision trace"));
}

#[test]
fn bad_console_flags_are_named() {
    for (args, expected) in [
        (
            vec!["--summary-endpoint", "not a url"],
            "--summary-endpoint",
        ),
        (vec!["--summary-endpoint", "ftp://x/"], "not an http(s) URL"),
        (
            vec![
                "--summary-endpoint",
                "http://127.0.0.1:1/",
                "--summary-token-file",
                "/nonexistent/token",
            ],
            "--summary-token-file: cannot read /nonexistent/token",
        ),
        // A proxy range that is every address believes anyone's identity headers.
        (
            vec!["--auth-proxy", "10.0.0.0/8,0.0.0.0/0"],
            "--auth-proxy 0.0.0.0/0 would believe identity headers from any address",
        ),
        (vec!["--auth-proxy", "::/0"], "--auth-proxy ::/0"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_passport"))
            .args(["demo", "--port", "0"])
            .args(&args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(3), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
}

/// Every console request gets a span (method, path, status, latency); the health probe none.
#[test]
fn each_request_is_traced_but_the_health_probe() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("demo.log");
    let log = std::fs::File::create(&path).unwrap();
    let demo = start_logging(&[], "warn,tower_http=debug", log);
    assert_eq!(get(demo.port, "/healthz").0, 200);
    assert_eq!(get(demo.port, "/console/releases").0, 200);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let text = loop {
        let text = std::fs::read_to_string(&path).unwrap();
        if text.contains("finished processing request") && text.contains("/console/releases") {
            break text;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no request span:\n{text}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    assert!(text.contains("method=GET"), "{text}");
    assert!(!text.contains("/healthz"), "the probe was traced:\n{text}");
}

/// Half-open connections (a slowloris) are closed by the header timeout, connections beyond
/// the cap are closed on arrival, and the console keeps answering.
#[test]
fn slow_connections_are_dropped_and_the_console_keeps_answering() {
    use std::io::{Read, Write};
    use std::net::TcpStream;
    use std::time::{Duration, Instant};
    let demo = start(&["--max-connections", "64", "--header-read-timeout", "1s"]);
    let mut idle: Vec<TcpStream> = (0..300)
        .filter_map(|i| {
            let mut s = TcpStream::connect(("127.0.0.1", demo.port)).ok()?;
            // Half of them start a request head and never finish it.
            if i % 2 == 0 {
                let _ = s.write_all(b"GET /console HTTP/1.1\r\nHost: x\r\n");
            }
            Some(s)
        })
        .collect();
    assert!(idle.len() >= 250, "only {} connections opened", idle.len());
    // Every one of them is closed by the server: EOF (or a reset), not a timeout on our side.
    for s in &mut idle {
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut buf = [0u8; 256];
        let waited = |e: &std::io::Error| {
            matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            )
        };
        let closed = match s.read(&mut buf) {
            Ok(0) => true,
            Err(e) => !waited(&e),
            // An answer to a head that timed out, then the close.
            Ok(_) => match s.read(&mut buf) {
                Ok(n) => n == 0,
                Err(e) => !waited(&e),
            },
        };
        assert!(closed, "a half-open connection was kept");
    }
    let started = Instant::now();
    loop {
        if common::demo::try_request(demo.port, "/healthz", &[]).is_some_and(|r| r.0 == 200) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the console stopped answering"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// One client address holding 2,000 idle connections takes only its share
/// (`--max-connections-per-client`): the console still answers another address at once, while
/// those connections are still open.
#[test]
fn one_client_cannot_take_every_connection() {
    use std::io::{Read, Write};
    use std::net::TcpStream;
    // Held connections outlive the test: only the cap can make room.
    let demo = start(&["--header-read-timeout", "120s"]);
    let flood: Vec<TcpStream> = (0..2000)
        .filter_map(|_| TcpStream::connect(("127.0.0.1", demo.port)).ok())
        .collect();
    assert_eq!(flood.len(), 2000, "the flood could not open its sockets");
    // From 127.0.0.2, another loopback address; its connection is queued behind the flood's,
    // which the console accepts (the first 64) or closes (the rest) first.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let other = runtime.block_on(async {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind("127.0.0.2:0".parse().unwrap()).unwrap();
        socket
            .connect(([127, 0, 0, 1], demo.port).into())
            .await
            .unwrap()
            .into_std()
            .unwrap()
    });
    other.set_nonblocking(false).unwrap();
    let mut other = other;
    other
        .set_read_timeout(Some(std::time::Duration::from_secs(60)))
        .unwrap();
    write!(
        other,
        "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    let _ = other.read_to_string(&mut answer);
    assert!(
        answer.starts_with("HTTP/1.1 200"),
        "another client was locked out: {answer:?}"
    );
    // The flood kept 64 of its connections and lost the rest.
    let kept = flood
        .into_iter()
        .filter(|s| {
            s.set_nonblocking(true).unwrap();
            let mut buf = [0u8; 1];
            matches!(s.peek(&mut buf), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
        })
        .count();
    assert_eq!(kept, 64, "the default share of one client");
}

/// `/api/v1/passports` answered every passport in one body, however many (40 such requests at
/// 11,000 passports took 765 MB): pages of `limit`, linked by `metadata.continue`.
#[test]
fn the_passport_list_is_paged() {
    let demo = start(&[]);
    let list = |path: &str| -> serde_json::Value {
        let (status, _, body) = get(demo.port, path);
        assert_eq!(status, 200, "{path}: {body}");
        serde_json::from_str(&body).unwrap()
    };
    let whole = list("/api/v1/passports");
    let all: Vec<String> = whole["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| format!("{}/{}", p["metadata"]["namespace"], p["metadata"]["name"]))
        .collect();
    assert!(all.len() > 100 && all.len() <= 500, "{}", all.len());
    assert!(
        whole["metadata"]["continue"].is_null(),
        "one page holds the demo"
    );

    let mut paged = Vec::new();
    let mut path = "/api/v1/passports?limit=40".to_string();
    loop {
        let page = list(&path);
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= 40);
        paged.extend(
            items
                .iter()
                .map(|p| format!("{}/{}", p["metadata"]["namespace"], p["metadata"]["name"])),
        );
        match page["metadata"]["continue"].as_str() {
            Some(token) => path = format!("/api/v1/passports?limit=40&continue={token}"),
            None => break,
        }
    }
    assert_eq!(
        paged, all,
        "the pages add up to the list, each passport once"
    );

    for (bad, field) in [
        ("limit=0", "limit: 0 is not between 1 and 1000"),
        ("limit=5000", "limit: 5000"),
        ("continue=not-a-token", "continue: not a token"),
    ] {
        let (status, _, body) = get(demo.port, &format!("/api/v1/passports?{bad}"));
        assert_eq!(status, 400, "{bad}: {body}");
        assert!(body.contains(field), "{bad}: {body}");
    }
}
