//! The real `passport demo` binary on a free loopback port, and a bare HTTP/1.1 client.
// The child is killed and waited for in `Drop`; clippy cannot see that.
#![allow(clippy::zombie_processes)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};

pub struct Demo {
    child: Child,
    pub port: u16,
    pub stdout: String,
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `passport ARGS…` from the repository root, to completion.
pub fn passport(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_passport"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap()
}

/// The command exited 0; otherwise fail with what it printed on stderr.
pub fn assert_ok(out: &std::process::Output) {
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `passport demo --port 0 ARGS…`, once it says where the console is.
pub fn start(args: &[&str]) -> Demo {
    start_logging(args, "info", Stdio::inherit())
}

/// The same with `RUST_LOG=filter`, its log written to `log`.
pub fn start_logging(args: &[&str], filter: &str, log: impl Into<Stdio>) -> Demo {
    let mut child = Command::new(env!("CARGO_BIN_EXE_passport"))
        .args(["demo", "--port", "0"])
        .args(args)
        .env("RUST_LOG", filter)
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .unwrap();
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let mut stdout = String::new();
    loop {
        let mut line = String::new();
        assert!(
            reader.read_line(&mut line).unwrap() > 0,
            "demo exited early:\n{stdout}"
        );
        stdout.push_str(&line);
        if let Some(rest) = line.trim().strip_prefix("Console: http://127.0.0.1:") {
            let port = rest.split('/').next().unwrap().parse().unwrap();
            return Demo {
                child,
                port,
                stdout,
            };
        }
    }
}

/// (status, lower-cased headers, body) of a GET with these request headers.
pub fn request(port: u16, path: &str, headers: &[(&str, &str)]) -> (u16, String, String) {
    try_request(port, path, headers).expect("nothing listens on the port")
}

/// The same, or `None` while nothing listens (callers waiting for start-up).
pub fn try_request(
    port: u16,
    path: &str,
    headers: &[(&str, &str)],
) -> Option<(u16, String, String)> {
    try_send(port, "GET", path, headers, "")
}

/// (status, lower-cased headers, body) of any request, or `None` while nothing listens.
pub fn try_send(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Option<(u16, String, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    // A listener that is not the server meant (a port taken by another) may never answer.
    s.set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .ok()?;
    let extra: String = headers
        .iter()
        .map(|(k, v)| format!("{k}: {v}\r\n"))
        .collect();
    let length = if body.is_empty() {
        String::new()
    } else {
        format!("Content-Length: {}\r\n", body.len())
    };
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\n{extra}{length}Connection: close\r\n\r\n{body}"
    )
    .unwrap();
    let mut raw = String::new();
    let _ = s.read_to_string(&mut raw);
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((raw.as_str(), ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    Some((status, head.to_lowercase(), body.to_string()))
}

pub fn get(port: u16, path: &str) -> (u16, String, String) {
    request(port, path, &[])
}

/// Every page of the console's menus and every API route and export.
pub const CONSOLE_ROUTES: [&str; 17] = [
    "/console",
    "/console/releases",
    "/console/gate",
    "/console/gate/builder",
    "/console/radar",
    "/console/metrics",
    "/console/integrations",
    "/console/reports",
    "/settings",
    "/api/v1/passports",
    "/api/v1/connectors",
    "/api/v1/export/passports.json",
    "/api/v1/export/passports.csv",
    "/api/v1/export/passports.md",
    "/api/v1/export/events.json",
    "/api/v1/export/events.csv",
    "/api/v1/export/events.md",
];

/// Every console page and API route reachable from the menus, following links on the same
/// console (release pages, filters, pages of the log), up to `limit` paths; `get` fetches one
/// (status and body) as some viewer.
pub fn crawl(get: impl Fn(&str) -> (u16, String), limit: usize) -> Vec<(String, u16, String)> {
    let mut queue: std::collections::VecDeque<String> = CONSOLE_ROUTES.map(String::from).into();
    let mut seen: std::collections::BTreeSet<String> = queue.iter().cloned().collect();
    let mut out = Vec::new();
    while let Some(path) = queue.pop_front() {
        if out.len() >= limit {
            break;
        }
        let (status, body) = get(&path);
        for link in body.split("href=\"").skip(1) {
            let Some(href) = link.split('"').next() else {
                continue;
            };
            let href = href.replace("&amp;", "&");
            let ours = href.starts_with("/console") || href.starts_with("/api/v1/");
            if ours && !href.contains("logout") && seen.insert(href.clone()) {
                queue.push_back(href);
            }
        }
        out.push((path, status, body));
    }
    out
}
