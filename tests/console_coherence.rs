//! The console tells one truth, over generated snapshots: every count on Overview and Radar
//! equals the number of rows its link opens, and every decision shown — Releases, the truth
//! screen, Overview, Radar — is the passport's own ("Allow (1 waived)" included).

use std::sync::Arc;

use axum::body::Body;
use axum::http::Request;
use chrono::{DateTime, Duration, Utc};
use proptest::prelude::*;
use release_passport::api::{Connector, ReleasePassport};
use release_passport::console::{self, AuthConfig, Fixed, Objects, Runtime, Settings, Snapshot};
use serde_json::json;
use tower::ServiceExt;

const SERVICES: [&str; 3] = ["checkout", "catalog", "payments"];
const ENVIRONMENTS: [&str; 2] = ["staging", "production"];
const DECISIONS: [&str; 3] = ["Allow", "Hold", "Block"];
const STATUSES: [&str; 5] = ["Complete", "Stale", "Failed", "Missing", "Partial"];

fn now() -> DateTime<Utc> {
    "2026-11-25T14:00:00Z".parse().unwrap()
}

/// One generated passport: target, decision, whether a waiver let it through, its evidence,
/// and how many minutes before `now` it was created.
#[derive(Clone, Debug)]
struct Gen {
    service: usize,
    environment: usize,
    decision: usize,
    waived: bool,
    evidence: Vec<usize>,
    age: i64,
}

fn passport(i: usize, g: &Gen) -> ReleasePassport {
    let (service, env, decision) = (
        SERVICES[g.service],
        ENVIRONMENTS[g.environment],
        DECISIONS[g.decision],
    );
    let name = format!("{service}-{env}-{i}");
    let created = now() - Duration::minutes(g.age);
    let mut trace = vec![
        json!({"policy": "p", "mode": "Enforce", "rule": "health", "type": "evidence", "effect": if decision == "Allow" { "Pass" } else { decision }, "message": "m"}),
    ];
    if g.waived && decision == "Allow" {
        trace.push(json!({"policy": "p", "mode": "Enforce", "rule": "ci", "type": "evidence", "effect": "Waived", "message": "waived", "waiver": "w"}));
    }
    let evidence: Vec<_> = g
        .evidence
        .iter()
        .enumerate()
        .map(|(k, s)| json!({"source": format!("s{k}"), "status": STATUSES[*s], "observedAt": created.to_rfc3339(), "connector": "prom"}))
        .collect();
    serde_json::from_value(json!({
        "apiVersion": "releasepassport.io/v1alpha1",
        "kind": "ReleasePassport",
        "metadata": {"name": name, "namespace": "shop", "creationTimestamp": created.to_rfc3339()},
        "spec": {"releaseRef": {"name": name}, "service": service, "version": format!("1.{i}.0"), "environment": env},
        "status": {
            "decision": decision,
            "reasons": if decision == "Allow" { vec![] } else { vec!["p/health: m".to_string()] },
            "evidence": evidence,
            "trace": trace,
            "timeline": [{
                "at": (created + Duration::minutes(1)).to_rfc3339(), "decision": decision, "message": "m",
                "waived": if g.waived && decision == "Allow" { json!([{"policy": "p", "rule": "ci", "waiver": "w"}]) } else { json!([]) },
            }],
        }
    }))
    .unwrap()
}

fn connector(i: usize, health: Option<&str>, minutes_ago: Option<i64>, pushed: bool) -> Connector {
    let mut status = serde_json::Map::new();
    if let Some(h) = health {
        status.insert("health".into(), json!(h));
    }
    if let Some(m) = minutes_ago {
        status.insert(
            "lastSuccessAt".into(),
            json!((now() - Duration::minutes(m)).to_rfc3339()),
        );
    }
    serde_json::from_value(json!({
        "apiVersion": "releasepassport.io/v1alpha1",
        "kind": "Connector",
        "metadata": {"name": format!("c{i}"), "namespace": "shop"},
        "spec": if pushed { json!({"type": "Webhook"}) } else { json!({"type": "Prometheus", "endpoint": "http://prom:9090", "refreshInterval": "1m"}) },
        "status": status,
    }))
    .unwrap()
}

fn gens() -> impl Strategy<Value = Vec<Gen>> {
    prop::collection::vec(
        (
            0..SERVICES.len(),
            0..ENVIRONMENTS.len(),
            0..DECISIONS.len(),
            any::<bool>(),
            prop::collection::vec(0..STATUSES.len(), 0..4),
            0i64..5000,
        )
            .prop_map(
                |(service, environment, decision, waived, evidence, age)| Gen {
                    service,
                    environment,
                    decision,
                    waived,
                    evidence,
                    age,
                },
            ),
        1..40,
    )
}

type ConnectorGen = (Option<usize>, Option<i64>, bool);

fn connector_gens() -> impl Strategy<Value = Vec<ConnectorGen>> {
    prop::collection::vec(
        (
            prop::option::of(0..4usize),
            prop::option::of(0i64..30),
            any::<bool>(),
        ),
        0..6,
    )
}

struct Console {
    app: axum::Router,
    runtime: tokio::runtime::Runtime,
}

impl Console {
    /// The console's router over `snapshot`, signed in locally.
    fn over(snapshot: Snapshot) -> Self {
        Self {
            app: console::router(
                Arc::new(Fixed(Arc::new(snapshot))),
                AuthConfig::local(),
                Settings::default(),
            ),
            runtime: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap(),
        }
    }

    fn get(&self, path: &str) -> String {
        let (status, _, body) = self.fetch(path);
        assert_eq!(status, 200, "{path}");
        body
    }

    /// Status, headers and body of `path` (an address as a page writes it).
    fn fetch(&self, path: &str) -> (u16, axum::http::HeaderMap, String) {
        let path = path.replace("&amp;", "&");
        let path = path.split('#').next().unwrap_or_default().to_string();
        self.runtime.block_on(async {
            let response = self
                .app
                .clone()
                .oneshot(Request::get(&path).body(Body::empty()).unwrap())
                .await
                .unwrap();
            let (status, headers) = (response.status().as_u16(), response.headers().clone());
            let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
                .await
                .unwrap();
            (status, headers, String::from_utf8(bytes.to_vec()).unwrap())
        })
    }
}

fn count(html: &str, needle: &str) -> usize {
    html.matches(needle).count()
}

fn rows_of_releases(html: &str) -> usize {
    count(html, "<td data-label=\"Release\">")
}

fn rows_of_connector_issues(html: &str) -> usize {
    count(html, "<td class=\"why\" data-label=\"Issue\">")
}

/// (href, count) of every linked tile on a page.
fn tiles(html: &str) -> Vec<(String, String)> {
    let re = regex::Regex::new(r#"<a class="tile[^"]*" href="([^"]+)"><strong>([^<]+)</strong>"#)
        .unwrap();
    re.captures_iter(html)
        .map(|c| (c[1].to_string(), c[2].to_string()))
        .collect()
}

fn decision_label(p: &ReleasePassport) -> String {
    p.status.as_ref().unwrap().decision_label()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn every_count_is_the_rows_its_link_opens_and_every_decision_the_passports(
        generated in gens(),
        conns in connector_gens(),
    ) {
        let passports: Vec<ReleasePassport> =
            generated.iter().enumerate().map(|(i, g)| passport(i, g)).collect();
        let health = ["Healthy", "Degraded", "Unreachable", "CredentialRequired"];
        let connectors: Vec<Connector> = conns
            .iter()
            .enumerate()
            .map(|(i, (h, m, pushed))| connector(i, h.map(|h| health[h]), *m, *pushed))
            .collect();
        let snapshot = Snapshot::new(
            Objects {
                passports: passports.iter().cloned().map(Arc::new).collect(),
                connectors: connectors.into_iter().map(Arc::new).collect(),
                ..Objects::default()
            },
            now(),
            Runtime::default(),
        );
        let console = Console::over(snapshot);

        // Overview: each tile's count is the rows its link lists.
        let overview = console.get("/console");
        let overview_tiles = tiles(&overview);
        prop_assert_eq!(overview_tiles.len(), 6, "{}", overview);
        for (href, n) in &overview_tiles {
            let opened = console.get(href);
            let rows = if href.starts_with("/console/releases") {
                rows_of_releases(&opened)
            } else {
                rows_of_connector_issues(&opened)
            };
            prop_assert_eq!(n.parse::<usize>().unwrap(), rows, "{} says {} and lists {}", href, n, rows);
        }
        // Radar: connectors without issues, and exactly those behind its link.
        let radar = console.get("/console/radar");
        let radar_tiles = tiles(&radar);
        prop_assert_eq!(radar_tiles.len(), 2, "{}", radar);
        let (href, n) = &radar_tiles[0];
        prop_assert_eq!(n.parse::<usize>().unwrap(), rows_of_releases(&console.get(href)), "{}", href);
        let (href, n) = &radar_tiles[1];
        let (fine, all) = n.split_once('/').unwrap();
        let (fine, all): (usize, usize) = (fine.parse().unwrap(), all.parse().unwrap());
        prop_assert_eq!(fine, rows_of_connector_issues(&console.get(href)), "{}", href);
        prop_assert_eq!(all, conns.len());
        // One definition of a connector issue, one wording, on every page that counts them.
        let issues_tile = overview_tiles.iter().find(|(h, _)| h.contains("issues=on")).unwrap();
        prop_assert_eq!(issues_tile.1.parse::<usize>().unwrap(), all - fine);
        let wording = format!("{fine} of {all} connectors without issues");
        for page in ["/console/metrics", "/settings"] {
            let html = console.get(page);
            prop_assert!(html.contains(&wording), "{} does not say {:?}", page, wording);
        }
        let api: serde_json::Value = serde_json::from_str(&console.get("/api/v1/connectors")).unwrap();
        prop_assert_eq!(api["summary"].as_str(), Some(wording.as_str()));
        prop_assert_eq!(
            api["items"].as_array().unwrap().iter().filter(|i| i["issue"].is_null()).count(),
            fine
        );
        let integrations = console.get("/console/integrations");
        let matrix = regex::Regex::new(r#"<td data-label="Health">(\d+)/(\d+) without issues</td>"#).unwrap();
        let (matrix_fine, matrix_all) = matrix.captures_iter(&integrations).fold((0, 0), |(f, a), c| {
            (f + c[1].parse::<usize>().unwrap(), a + c[2].parse::<usize>().unwrap())
        });
        prop_assert_eq!((matrix_fine, matrix_all), (fine, all), "Integrations' matrix");
        prop_assert!(!integrations.contains(" healthy<"), "Integrations counts another way");

        // Every decision shown is the passport's.
        let list = console.get("/console/releases");
        let row = regex::Regex::new(
            r#"<td data-label="Release"><a href="[^"]+">shop/([^<]+)</a></td>.*?<td data-label="Decision"><span class="badge[^"]*">([^<]+)</span>"#,
        )
        .unwrap();
        let listed: std::collections::BTreeMap<String, String> = row
            .captures_iter(&list)
            .map(|c| (c[1].to_string(), c[2].to_string()))
            .collect();
        prop_assert_eq!(listed.len(), passports.len());
        let radar_row = regex::Regex::new(
            r#"<a href="/console/releases/shop/([^"]+)">[^<]+</a></td><td data-label="Decision"><span class="badge[^"]*">([^<]+)</span>"#,
        )
        .unwrap();
        let on_radar: Vec<(String, String)> = radar_row
            .captures_iter(&radar)
            .map(|c| (c[1].to_string(), c[2].to_string()))
            .collect();
        prop_assert!(!on_radar.is_empty());
        for p in &passports {
            let name = p.metadata.name.clone().unwrap();
            let label = decision_label(p);
            prop_assert_eq!(listed.get(&name), Some(&label), "Releases row of {}", name);
            let screen = console.get(&format!("/console/releases/shop/{name}"));
            let h1 = screen.split("<h1>").nth(1).and_then(|h| h.split("</span></h1>").next()).unwrap_or_default();
            prop_assert!(h1.ends_with(&format!(">{label}")), "truth screen of {}: {}", name, h1);
            // The timeline shows the evidence as it arrived beside the decisions.
            let timeline = screen.split("id=\"timeline\"").nth(1).unwrap_or_default();
            let timeline = timeline.split("</section>").next().unwrap_or_default();
            let observed = timeline.matches("observed <span class=\"badge").count();
            prop_assert_eq!(observed, p.status.as_ref().unwrap().evidence.len(), "timeline of {}", name);
        }
        for (name, shown) in &on_radar {
            let p = passports.iter().find(|p| p.metadata.name.as_deref() == Some(name)).unwrap();
            prop_assert_eq!(shown, &decision_label(p), "Radar row of {}", name);
        }
        // A waiver that let a release through is said wherever its decision is: the governance
        // log, the Gate's decision history, both exports and their reasons column.
        let log = console.get("/console/reports");
        // The Gate's decision history, every page of it (one decision per passport here).
        let gate: String = (1..=passports.len().div_ceil(20))
            .map(|page| console.get(&format!("/console/gate?history={page}")))
            .collect();
        let passports_csv = console.get("/api/v1/export/passports.csv");
        let events_csv = console.get("/api/v1/export/events.csv");
        for p in &passports {
            let name = p.metadata.name.clone().unwrap();
            let label = decision_label(p);
            let line = |csv: &str| {
                csv.lines().filter(|l| l.contains(&format!(",{name},"))).map(str::to_string).collect::<Vec<_>>()
            };
            let row = line(&passports_csv);
            prop_assert_eq!(row.len(), 1, "passports.csv rows of {}", name);
            prop_assert!(row[0].contains(&format!(",{label},")), "passports.csv of {}: {}", name, row[0]);
            let decided = format!("{label}: m");
            prop_assert!(line(&events_csv).iter().any(|l| l.contains(&decided)), "events.csv of {}", name);
            if label.contains("waived") {
                prop_assert!(row[0].contains("waived: p/ci by w"), "passports.csv reasons of {}: {}", name, row[0]);
                prop_assert!(log.contains(&format!(">shop/{name}<")) && log.contains(&decided), "log of {}", name);
                prop_assert!(gate.contains(&decided), "Gate history of {}", name);
            }
        }
        let held = regex::Regex::new(
            r#"<a href="/console/releases/shop/([^"]+)">shop/[^<]+</a><br><small>[^<]*</small></td><td data-label="Decision"><span class="badge[^"]*">([^<]+)</span>"#,
        )
        .unwrap();
        for c in held.captures_iter(&overview) {
            let p = passports.iter().find(|p| p.metadata.name.as_deref() == Some(&c[1])).unwrap();
            let label = decision_label(p);
            prop_assert_eq!(&c[2], label.as_str(), "Overview row of {}", &c[1]);
        }
    }
}

/// The truth screen's export is exactly that release: the old substring filter put 5.0.22,
/// 5.0.24, … into 5.0.2's audit record.
#[test]
fn a_release_exports_alone() {
    let make = |version: &str| {
        let name = format!("payments-production-{}", version.replace('.', "-"));
        serde_json::from_value::<ReleasePassport>(json!({
            "apiVersion": "releasepassport.io/v1alpha1",
            "kind": "ReleasePassport",
            "metadata": {"name": name, "namespace": "shop", "creationTimestamp": now().to_rfc3339()},
            "spec": {"releaseRef": {"name": name}, "service": "payments", "version": version, "environment": "production"},
            "status": {"decision": "Allow"},
        }))
        .unwrap()
    };
    let snapshot = Snapshot::new(
        Objects {
            passports: ["5.0.2", "5.0.22", "5.0.24", "5.0.25", "15.0.2"]
                .into_iter()
                .map(|v| Arc::new(make(v)))
                .collect(),
            ..Objects::default()
        },
        now(),
        Runtime::default(),
    );
    let console = Console::over(snapshot);
    let screen = console.get("/console/releases/shop/payments-production-5-0-2");
    let href = regex::Regex::new(r#"href="(/api/v1/export/passports\.csv[^"]*)""#)
        .unwrap()
        .captures(&screen)
        .map(|c| c[1].to_string())
        .unwrap();
    let csv = console.get(&href);
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 2, "a header and one release: {csv}");
    assert!(lines[1].contains("payments-production-5-0-2,"), "{csv}");
    let json = console.get(&href.replace(".csv", ".json"));
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let items = v["passports"]
        .as_array()
        .or_else(|| v["items"].as_array())
        .unwrap();
    assert_eq!(items.len(), 1, "{json}");
}

/// Evidence text, a service and a reason that carry bidi overrides and zero-width characters
/// (`ok\u{202e}deliaf` displays as "okfailed") are shown with those marks visible on every page
/// that names them; none reaches the browser raw.
#[test]
fn bidi_and_zero_width_marks_are_shown_not_obeyed() {
    let name = "checkout-production-1";
    let passport: ReleasePassport = serde_json::from_value(json!({
        "apiVersion": "releasepassport.io/v1alpha1",
        "kind": "ReleasePassport",
        "metadata": {"name": name, "namespace": "shop", "creationTimestamp": now().to_rfc3339()},
        "spec": {"releaseRef": {"name": name}, "service": "check\u{200b}out", "version": "1.0.0\u{2066}", "environment": "production"},
        "status": {
            "decision": "Hold",
            "reasons": ["p/health: ok\u{202e}deliaf"],
            "evidence": [{"source": "smoke", "status": "Failed", "summary": "ok\u{202e}deliaf\u{feff}", "observedAt": now().to_rfc3339(), "connector": "prom"}],
            "trace": [{"policy": "p", "mode": "Enforce", "rule": "health", "type": "evidence", "effect": "Hold", "message": "ok\u{202e}deliaf"}],
        }
    }))
    .unwrap();
    let console = Console::over(Snapshot::new(
        Objects {
            passports: vec![Arc::new(passport)],
            ..Objects::default()
        },
        now(),
        Runtime::default(),
    ));
    for path in [
        "/console",
        "/console/releases",
        "/console/gate",
        &format!("/console/releases/shop/{name}"),
    ] {
        let html = console.get(path);
        for mark in ['\u{202e}', '\u{200b}', '\u{2066}', '\u{feff}'] {
            assert!(!html.contains(mark), "{path} sends {:?} raw", mark);
        }
        if path != "/console/gate" {
            assert!(
                html.contains(r"check\u{200b}out"),
                "{path} hides the service's mark"
            );
        }
    }
    let detail = console.get(&format!("/console/releases/shop/{name}"));
    assert!(
        detail.contains(r"ok\u{202e}deliaf"),
        "the summary's override is not shown"
    );
}

fn plain(i: usize) -> ReleasePassport {
    passport(
        i,
        &Gen {
            service: i % SERVICES.len(),
            environment: i % ENVIRONMENTS.len(),
            decision: 0,
            waived: false,
            evidence: vec![],
            age: i as i64,
        },
    )
}

fn console_of(passports: Vec<ReleasePassport>) -> Console {
    Console::over(Snapshot::new(
        Objects {
            passports: passports.into_iter().map(Arc::new).collect(),
            ..Objects::default()
        },
        now(),
        Runtime::default(),
    ))
}

/// Lists count their pages as people do: `?page=1` is the first, the pager's links name the
/// page they open, and a page past the end is the last.
#[test]
fn pages_count_from_one() {
    let console = console_of((0..120).map(plain).collect());
    let pager = regex::Regex::new(r"Page (\d+) of (\d+)").unwrap();
    let said = |html: &str| {
        let c = pager.captures(html).expect("a pager");
        (
            c[1].parse::<usize>().unwrap(),
            c[2].parse::<usize>().unwrap(),
        )
    };
    assert_eq!(said(&console.get("/console/releases")), (1, 3));
    assert_eq!(said(&console.get("/console/releases?page=0")), (1, 3));
    let first = console.get("/console/releases?page=1");
    assert_eq!(said(&first), (1, 3));
    let next = regex::Regex::new(r#"<a rel="next" href="([^"]+)""#).unwrap();
    let href = next.captures(&first).unwrap()[1].to_string();
    assert!(href.ends_with("page=2"), "{href}");
    let second = console.get(&href);
    assert_eq!(said(&second), (2, 3));
    assert_eq!(rows_of_releases(&second), 50);
    assert_eq!(said(&console.get("/console/releases?page=99")), (3, 3));
    assert_eq!(
        rows_of_releases(&console.get("/console/releases?page=3")),
        20
    );
}

/// The empty and edge states say what is true: no release is not "every release allowed", an
/// unknown API route answers JSON, one release's export is named for it, and local sign-in
/// names no issuer.
#[test]
fn edge_states_say_what_is_true() {
    let empty = console_of(vec![]);
    let overview = empty.get("/console");
    assert!(
        !overview.contains("every decided release is allowed"),
        "{overview}"
    );
    assert!(overview.contains("no release has a passport yet"));

    let (status, headers, body) = empty.fetch("/api/v1/nothing-here");
    assert_eq!(status, 404);
    assert_eq!(headers["content-type"], "application/json");
    assert!(serde_json::from_str::<serde_json::Value>(&body).unwrap()["error"].is_string());

    let settings = empty.get("/settings");
    assert!(!settings.contains("end_session_endpoint"), "no issuer here");

    let one = console_of((0..3).map(plain).collect());
    let name = plain(1).metadata.name.unwrap();
    let (_, headers, _) = one.fetch(&format!(
        "/api/v1/export/passports.json?namespace=shop&name={name}"
    ));
    assert_eq!(
        headers["content-disposition"],
        format!("attachment; filename=\"passport-shop-{name}.json\"").as_str()
    );
    let (_, headers, _) = one.fetch("/api/v1/export/passports.csv");
    assert_eq!(
        headers["content-disposition"],
        "attachment; filename=\"passports.csv\""
    );
}

/// Gate's simulator: each figure links to exactly the releases it counts (#32: "would block 17"
/// opened nothing).
#[test]
fn the_simulators_figures_open_what_they_count() {
    let effects = ["Pass", "Hold", "Block", "Hold", "Block", "Block"];
    let passports: Vec<ReleasePassport> = effects
        .iter()
        .enumerate()
        .map(|(i, effect)| {
            let mut p = plain(i);
            let status = p.status.as_mut().unwrap();
            status.trace.push(
                serde_json::from_value(json!({"policy": "candidate", "mode": "Simulate", "rule": "r", "type": "evidence", "effect": effect, "message": "m"}))
                    .unwrap(),
            );
            p
        })
        .chain((6..9).map(plain))
        .collect();
    let console = console_of(passports);
    let gate = console.get("/console/gate");
    let cell = regex::Regex::new(
        r#"<td data-label="(Releases|Would hold|Would block)"><a href="([^"]+)">(\d+)</a>"#,
    )
    .unwrap();
    let figures: Vec<(String, String, usize)> = cell
        .captures_iter(&gate)
        .map(|c| (c[1].to_string(), c[2].to_string(), c[3].parse().unwrap()))
        .collect();
    let counted: Vec<(&str, usize)> = figures.iter().map(|(w, _, n)| (w.as_str(), *n)).collect();
    assert_eq!(
        counted,
        [("Releases", 6), ("Would hold", 2), ("Would block", 3)]
    );
    for (what, href, n) in &figures {
        assert_eq!(rows_of_releases(&console.get(href)), *n, "{what}: {href}");
    }
}

/// The governance log holds every approval once: those whose Approval object still exists and
/// those only a passport recorded (#32: 5 approval lines where the passports recorded 79).
#[test]
fn the_log_holds_every_recorded_approval_once() {
    let given = (now() - Duration::hours(1)).to_rfc3339();
    let recorded = |i: usize, approval: &str| {
        let mut p = plain(i);
        p.status.as_mut().unwrap().approvals = Some(
            serde_json::from_value(json!({
                "required": 1, "approved": 1,
                "records": [{"name": approval, "approver": "alice", "decision": "Approve", "at": given}],
            }))
            .unwrap(),
        );
        p
    };
    // web-a is recorded by its passport and still exists; web-b only its passport remembers.
    let (a, b) = (recorded(0, "web-a"), recorded(1, "web-b"));
    let object: release_passport::api::Approval = serde_json::from_value(json!({
        "apiVersion": "releasepassport.io/v1alpha1", "kind": "Approval",
        "metadata": {"name": "web-a", "namespace": "shop", "creationTimestamp": given},
        "spec": {"releaseRef": {"name": a.spec.release_ref.name}, "decision": "Approve", "approver": "alice"},
    }))
    .unwrap();
    let console = Console::over(Snapshot::new(
        Objects {
            passports: vec![Arc::new(a), Arc::new(b)],
            approvals: vec![Arc::new(object)],
            ..Objects::default()
        },
        now(),
        Runtime::default(),
    ));
    let csv = console.get("/api/v1/export/events.csv?kind=approval");
    let lines: Vec<&str> = csv.lines().skip(1).collect();
    assert_eq!(lines.len(), 2, "{csv}");
    assert!(
        lines.iter().all(|l| l.contains(",alice,approved ")),
        "{csv}"
    );
}

/// Every count on Metrics opens the passports it counts in its window, and the list says how
/// many more retention folded into rollups: rows + folded = the figure, for every scorecard row,
/// the DORA tiles, the held and blocked counts and every bar of the deployment and hold-reason
/// charts, over windows that cut the history.
mod metrics_counts {
    use super::*;
    use release_passport::metrics::delivery::{Record, Rollups};

    fn figures(html: &str) -> Vec<(String, usize)> {
        let re = regex::Regex::new(
            r#"(?:data-label="Deploys"><a|left (?:held|blocked): <a|over <a|<td><a) href="([^"]+)">(\d+)(?: (?:deployments?|releases?)<)?"#,
        )
        .unwrap();
        re.captures_iter(html)
            .map(|c| (c[1].to_string(), c[2].parse().unwrap()))
            .collect()
    }

    fn folded(html: &str) -> usize {
        regex::Regex::new(r#"<strong class="folded">(\d+)</strong>"#)
            .unwrap()
            .captures(html)
            .map_or(0, |c| c[1].parse().unwrap())
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

        #[test]
        fn every_metrics_count_is_its_rows_and_what_retention_folded(
            live in gens(),
            gone in gens(),
        ) {
            let passports: Vec<ReleasePassport> =
                live.iter().enumerate().map(|(i, g)| passport(i, g)).collect();
            // Folded releases reach further back, across the 7- and 30-day windows' edges.
            let records: Vec<Record> = gone
                .iter()
                .enumerate()
                .map(|(i, g)| Record::from_passport(&passport(1000 + i, &Gen { age: g.age * 15, ..g.clone() })))
                .collect();
            let snapshot = Snapshot::new(
                Objects {
                    passports: passports.into_iter().map(Arc::new).collect(),
                    rollups: Arc::new(Rollups::fold(&records, now().date_naive())),
                    ..Objects::default()
                },
                now(),
                Runtime::default(),
            );
            let console = Console::over(snapshot);
            for days in [7, 30] {
                let metrics = console.get(&format!("/console/metrics?days={days}"));
                let counts = figures(&metrics);
                // All, each target's row, four DORA tiles, held and blocked, each day's bar.
                prop_assert!(counts.len() >= 7 + days, "{}", metrics);
                for (href, n) in counts {
                    let opened = console.get(&href);
                    let (rows, more) = (rows_of_releases(&opened), folded(&opened));
                    prop_assert_eq!(rows + more, n, "{} counts {} and opens {} rows + {} folded", href, n, rows, more);
                }
            }
        }
    }
}

/// A namespace that just installed beside a team already deciding shows its own way to a first
/// passport — and each command it offers, pasted, applies the example into that namespace.
#[test]
fn a_just_installed_namespace_shows_its_first_passport_progress() {
    use release_passport::commands::demo::demo_snapshot;
    use release_passport::decide::decide_all;
    use release_passport::load::{Bundle, load_str};

    let bundle = release_passport::examples::bundle().unwrap();
    let at = bundle.recorded_at.unwrap_or_else(now);
    let passports = decide_all(&bundle, at)
        .into_iter()
        .map(|d| d.passport)
        .collect();
    let console = Console::over(demo_snapshot(
        &bundle,
        passports,
        at,
        "demo".into(),
        Vec::new(),
    ));
    let overview = console.get("/console");
    // The shop reached its first Allow long ago: no workspace checklist, only search's.
    assert!(!overview.contains("<h2 id=\"first\">"), "{overview}");
    let section = overview
        .split("<h2 id=\"first-search\">")
        .nth(1)
        .and_then(|s| s.split("</section>").next())
        .expect("search's first-passport progress");
    assert!(section.contains("2 of 6 done"), "{section}");
    assert_eq!(section.matches("class=\"done\"").count(), 2, "{section}");
    let commands: Vec<String> = regex::Regex::new(r#"<pre class="cmd"><code>([^<]+)</code>"#)
        .unwrap()
        .captures_iter(section)
        .map(|c| c[1].replace("&#39;", "'").replace("&amp;", "&"))
        .collect();
    assert_eq!(commands.len(), 4, "{section}");
    assert_eq!(commands[2], "kubectl get releasepassports -n search");
    assert_eq!(commands[3], "passport gate --release search/NAME --wait");
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    for command in &commands[..2] {
        // What kubectl would be given: the pipeline up to it, run as pasted.
        let (made, kubectl) = command.split_once(" | ").unwrap();
        assert_eq!(kubectl, "kubectl apply -f -");
        let out = std::process::Command::new("sh")
            .args(["-c", made])
            .current_dir(root)
            .output()
            .unwrap();
        assert!(out.status.success(), "{command}");
        let mut applied = Bundle::default();
        load_str(
            command,
            &String::from_utf8(out.stdout).unwrap(),
            "default",
            &mut applied,
        )
        .unwrap();
        let namespaces: Vec<Option<String>> = applied
            .connectors
            .iter()
            .map(|c| c.metadata.namespace.clone())
            .chain(
                applied
                    .releases
                    .iter()
                    .map(|r| r.metadata.namespace.clone()),
            )
            .chain(
                applied
                    .policies
                    .iter()
                    .map(|p| p.metadata.namespace.clone()),
            )
            .collect();
        assert!(!namespaces.is_empty(), "{command} applies nothing");
        assert!(
            namespaces.iter().all(|n| n.as_deref() == Some("search")),
            "{command} applies into {namespaces:?}"
        );
    }
}

/// A metric compared with its baseline is drawn on its truth screen — both medians, the limit
/// the tolerance allows — and Radar flags it while it sits near that limit.
#[test]
fn a_comparison_is_drawn_and_flagged_near_the_line() {
    let compared = |name: &str, release_median: f64| {
        serde_json::from_value::<ReleasePassport>(json!({
            "apiVersion": "releasepassport.io/v1alpha1",
            "kind": "ReleasePassport",
            "metadata": {"name": name, "namespace": "shop", "creationTimestamp": now().to_rfc3339()},
            "spec": {"releaseRef": {"name": name}, "service": name, "version": "2.0.0", "environment": "production"},
            "status": {
                "decision": "Allow",
                "evidence": [{
                    "source": "error-rate", "status": "Complete", "observedAt": now().to_rfc3339(),
                    "query": "q @samples=2026-11-25T13:05:00Z+30m", "value": release_median,
                    "comparison": {
                        "releaseMedian": release_median, "baselineMedian": 0.001, "limit": 0.0012,
                        "worse": "higher", "pValue": 0.2, "releaseSamples": 61, "baselineSamples": 61,
                        "baseline": "the 30m before", "unit": "ratio",
                    },
                }],
            }
        }))
        .unwrap()
    };
    let console = Console::over(Snapshot::new(
        Objects {
            passports: vec![
                Arc::new(compared("cart", 0.00118)),
                Arc::new(compared("wishlist", 0.001)),
            ],
            ..Objects::default()
        },
        now(),
        Runtime::default(),
    ));
    let screen = console.get("/console/releases/shop/cart");
    let section = screen
        .split("id=\"compared\"")
        .nth(1)
        .expect("the comparison section");
    for shown in [
        "the 30m before",
        "this release",
        "0.118%",
        "0.1%",
        "limit 0.12%",
        "Medians of 61 and 61 samples; higher is worse",
        "p = 0.2",
    ] {
        assert!(section.contains(shown), "{shown}: {section}");
    }
    let radar = console.get("/console/radar");
    let near = radar
        .split("id=\"near\"")
        .nth(1)
        .unwrap()
        .split("</section>")
        .next()
        .unwrap();
    assert!(
        near.contains(
            "used 90% of its tolerance: 0.118% against a limit of 0.12% (the 30m before)"
        ),
        "{near}"
    );
    assert!(!near.contains("wishlist"), "{near}");
}
