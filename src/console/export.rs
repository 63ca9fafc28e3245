//! Reports: passports and governance events as JSON, CSV and Markdown. Sanitised: free text goes
//! through the connectors' credential scrubber, CSV cells that a spreadsheet would run as a
//! formula are neutralised, Markdown cells cannot break the table or carry HTML.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::audit::GovernanceEvent;
use crate::api::{ReleasePassport, namespace_of};
use crate::engine::rules::time;
use crate::scrub::scrub;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Json,
    Csv,
    Markdown,
}

impl Format {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "json" => Some(Format::Json),
            "csv" => Some(Format::Csv),
            "md" | "markdown" => Some(Format::Markdown),
            _ => None,
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Json => "application/json",
            Format::Csv => "text/csv; charset=utf-8",
            Format::Markdown => "text/markdown; charset=utf-8",
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            Format::Json => "json",
            Format::Csv => "csv",
            Format::Markdown => "md",
        }
    }
}

fn clean(text: &str) -> String {
    scrub(text, &[])
}

/// One passport in a report.
#[derive(Clone, Debug, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PassportRow {
    pub namespace: String,
    pub name: String,
    pub service: String,
    pub version: String,
    pub environment: String,
    pub decision: String,
    pub evidence: String,
    pub reasons: Vec<String>,
    pub approvals: String,
    pub rollback_ready: bool,
    pub decided_at: Option<String>,
    pub evidence_items: Vec<EvidenceRow>,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct EvidenceRow {
    pub source: String,
    pub status: String,
    pub observed_at: Option<String>,
    pub summary: String,
}

pub fn passport_row(p: &ReleasePassport) -> PassportRow {
    let status = p.status.clone().unwrap_or_default();
    PassportRow {
        namespace: crate::api::namespace_of(&p.metadata).to_string(),
        name: p.metadata.name.clone().unwrap_or_default(),
        service: p.spec.service.clone(),
        version: p.spec.version.clone(),
        environment: p.spec.environment.clone(),
        decision: status.decision_label(),
        evidence: status
            .evidence_summary
            .map(|c| c.to_string())
            .unwrap_or_default(),
        reasons: status.why().iter().map(|r| clean(r)).collect(),
        approvals: status
            .approvals
            .as_ref()
            .map(|a| format!("{}/{}", a.approved, a.required))
            .unwrap_or_default(),
        rollback_ready: status.rollback.as_ref().is_some_and(|r| r.ready),
        decided_at: status.timeline.last().map(|t| time(t.at)),
        evidence_items: status
            .evidence
            .iter()
            .map(|e| EvidenceRow {
                source: e.source.clone(),
                status: e.status.as_str().to_string(),
                observed_at: e.observed_at.map(time),
                summary: clean(e.summary.as_deref().unwrap_or("")),
            })
            .collect(),
    }
}

/// A spreadsheet runs a cell starting with = + - @ (or a tab/CR) as a formula — also after
/// leading spaces or line breaks, which it skips, and in the fullwidth forms ＝ ＋ － ＠ some
/// spreadsheets read as the same: prefix a quote.
pub fn neutralise(cell: &str) -> String {
    let starts_control = cell.starts_with(['\t', '\r', '\n']);
    let first = cell.trim_start().chars().next();
    let formula = matches!(
        first,
        Some('=' | '+' | '-' | '@' | '\u{FF1D}' | '\u{FF0B}' | '\u{FF0D}' | '\u{FF20}')
    );
    if starts_control || formula {
        format!("'{cell}")
    } else {
        cell.to_string()
    }
}

fn csv<const N: usize>(header: [&str; N], rows: impl Iterator<Item = [String; N]>) -> String {
    let mut writer = csv::Writer::from_writer(Vec::new());
    let mut write = |record: Vec<String>| {
        // Writing to a Vec cannot fail; a failure would only drop the row.
        let _ = writer.write_record(record);
    };
    write(header.iter().map(|h| (*h).to_string()).collect());
    for row in rows {
        write(row.iter().map(|c| neutralise(c)).collect());
    }
    let bytes = writer.into_inner().unwrap_or_default();
    String::from_utf8(bytes).unwrap_or_default()
}

/// A Markdown table cell: one line, no pipe that ends the cell, no HTML, and no Markdown of its
/// own — every character that could open a link, an image, emphasis or code is escaped, so
/// `[x](javascript:…)` and `![](http://…)` arrive as the text they are.
fn md(cell: &str) -> String {
    let line = cell.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut out = String::with_capacity(line.len());
    let mut rest = line.as_str();
    while let Some(c) = rest.chars().next() {
        rest = &rest[c.len_utf8()..];
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            // A link or image needs its brackets; emphasis, code and strike-through their marks.
            '\\' | '|' | '`' | '*' | '_' | '[' | ']' | '~' => {
                out.push('\\');
                out.push(c);
            }
            // A bare `scheme://` becomes a link in GitHub's Markdown: break the scheme.
            ':' if rest.starts_with("//") => out.push_str("\\:"),
            c => out.push(c),
        }
    }
    out
}

fn markdown<const N: usize>(
    title: &str,
    generated: DateTime<Utc>,
    header: [&str; N],
    rows: impl Iterator<Item = [String; N]>,
) -> String {
    let mut out = format!("# {title}\n\nGenerated {}.\n\n", time(generated));
    out.push_str(&format!("| {} |\n", header.join(" | ")));
    out.push_str(&format!("|{}\n", "---|".repeat(N)));
    for row in rows {
        let cells: Vec<String> = row.iter().map(|c| md(c)).collect();
        out.push_str(&format!("| {} |\n", cells.join(" | ")));
    }
    out
}

const PASSPORT_COLUMNS: [&str; 10] = [
    "namespace",
    "name",
    "service",
    "version",
    "environment",
    "decision",
    "evidence",
    "approvals",
    "rollbackReady",
    "reasons",
];

fn passport_cells(r: &PassportRow) -> [String; 10] {
    [
        r.namespace.clone(),
        r.name.clone(),
        r.service.clone(),
        r.version.clone(),
        r.environment.clone(),
        r.decision.clone(),
        r.evidence.clone(),
        r.approvals.clone(),
        r.rollback_ready.to_string(),
        r.reasons.join("; "),
    ]
}

/// The file name of one release's export: "passport-NAMESPACE-NAME". Object names are DNS
/// labels already; anything else is dropped, so the header cannot be bent by a name.
pub fn file_stem(p: &ReleasePassport) -> String {
    let safe = |s: &str| -> String {
        s.chars()
            .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.'))
            .collect()
    };
    format!(
        "passport-{}-{}",
        safe(namespace_of(&p.metadata)),
        safe(p.metadata.name.as_deref().unwrap_or_default())
    )
}

pub fn passports<'a>(
    items: impl Iterator<Item = &'a ReleasePassport>,
    format: Format,
    generated: DateTime<Utc>,
) -> String {
    let rows: Vec<PassportRow> = items.map(passport_row).collect();
    let report = Report {
        kind: "PassportReport",
        title: "Release passports",
        columns: PASSPORT_COLUMNS,
        generated,
    };
    report.render(format, &rows, passport_cells)
}

/// One report in every format: JSON carries the rows, CSV and Markdown their cells.
struct Report<const N: usize> {
    kind: &'static str,
    title: &'static str,
    columns: [&'static str; N],
    generated: DateTime<Utc>,
}

impl<const N: usize> Report<N> {
    fn render<T: Serialize>(
        &self,
        format: Format,
        rows: &[T],
        cells: impl Fn(&T) -> [String; N],
    ) -> String {
        match format {
            Format::Json => json(self.kind, self.generated, rows),
            Format::Csv => csv(self.columns, rows.iter().map(cells)),
            Format::Markdown => markdown(
                self.title,
                self.generated,
                self.columns,
                rows.iter().map(cells),
            ),
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct EventRow<'a> {
    at: Option<String>,
    kind: &'a str,
    namespace: &'a str,
    subject: &'a str,
    actor: &'a str,
    summary: String,
}

const EVENT_COLUMNS: [&str; 6] = ["at", "kind", "namespace", "subject", "actor", "summary"];

pub fn events<'a>(
    items: impl Iterator<Item = &'a GovernanceEvent>,
    format: Format,
    generated: DateTime<Utc>,
) -> String {
    let rows: Vec<EventRow> = items
        .map(|e| EventRow {
            at: e.at.map(time),
            kind: e.kind.as_str(),
            namespace: &e.namespace,
            subject: &e.subject,
            actor: &e.actor,
            summary: clean(&e.summary),
        })
        .collect();
    let cells = |r: &EventRow| {
        [
            r.at.clone().unwrap_or_default(),
            r.kind.to_string(),
            r.namespace.to_string(),
            r.subject.to_string(),
            r.actor.to_string(),
            r.summary.clone(),
        ]
    };
    let report = Report {
        kind: "GovernanceLog",
        title: "Governance events",
        columns: EVENT_COLUMNS,
        generated,
    };
    report.render(format, &rows, cells)
}

fn json<T: Serialize>(kind: &str, generated: DateTime<Utc>, items: &[T]) -> String {
    let doc = serde_json::json!({
        "kind": kind,
        "generatedAt": time(generated),
        "items": items,
    });
    serde_json::to_string_pretty(&doc).unwrap_or_default() + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_cells_are_neutralised() {
        for hostile in [
            "=HYPERLINK(\"x\")",
            "+1",
            "-2",
            "@SUM(A1)",
            "\tx",
            "   =1+1",
            "\n=1+1",
            "\r\n@SUM(A1)",
            "\u{FF1D}1+1",
            "\u{FF0B}1",
            "\u{FF0D}1",
            "\u{FF20}SUM(A1)",
            " \u{3000}\u{FF1D}1",
        ] {
            assert!(neutralise(hostile).starts_with('\''), "{hostile}");
        }
        assert_eq!(neutralise("checkout"), "checkout");
    }

    #[test]
    fn markdown_cells_cannot_break_out() {
        assert_eq!(md("a|b\n<script>"), "a\\|b &lt;script&gt;");
        assert_eq!(
            md("[x](javascript:alert(1)) ![](http://e/t.png)"),
            "\\[x\\](javascript:alert(1)) !\\[\\](http\\://e/t.png)"
        );
        assert_eq!(
            md("**bold** _em_ `code` ~~x~~"),
            "\\*\\*bold\\*\\* \\_em\\_ \\`code\\` \\~\\~x\\~\\~"
        );
    }
}
