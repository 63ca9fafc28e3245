//! PURE: a [`Message`] as each receiver type takes it — Slack's incoming-webhook blocks, a Teams
//! workflow's Adaptive Card, a CloudEvents 1.0 structured event signed like our own webhook
//! deliveries (HMAC-SHA256 over `"{timestamp}.{body}"`), GitHub's commit status or check run.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::{Message, Subject};
use crate::api::{Decision, NotifierEvent, NotifierType, ObjectKey};

/// The API base a GitHubStatus notifier without `url` talks to.
pub const GITHUB_API: &str = "https://api.github.com";
pub const SIGNATURE_HEADER: &str = crate::connectors::webhook::SIGNATURE_HEADER;
pub const TIMESTAMP_HEADER: &str = crate::connectors::webhook::TIMESTAMP_HEADER;

/// One HTTP POST, ready to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    pub url: String,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

/// Why a message cannot be sent to this notifier (a configuration fault, not worth a retry).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PayloadError {
    #[error("the credential is not an http:// or https:// URL (Secret key {0:?})")]
    NotAUrl(String),
    #[error("spec.url is required for a Webhook notifier")]
    NoUrl,
    #[error("the release's scope.project {0:?} is not owner/repository")]
    NotARepository(String),
    #[error("the release has no revision.commit or scope.project")]
    NoCommit,
}

/// Where and how one Notifier delivers.
pub struct Target<'a> {
    pub notifier: &'a ObjectKey,
    pub type_: NotifierType,
    /// `spec.url`.
    pub url: Option<&'a str>,
    /// The Secret value: a webhook URL, an HMAC key or a token.
    pub credential: &'a str,
    /// The Secret key it was read from (named in errors, never the value).
    pub credential_key: &'a str,
    pub check_run: bool,
}

/// The request that tells `message` to `target`, signed at `now` where the type signs.
pub fn request(
    target: &Target<'_>,
    message: &Message,
    now: DateTime<Utc>,
) -> Result<Request, PayloadError> {
    let json_headers = || vec![("content-type", "application/json".to_string())];
    let webhook_url = || {
        let url = target.credential.trim();
        if url.starts_with("https://") || url.starts_with("http://") {
            Ok(url.to_string())
        } else {
            Err(PayloadError::NotAUrl(target.credential_key.to_string()))
        }
    };
    Ok(match target.type_ {
        NotifierType::Slack => Request {
            url: webhook_url()?,
            headers: json_headers(),
            body: to_bytes(&slack(message)),
        },
        NotifierType::MSTeams => Request {
            url: webhook_url()?,
            headers: json_headers(),
            body: to_bytes(&teams(message)),
        },
        NotifierType::Webhook => {
            let url = target.url.ok_or(PayloadError::NoUrl)?.to_string();
            let body = to_bytes(&cloud_event(target.notifier, message));
            let ts = now.timestamp();
            let signature =
                crate::connectors::webhook::sign(target.credential.as_bytes(), ts, &body);
            Request {
                url,
                headers: vec![
                    ("content-type", "application/cloudevents+json".to_string()),
                    (TIMESTAMP_HEADER, ts.to_string()),
                    (SIGNATURE_HEADER, signature),
                ],
                body,
            }
        }
        NotifierType::GitHubStatus => github(target, message)?,
    })
}

fn to_bytes(v: &Value) -> Vec<u8> {
    // A Value always serialises.
    serde_json::to_vec(v).unwrap_or_default()
}

/// Slack's mrkdwn treats `&`, `<` and `>` as markup (`<!channel>` pings everyone): escaped.
fn slack_text(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Markdown an Adaptive Card would render (links, emphasis) is shown as typed.
fn card_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '\\' | '[' | ']' | '*' | '_' | '`' | '<' | '>') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn decision_line(m: &Message) -> Option<String> {
    let d = m.decision?;
    Some(match m.previous {
        Some(p) if p != d && m.event == NotifierEvent::DecisionChanged => format!("{d} (was {p})"),
        _ => d.to_string(),
    })
}

/// The facts every rendering lists, in order.
fn facts(m: &Message) -> Vec<(&'static str, String)> {
    let mut facts = Vec::new();
    if let Some(d) = decision_line(m) {
        facts.push(("Decision", d));
    }
    if !m.reason.is_empty() {
        facts.push(("Why", m.reason.clone()));
    }
    if let Some(r) = &m.release {
        facts.push(("Release", format!("{} {}", r.service, r.version)));
        facts.push(("Environment", r.environment.clone()));
        if let Some(c) = &r.commit {
            facts.push(("Commit", c.chars().take(12).collect()));
        }
    }
    let kind = match m.subject {
        Subject::Passport(_) => "Passport",
        Subject::Waiver(_) => "Waiver",
        Subject::Connector(_) => "Connector",
    };
    facts.push((kind, m.subject.key().to_string()));
    facts
}

/// Slack incoming webhook: a header, the facts, the time, a button to the console.
pub fn slack(m: &Message) -> Value {
    let fields: Vec<String> = facts(m)
        .iter()
        .map(|(k, v)| format!("*{k}:* {}", slack_text(v)))
        .collect();
    let mut blocks = vec![
        json!({"type": "header", "text": {"type": "plain_text",
            "text": crate::text::clip(&m.title, 150), "emoji": false}}),
        json!({"type": "section", "text": {"type": "mrkdwn", "text": fields.join("\n")}}),
        json!({"type": "context", "elements": [{"type": "mrkdwn",
            "text": format!("Release Passport · {} · {}", m.event, m.at.to_rfc3339())}]}),
    ];
    if let Some(link) = &m.link {
        blocks.push(json!({"type": "actions", "elements": [{"type": "button",
            "text": {"type": "plain_text", "text": "Open in the console"}, "url": link}]}));
    }
    json!({"text": slack_text(&format!("{} — {}", m.title, m.reason)), "blocks": blocks})
}

/// Teams workflow webhook: a message with one Adaptive Card.
pub fn teams(m: &Message) -> Value {
    let facts: Vec<Value> = facts(m)
        .iter()
        .map(|(k, v)| json!({"title": k, "value": card_text(v)}))
        .collect();
    let mut card = json!({
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": [
            {"type": "TextBlock", "text": card_text(&m.title), "weight": "Bolder",
             "size": "Medium", "wrap": true, "style": "heading"},
            {"type": "FactSet", "facts": facts},
            {"type": "TextBlock", "text": format!("Release Passport · {} · {}", m.event, m.at.to_rfc3339()),
             "isSubtle": true, "size": "Small", "wrap": true}
        ]
    });
    if let Some(link) = &m.link {
        card["actions"] =
            json!([{"type": "Action.OpenUrl", "title": "Open in the console", "url": link}]);
    }
    json!({"type": "message", "attachments": [{
        "contentType": "application/vnd.microsoft.card.adaptive",
        "contentUrl": null,
        "content": card
    }]})
}

/// The CloudEvents `type` of each event.
pub fn event_type(event: NotifierEvent) -> &'static str {
    match event {
        NotifierEvent::DecisionChanged => "io.releasepassport.decision.changed",
        NotifierEvent::WatchFailed => "io.releasepassport.watch.failed",
        NotifierEvent::WaiverExpiring => "io.releasepassport.waiver.expiring",
        NotifierEvent::ConnectorUnhealthy => "io.releasepassport.connector.unhealthy",
    }
}

/// A CloudEvents 1.0 event in structured JSON mode.
pub fn cloud_event(notifier: &ObjectKey, m: &Message) -> Value {
    let key = m.subject.key();
    let mut data = json!({
        "namespace": key.namespace,
        "name": key.name,
        "title": m.title,
        "reason": m.reason,
        "notifier": notifier.name,
    });
    if let Some(d) = m.decision {
        data["decision"] = json!(d);
    }
    if let Some(p) = m.previous {
        data["previousDecision"] = json!(p);
    }
    if let Some(r) = &m.release {
        data["release"] = json!({"service": r.service, "version": r.version,
            "environment": r.environment, "commit": r.commit, "project": r.project});
    }
    if let Some(link) = &m.link {
        data["link"] = json!(link);
    }
    json!({
        "specversion": "1.0",
        "id": m.id(notifier),
        "source": m.source(),
        "type": event_type(m.event),
        "subject": key.to_string(),
        "time": m.at.to_rfc3339(),
        "datacontenttype": "application/json",
        "data": data,
    })
}

/// GitHub's status context for a release's environment.
pub fn github_context(environment: &str) -> String {
    format!("release-passport/{environment}")
}

fn github(target: &Target<'_>, m: &Message) -> Result<Request, PayloadError> {
    let release = m.release.as_ref().ok_or(PayloadError::NoCommit)?;
    let (Some(commit), Some(project)) = (&release.commit, &release.project) else {
        return Err(PayloadError::NoCommit);
    };
    let repo = project.trim_matches('/');
    if repo.split('/').count() != 2 || repo.split('/').any(|p| p.is_empty()) {
        return Err(PayloadError::NotARepository(project.clone()));
    }
    let base = target.url.unwrap_or(GITHUB_API).trim_end_matches('/');
    let repo_path = repo
        .split('/')
        .map(|p| crate::api::links::percent_encode(p, false))
        .collect::<Vec<_>>()
        .join("/");
    let commit = crate::api::links::percent_encode(commit, false);
    let context = github_context(&release.environment);
    let failed = m.event == NotifierEvent::WatchFailed;
    let description = crate::text::clip(
        &format!(
            "{}: {}",
            if failed {
                "Watch failed".to_string()
            } else {
                m.decision.map(|d| d.to_string()).unwrap_or_default()
            },
            m.reason
        ),
        140,
    )
    .into_owned();
    let (url, body) = if target.check_run {
        let (status, conclusion) = match (failed, m.decision) {
            (true, _) | (_, Some(Decision::Block)) => ("completed", Some("failure")),
            (_, Some(Decision::Allow)) => ("completed", Some("success")),
            _ => ("in_progress", None),
        };
        let mut body = json!({
            "name": context,
            "head_sha": release.commit,
            "status": status,
            "external_id": m.subject.key().to_string(),
            // The summary is Markdown on GitHub: what the text says is shown, not rendered.
            "output": {"title": m.title, "summary": card_text(&description)},
        });
        if let Some(c) = conclusion {
            body["conclusion"] = json!(c);
        }
        if let Some(link) = &m.link {
            body["details_url"] = json!(link);
        }
        (format!("{base}/repos/{repo_path}/check-runs"), body)
    } else {
        let state = match (failed, m.decision) {
            (true, _) | (_, Some(Decision::Block)) => "failure",
            (_, Some(Decision::Allow)) => "success",
            _ => "pending",
        };
        let mut body = json!({"state": state, "description": description, "context": context});
        if let Some(link) = &m.link {
            body["target_url"] = json!(link);
        }
        (format!("{base}/repos/{repo_path}/statuses/{commit}"), body)
    };
    Ok(Request {
        url,
        headers: github_headers(target.credential),
        body: to_bytes(&body),
    })
}

/// What every GitHub REST call carries.
pub fn github_headers(token: &str) -> Vec<(&'static str, String)> {
    vec![
        ("content-type", "application/json".to_string()),
        ("accept", "application/vnd.github+json".to_string()),
        ("x-github-api-version", "2022-11-28".to_string()),
        ("authorization", format!("Bearer {}", token.trim())),
    ]
}
