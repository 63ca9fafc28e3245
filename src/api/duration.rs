//! Durations as written in manifests: `90s`, `15m`, `1h30m`, `7d`.

use std::borrow::Cow;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};

/// The pattern the CRD schema enforces at admission; [`DurationString::parse`] accepts exactly it.
pub const DURATION_PATTERN: &str = r"^([0-9]+(\.[0-9]+)?(ms|s|m|h|d))+$";

/// A duration such as `30s`, `15m`, `1h30m` or `7d` (units: ms, s, m, h, d).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct DurationString(pub String);

/// Why a duration string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{value:?} is not a duration (expected a number and a unit, e.g. 30s, 15m, 1h30m, 7d)")]
pub struct DurationError {
    pub value: String,
}

impl DurationString {
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Parses the string into a duration, refusing anything the CRD pattern would refuse.
    pub fn parse(&self) -> Result<chrono::Duration, DurationError> {
        parse_duration(&self.0)
    }
}

impl std::fmt::Display for DurationString {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Parses `1h30m`-style durations (Go's units, plus `d` for days).
pub fn parse_duration(input: &str) -> Result<chrono::Duration, DurationError> {
    let err = || DurationError {
        value: input.to_string(),
    };
    let bytes = input.as_bytes();
    if bytes.is_empty() {
        return Err(err());
    }
    let mut total_ms: f64 = 0.0;
    let mut i = 0;
    while i < bytes.len() {
        let start = i;
        while i < bytes.len() && (bytes[i].is_ascii_digit() || bytes[i] == b'.') {
            i += 1;
        }
        let number = &input[start..i];
        if number.is_empty() || number.starts_with('.') || number.ends_with('.') {
            return Err(err());
        }
        let value: f64 = number.parse().map_err(|_| err())?;
        let unit_start = i;
        while i < bytes.len() && bytes[i].is_ascii_alphabetic() {
            i += 1;
        }
        let unit_ms = match &input[unit_start..i] {
            "ms" => 1.0,
            "s" => 1_000.0,
            "m" => 60_000.0,
            "h" => 3_600_000.0,
            "d" => 86_400_000.0,
            _ => return Err(err()),
        };
        total_ms += value * unit_ms;
    }
    // Ten years is far beyond any sensible gate duration and keeps the arithmetic exact.
    if !total_ms.is_finite() || total_ms > 315_360_000_000.0 {
        return Err(err());
    }
    Ok(chrono::Duration::milliseconds(total_ms.round() as i64))
}

/// Renders a duration the way it would be written in a manifest (`1h30m`, `45s`).
pub fn format_duration(d: chrono::Duration) -> String {
    let mut secs = d.num_seconds();
    if secs <= 0 {
        return format!("{}ms", d.num_milliseconds().max(0));
    }
    let mut out = String::new();
    for (unit, size) in [("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)] {
        if secs >= size {
            out.push_str(&format!("{}{unit}", secs / size));
            secs %= size;
        }
    }
    out
}

impl JsonSchema for DurationString {
    fn schema_name() -> Cow<'static, str> {
        "DurationString".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "pattern": DURATION_PATTERN,
            "description": "A duration such as 30s, 15m, 1h30m or 7d (units: ms, s, m, h, d)."
        })
    }

    fn inline_schema() -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_go_style_and_days() {
        let cases = [
            ("30s", 30_000),
            ("15m", 900_000),
            ("1h30m", 5_400_000),
            ("7d", 604_800_000),
            ("250ms", 250),
            ("1.5h", 5_400_000),
        ];
        for (input, ms) in cases {
            assert_eq!(
                parse_duration(input).map(|d| d.num_milliseconds()),
                Ok(ms),
                "{input}"
            );
        }
    }

    #[test]
    fn refuses_what_the_schema_refuses() {
        for input in [
            "",
            "15",
            "m",
            "1x",
            "-5m",
            "1h 30m",
            ".5s",
            "5.s",
            "99999999d",
        ] {
            assert!(
                parse_duration(input).is_err(),
                "{input:?} should be refused"
            );
        }
    }

    #[test]
    fn formats_round_trip() {
        for input in ["1d2h3m4s", "15m", "45s"] {
            let d = parse_duration(input).unwrap_or_default();
            assert_eq!(format_duration(d), input);
        }
    }
}
