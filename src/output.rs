//! Renders passports for people (a table) and for machines (JSON, YAML).

use serde_json::{Value, json};

use crate::api::ReleasePassport;

/// Writes to stdout; a closed pipe (`passport evaluate … | head`) is not an error worth a panic.
pub fn emit(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}

/// Passports as JSON: one object, or a `v1/List` of several (as kubectl prints them).
pub fn to_json_value(passports: &[ReleasePassport]) -> Value {
    match passports {
        [one] => serde_json::to_value(one).unwrap_or(Value::Null),
        many => json!({
            "apiVersion": "v1",
            "kind": "List",
            "items": many.iter().map(|p| serde_json::to_value(p).unwrap_or(Value::Null)).collect::<Vec<_>>(),
        }),
    }
}

pub fn to_json(passports: &[ReleasePassport]) -> String {
    serde_json::to_string_pretty(&to_json_value(passports)).unwrap_or_default()
}

pub fn to_yaml(passports: &[ReleasePassport]) -> String {
    serde_yaml_ng::to_string(&to_json_value(passports)).unwrap_or_default()
}

/// A fixed-width table: NAMESPACE NAME SERVICE VERSION ENV DECISION EVIDENCE REASON.
pub fn to_table(passports: &[ReleasePassport]) -> String {
    let header = [
        "NAMESPACE",
        "NAME",
        "SERVICE",
        "VERSION",
        "ENV",
        "DECISION",
        "EVIDENCE",
        "REASON",
    ];
    let rows: Vec<[String; 8]> = passports
        .iter()
        .map(|p| {
            let status = p.status.clone().unwrap_or_default();
            [
                p.metadata.namespace.clone().unwrap_or_default(),
                p.metadata.name.clone().unwrap_or_default(),
                p.spec.service.clone(),
                p.spec.version.clone(),
                p.spec.environment.clone(),
                status.decision_label(),
                status
                    .evidence_summary
                    .map_or_else(|| "-".into(), |c| c.to_string()),
                status.why().first().map_or_else(
                    || "-".to_string(),
                    |r| crate::text::clip(r, 100).into_owned(),
                ),
            ]
        })
        .collect();
    columns(&header, &rows)
}

/// Columns aligned to their widest cell, three spaces apart (as kubectl prints them). Cells are
/// shown inert ([`crate::text::inert`]): a line break in a name stays in its row, an escape
/// sequence in a reason is printed, not obeyed.
pub fn columns<R: AsRef<[String]>>(header: &[&str], rows: &[R]) -> String {
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            r.as_ref()
                .iter()
                .map(|c| crate::text::inert(c).into_owned())
                .collect()
        })
        .collect();
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut s = String::new();
        for (i, (cell, w)) in cells.iter().zip(&widths).enumerate() {
            if i + 1 == cells.len() {
                s.push_str(cell);
            } else {
                s.push_str(&format!("{cell:<w$}   "));
            }
        }
        s.trim_end().to_string() + "\n"
    };
    let mut out = line(header.to_vec());
    for row in &rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
}

/// "3d 4h", "2h 05m", "45s": a duration as a person reads it.
pub fn human_duration(d: chrono::Duration) -> String {
    let s = d.num_seconds().max(0);
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m", s / 60),
        3600..86400 => format!("{}h {:02}m", s / 3600, (s % 3600) / 60),
        _ => format!("{}d {}h", s / 86400, (s % 86400) / 3600),
    }
}

/// A figure that may be missing: a duration as [`human_duration`] writes it, else `missing`.
pub fn maybe_duration(d: Option<chrono::Duration>, missing: &str) -> String {
    d.map_or_else(|| missing.to_string(), human_duration)
}

/// A ratio as a whole percentage, else `missing`.
pub fn maybe_percent(v: Option<f64>, missing: &str) -> String {
    v.map_or_else(|| missing.to_string(), |v| format!("{:.0}%", v * 100.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A line break in a name broke `evaluate`'s table row; control characters were printed raw.
    #[test]
    fn a_cell_stays_in_its_row_and_escapes_are_printed() {
        let rows = vec![
            ["web\nFAKE   row".to_string(), "ok\x1b[31m".to_string()],
            ["api".to_string(), "fine".to_string()],
        ];
        let table = columns(&["NAME", "REASON"], &rows);
        assert_eq!(table.lines().count(), 3, "{table:?}");
        assert!(!table.contains('\x1b'), "{table:?}");
        assert!(table.contains("web\\nFAKE   row"), "{table:?}");
    }
}
