//! Secret scrubbing: text that is safe to store and show, whatever an upstream, a CI or a
//! person put in it. Applied where text enters (connector answers and errors, webhook
//! deliveries, manual evidence, recordings), so no later path — status, Events, pages,
//! exports, logs — can forget it.

use std::sync::LazyLock;

use regex::{Regex, RegexBuilder};

const REDACTED: &str = "[redacted]";

/// The shapes a credential takes in free text, each with what stays of it.
static SHAPES: LazyLock<Vec<(Regex, &'static str)>> = LazyLock::new(|| {
    // The patterns are constants; the table test checks that every one compiled.
    let shape = |pattern: &str, keep: &'static str| {
        RegexBuilder::new(pattern)
            .case_insensitive(true)
            .build()
            .ok()
            .map(|re| (re, keep))
    };
    [
        // userinfo in a URL, even with `/ # ?` in the password: up to the first `@`.
        shape(r#"([a-z][a-z0-9+.\-]*://)[^\s/:@"']+:[^\s"']*?@"#, "${1}"),
        // Authorization headers, whatever the scheme.
        shape(r#"(authorization\s*[:=]\s*)(?:(?:bearer|basic|token)\s+)?[^\s"',;]+"#, "${1}[redacted]"),
        // Bearer / Basic credentials after any whitespace (tabs, newlines, several spaces).
        shape(r#"\b(bearer|basic)\s+[^\s"',;&]+"#, "${1} [redacted]"),
        // Header-style keys.
        shape(r#"\b((?:x-)?api-key|x-auth-token|private-token|x-vault-token)(\s*:\s*)[^\s"',;]+"#, "${1}${2}[redacted]"),
        // JSON members named like secrets.
        shape(r#""((?:access_|refresh_|id_)?token|password|passwd|secret|client_secret|api_?key|private_key|authorization)"(\s*:\s*)"(?:[^"\\]|\\.)*""#, r#""${1}"${2}"[redacted]""#),
        // key=value pairs named like secrets, the value quoted or bare.
        shape(r#"\b((?:access_|refresh_|id_)?token|password|passwd|pwd|secret|client_secret|api_?key|private_key|sig|signature)(\s*=\s*)(?:"[^"]*"|'[^']*'|[^\s&"',;]+)"#, "${1}${2}[redacted]"),
        // GitHub tokens.
        shape(r"\b(?:gh[pousr]_[a-z0-9]{20,}|github_pat_[a-z0-9_]{20,})", REDACTED),
        // Slack tokens.
        shape(r"\bxox[abposr]-[a-z0-9-]{10,}", REDACTED),
        // AWS access key ids.
        shape(r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b", REDACTED),
    ]
    .into_iter()
    .flatten()
    .collect()
});

/// How many shapes [`SHAPES`] lists (the test holds it to what compiled).
#[cfg(test)]
const SHAPE_COUNT: usize = 9;

/// `text` without credentials, known secret values or line breaks, at most 500 bytes: it lands
/// in status fields and logs.
pub fn scrub(text: &str, secrets: &[&str]) -> String {
    let mut out = text.to_string();
    for secret in secrets.iter().filter(|s| !s.trim().is_empty()) {
        out = if secret.chars().count() >= 4 {
            out.replace(secret, REDACTED)
        } else {
            // A short secret is also a common word: only where it stands alone.
            let whole = format!(r"(^|[^\w]){}($|[^\w])", regex::escape(secret));
            match Regex::new(&whole) {
                Ok(re) => re.replace_all(&out, "${1}[redacted]${2}").into_owned(),
                Err(_) => out,
            }
        };
    }
    for (re, keep) in SHAPES.iter() {
        if re.is_match(&out) {
            out = re.replace_all(&out, *keep).into_owned();
        }
    }
    let line: String = out.split_whitespace().collect::<Vec<_>>().join(" ");
    crate::text::clip_bytes(&line, 500).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each shape: what goes in, what must not come out, what must stay.
    #[test]
    fn every_shape_is_scrubbed() {
        assert_eq!(SHAPES.len(), SHAPE_COUNT, "a pattern does not compile");
        let cases: &[(&str, &str, &str)] = &[
            (
                "GET https://admin:hunter2@prom.example:9090/api/v1/query?x=1",
                "hunter2",
                "https://prom.example:9090/api/v1/query?x=1",
            ),
            (
                "https://u:pa/ss#w?rd@ci.example/run/1",
                "pa/ss",
                "https://ci.example/run/1",
            ),
            (
                "Authorization: Bearer abc.def.ghi failed",
                "abc.def.ghi",
                "Authorization: [redacted] failed",
            ),
            (
                "Authorization: token ghp_abc",
                "ghp_abc",
                "Authorization: [redacted]",
            ),
            (
                "sent Bearer\tsecretvalue1",
                "secretvalue1",
                "Bearer [redacted]",
            ),
            (
                "sent Bearer\nsecretvalue2",
                "secretvalue2",
                "Bearer [redacted]",
            ),
            (
                "sent Bearer  secretvalue3",
                "secretvalue3",
                "Bearer [redacted]",
            ),
            ("Basic dXNlcjpwYXNz", "dXNlcjpwYXNz", "Basic [redacted]"),
            (
                "login password=hunter2 ok",
                "hunter2",
                "password=[redacted] ok",
            ),
            ("api_key=k-123&x=1", "k-123", "api_key=[redacted]&x=1"),
            (
                "client_secret = 's3cr3t'",
                "s3cr3t",
                "client_secret = [redacted]",
            ),
            (
                "?access_token=tok123&a=b",
                "tok123",
                "access_token=[redacted]&a=b",
            ),
            ("token=\"quoted value\"", "quoted value", "token=[redacted]"),
            (
                "X-Api-Key: 0123456789",
                "0123456789",
                "X-Api-Key: [redacted]",
            ),
            (
                r#"{"token":"eyJhbGciOi","ok":true}"#,
                "eyJhbGciOi",
                r#"{"token":"[redacted]","ok":true}"#,
            ),
            (
                r#"{"password" : "p\"w"}"#,
                "p\\\"w",
                r#"{"password" : "[redacted]"}"#,
            ),
            (
                "leaked ghp_0123456789abcdefghijABCDEFGHIJ in log",
                "ghp_0123456789",
                "leaked [redacted] in log",
            ),
            (
                "github_pat_11ABCDEFG0123456789_abcdefghijklmnop",
                "github_pat_11",
                "[redacted]",
            ),
            (
                "key AKIAIOSFODNN7EXAMPLE used",
                "AKIAIOSFODNN7EXAMPLE",
                "key [redacted] used",
            ),
            (
                "slack xoxb-1234567890-abcdef",
                "xoxb-1234567890",
                "slack [redacted]",
            ),
        ];
        for (input, secret, kept) in cases {
            let clean = scrub(input, &[]);
            assert!(
                !clean.contains(secret),
                "{input:?} → {clean:?} still has {secret:?}"
            );
            assert!(clean.contains(kept), "{input:?} → {clean:?} lost {kept:?}");
        }
    }

    #[test]
    fn known_secrets_long_and_short() {
        let clean = scrub(
            "failed with s3cr3t-value and pin 42 (page 142)",
            &["s3cr3t-value", "42"],
        );
        assert_eq!(
            clean,
            "failed with [redacted] and pin [redacted] (page 142)"
        );
        assert_eq!(scrub("nothing here", &["", " "]), "nothing here");
    }

    #[test]
    fn bounded_and_single_line() {
        let long = "x\n".repeat(1000);
        let clean = scrub(&long, &[]);
        assert!(clean.len() <= 500 && !clean.contains('\n'));
        assert_eq!(
            scrub("a plain summary: 5/6 complete", &[]),
            "a plain summary: 5/6 complete"
        );
    }
}
