//! Secret scrubbing: text that is safe to store and show, whatever an upstream, a CI or a
//! person put in it. Applied where text enters (connector answers and errors, webhook
//! deliveries, manual evidence, recordings, and the free text people type into our objects),
//! so no later path — status, Events, pages, exports, logs — can forget it.

use std::borrow::Cow;
use std::sync::LazyLock;

use regex::{Regex, RegexBuilder};

const REDACTED: &str = "[redacted]";

/// One shape a credential takes in free text: what finds it and what stays of the match.
struct Shape {
    name: &'static str,
    pattern: &'static str,
    keep: &'static str,
}

/// Names that mark the value after them as a secret, in `key=value`, `key: value`, JSON and
/// flag form. A key may carry a prefix (`DB_PASSWORD`, `aws_secret_access_key`,
/// `clientSecret`); it must end in one of these.
macro_rules! secret_keys {
    () => {
        r"(?:secret_?access_?key|secret_?key|client_?secret|(?:access|refresh|id|auth|session|api|bearer)_?token|token|password|passwd|pwd|passphrase|secret|api[_\-]?key|private_?key|credentials?)"
    };
}

/// What is taken as a key's value: quoted, or bare up to a separator.
macro_rules! secret_value {
    () => {
        r#"(?:"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|[^\s&"',;}]+)"#
    };
}

/// Every shape, in the order they apply (keyed shapes first, so a token after a key is
/// redacted with its key kept).
const SHAPES: &[Shape] = &[
    Shape {
        name: "private-key-block",
        pattern: r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----(?s:.*?)(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|\z)",
        keep: REDACTED,
    },
    Shape {
        // userinfo in a URL, with or without a password (`https://TOKEN@host`), even with
        // `/ # ?` in the password: up to the first `@`.
        name: "url-userinfo",
        pattern: r#"([a-z][a-z0-9+.\-]*://)(?:[^\s/:@"'<>]*:[^\s"'<>]*?|[^\s/:@"'<>?#]+)@"#,
        keep: "${1}",
    },
    Shape {
        name: "authorization-header",
        pattern: r#"(authorization\s*[:=]\s*)(?:(?:bearer|basic|token)(?:\s+|%20|\+))?[^\s"',;]+"#,
        keep: "${1}[redacted]",
    },
    Shape {
        // after any whitespace, or URL-encoded (`Bearer%20…`, `Bearer+…`)
        name: "bearer-or-basic",
        pattern: r#"\b(bearer|basic)(?:\s+|%20|\+)[^\s"',;&]+"#,
        keep: "${1} [redacted]",
    },
    Shape {
        name: "header-key",
        pattern: r#"\b((?:x-)?api-key|x-auth-token|private-token|x-vault-token|x-api-token)(\s*[:=]\s*)[^\s"',;&]+"#,
        keep: "${1}${2}[redacted]",
    },
    Shape {
        name: "json-member",
        pattern: concat!(
            r#""([a-z0-9_.\-]*?"#,
            secret_keys!(),
            r#")"(\s*:\s*)"(?:[^"\\]|\\.)*""#
        ),
        keep: r#""${1}"${2}"[redacted]""#,
    },
    Shape {
        // a Python or JavaScript literal: `{'token': 'X'}`
        name: "single-quoted-member",
        pattern: concat!(
            r"'([a-z0-9_.\-]*?",
            secret_keys!(),
            r")'(\s*:\s*)'(?:[^'\\]|\\.)*'"
        ),
        keep: "'${1}'${2}'[redacted]'",
    },
    Shape {
        // `password=X`, `DB_PASSWORD=X`, `my-token=X`; the key starts a word (not
        // `default/slack-token=…`).
        name: "key-value",
        pattern: concat!(
            r#"(^|[\s{(\[,;?&"'])([a-z0-9_.\-]*?"#,
            secret_keys!(),
            r"|sig|signature)(\s*=\s*)",
            secret_value!()
        ),
        keep: "${1}${2}${3}[redacted]",
    },
    Shape {
        // `password: X`, `token: X`, `AWS_SECRET_ACCESS_KEY: X`. No `-` in the key: `ci-token:
        // 403 Forbidden` is an object's name in an error, not a credential.
        name: "key-colon",
        pattern: concat!(
            r#"(^|[\s{(\[,;"'])([a-z0-9_.]*?"#,
            secret_keys!(),
            r")(\s*:\s*)",
            secret_value!()
        ),
        keep: "${1}${2}${3}[redacted]",
    },
    Shape {
        name: "cli-flag",
        pattern: concat!(
            r#"(^|[\s"'=])(--?(?:[a-z0-9]+-)*"#,
            secret_keys!(),
            r")(\s+)",
            secret_value!()
        ),
        keep: "${1}${2}${3}[redacted]",
    },
    Shape {
        name: "github-token",
        pattern: r"\b(?:gh[pousr]_[a-z0-9]{20,}|github_pat_[a-z0-9_]{20,})",
        keep: REDACTED,
    },
    Shape {
        name: "gitlab-token",
        pattern: r"\bgl(?:pat|dt|rt|ptt|cbt|soat)-[a-z0-9_\-]{20,}",
        keep: REDACTED,
    },
    Shape {
        name: "slack-token",
        pattern: r"\b(?:xox[abposre]|xapp)-[a-z0-9\-]{10,}",
        keep: REDACTED,
    },
    Shape {
        // OpenAI (`sk-…`, `sk-proj-…`), Anthropic (`sk-ant-…`) and Stripe (`sk_live_…`) keys
        name: "sk-key",
        pattern: r"\b(?:sk-[a-z0-9_\-]{20,}|[sr]k_(?:live|test)_[a-z0-9]{10,})",
        keep: REDACTED,
    },
    Shape {
        // three base64url parts, header and payload JSON objects (`{"` is `eyJ`)
        name: "jwt",
        pattern: r"\beyJ[a-z0-9_\-]{4,}\.eyJ[a-z0-9_\-]{4,}\.[a-z0-9_\-]*",
        keep: REDACTED,
    },
    Shape {
        name: "aws-access-key-id",
        pattern: r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b",
        keep: REDACTED,
    },
];

/// [`SHAPES`] compiled; a pattern that does not compile is left out, and the table test fails.
static COMPILED: LazyLock<Vec<(&'static Shape, Regex)>> = LazyLock::new(|| {
    SHAPES
        .iter()
        .filter_map(|shape| {
            RegexBuilder::new(shape.pattern)
                .case_insensitive(true)
                .build()
                .ok()
                .map(|re| (shape, re))
        })
        .collect()
});

/// `text` with every credential shape redacted, its layout kept: for free text people type
/// (comments, reasons, descriptions), which keeps its line breaks and length bounds.
pub fn redact(text: &str) -> Cow<'_, str> {
    let mut out = Cow::Borrowed(text);
    for (shape, re) in COMPILED.iter() {
        if re.is_match(&out) {
            // Which shape fired, never what it matched: to tell an over-eager shape from a leak.
            tracing::debug!(shape = shape.name, "redacted a credential shape");
            out = Cow::Owned(re.replace_all(&out, shape.keep).into_owned());
        }
    }
    out
}

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
    let out = redact(&out);
    let line: String = out.split_whitespace().collect::<Vec<_>>().join(" ");
    crate::text::clip_bytes(&line, 500).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// One row per case: the shape it stands for, what goes in, what must not come out,
    /// what must stay.
    const ROWS: &[(&str, &str, &str, &str)] = &[
        (
            "private-key-block",
            "key: -----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY----- done",
            "MIIEow",
            "done",
        ),
        (
            "private-key-block",
            "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1r (cut)",
            "b3BlbnNzaC1r",
            "",
        ),
        (
            "url-userinfo",
            "GET https://admin:hunter2@prom.example:9090/api/v1/query?x=1",
            "hunter2",
            "https://prom.example:9090/api/v1/query?x=1",
        ),
        (
            "url-userinfo",
            "https://u:pa/ss#w?rd@ci.example/run/1",
            "pa/ss",
            "https://ci.example/run/1",
        ),
        (
            "url-userinfo",
            "clone https://x9Tk2mQ7vLp4Zr8@git.example/org/repo.git",
            "x9Tk2mQ7vLp4Zr8",
            "https://git.example/org/repo.git",
        ),
        (
            "authorization-header",
            "Authorization: Bearer abc.def.ghi failed",
            "abc.def.ghi",
            "Authorization: [redacted] failed",
        ),
        (
            "authorization-header",
            "Authorization: token ghp_abc",
            "ghp_abc",
            "Authorization: [redacted]",
        ),
        (
            "bearer-or-basic",
            "sent Bearer\tsecretvalue1",
            "secretvalue1",
            "Bearer [redacted]",
        ),
        (
            "bearer-or-basic",
            "sent Bearer\nsecretvalue2",
            "secretvalue2",
            "Bearer [redacted]",
        ),
        (
            "bearer-or-basic",
            "sent Bearer  secretvalue3",
            "secretvalue3",
            "Bearer [redacted]",
        ),
        (
            "bearer-or-basic",
            "Basic dXNlcjpwYXNz",
            "dXNlcjpwYXNz",
            "Basic [redacted]",
        ),
        (
            "bearer-or-basic",
            "GET /x?auth=Bearer%20Zq81xYtokenval&a=1",
            "Zq81xYtokenval",
            "&a=1",
        ),
        (
            "header-key",
            "X-Api-Key: 0123456789",
            "0123456789",
            "X-Api-Key: [redacted]",
        ),
        (
            "header-key",
            "X-Api-Key=k9v8u7t6",
            "k9v8u7t6",
            "X-Api-Key=[redacted]",
        ),
        (
            "json-member",
            r#"{"token":"eyJhbGciOi","ok":true}"#,
            "eyJhbGciOi",
            r#"{"token":"[redacted]","ok":true}"#,
        ),
        (
            "json-member",
            r#"{"password" : "p\"w"}"#,
            "p\\\"w",
            r#"{"password" : "[redacted]"}"#,
        ),
        (
            "json-member",
            r#"{"clientSecret":"cs-991","dbPassword":"pw-77"}"#,
            "991",
            r#"{"clientSecret":"[redacted]","dbPassword":"[redacted]"}"#,
        ),
        (
            "single-quoted-member",
            "{'token': 'tk-4411', 'user': 'ann'}",
            "tk-4411",
            "{'token': '[redacted]', 'user': 'ann'}",
        ),
        (
            "key-value",
            "login password=hunter2 ok",
            "hunter2",
            "password=[redacted] ok",
        ),
        (
            "key-colon",
            "password: hunter2",
            "hunter2",
            "password: [redacted]",
        ),
        (
            "key-value",
            "env DB_PASSWORD=pg-pass-1 PORT=5432",
            "pg-pass-1",
            "DB_PASSWORD=[redacted] PORT=5432",
        ),
        (
            "key-value",
            "aws_secret_access_key=wJalrXUtnFEMI/K7MDENG",
            "wJalrXUtnFEMI",
            "aws_secret_access_key=[redacted]",
        ),
        (
            "key-colon",
            "AWS_SECRET_ACCESS_KEY: wJalrXUtnFEMI/K7MDENG",
            "wJalrXUtnFEMI",
            "AWS_SECRET_ACCESS_KEY: [redacted]",
        ),
        (
            "key-colon",
            "token: tk-77aa then",
            "tk-77aa",
            "token: [redacted] then",
        ),
        (
            "key-value",
            "api_key=k-123&x=1",
            "k-123",
            "api_key=[redacted]&x=1",
        ),
        (
            "key-value",
            "client_secret = 's3cr3t'",
            "s3cr3t",
            "client_secret = [redacted]",
        ),
        (
            "key-value",
            "?access_token=tok123&a=b",
            "tok123",
            "access_token=[redacted]&a=b",
        ),
        (
            "key-value",
            "token=\"quoted value\"",
            "quoted value",
            "token=[redacted]",
        ),
        (
            "key-value",
            "GET /hook?sig=a1b2c3",
            "a1b2c3",
            "sig=[redacted]",
        ),
        (
            "cli-flag",
            "ran psql --password pw-local-9 --host db",
            "pw-local-9",
            "--password [redacted] --host db",
        ),
        (
            "cli-flag",
            "helm install --set-string x --api-key 'k y z'",
            "k y z",
            "--api-key [redacted]",
        ),
        (
            "github-token",
            "leaked ghp_0123456789abcdefghijABCDEFGHIJ in log",
            "ghp_0123456789",
            "leaked [redacted] in log",
        ),
        (
            "github-token",
            "github_pat_11ABCDEFG0123456789_abcdefghijklmnop",
            "github_pat_11",
            "[redacted]",
        ),
        (
            "gitlab-token",
            "push with glpat-xQ9z2Lm4Np7Rt1Vw3Yk5 failed",
            "glpat-xQ9z2",
            "push with [redacted] failed",
        ),
        (
            "slack-token",
            "slack xoxb-1234567890-abcdef",
            "xoxb-1234567890",
            "slack [redacted]",
        ),
        (
            "slack-token",
            "app xapp-1-A0123456789-0123456789-abcdef",
            "xapp-1-A0123",
            "app [redacted]",
        ),
        (
            "sk-key",
            "OPENAI sk-AbCdEf0123456789GhIjKlMn used",
            "sk-AbCdEf0123",
            "OPENAI [redacted] used",
        ),
        (
            "sk-key",
            "sk-proj-Ab12Cd34Ef56Gh78Ij90Kl12_mn-op",
            "sk-proj-Ab12",
            "[redacted]",
        ),
        (
            "sk-key",
            "stripe sk_live_51Habcdefghij0123",
            "sk_live_51H",
            "stripe [redacted]",
        ),
        (
            "jwt",
            "id eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbm4ifQ.c2lnbmF0dXJl end",
            "eyJzdWIiOiJhbm4ifQ",
            "id [redacted] end",
        ),
        (
            "aws-access-key-id",
            "key AKIAIOSFODNN7EXAMPLE used",
            "AKIAIOSFODNN7EXAMPLE",
            "key [redacted] used",
        ),
    ];

    #[test]
    fn every_shape_compiles_and_has_rows_that_only_it_would_catch() {
        assert_eq!(COMPILED.len(), SHAPES.len(), "a pattern does not compile");
        for shape in SHAPES {
            let rows: Vec<_> = ROWS.iter().filter(|r| r.0 == shape.name).collect();
            assert!(!rows.is_empty(), "shape {} has no test row", shape.name);
            let re = COMPILED
                .iter()
                .find(|(s, _)| s.name == shape.name)
                .map(|(_, re)| re);
            for (_, input, _, _) in rows {
                assert!(
                    re.is_some_and(|re| re.is_match(input)),
                    "row {input:?} is not caught by its shape {}",
                    shape.name
                );
            }
        }
        for (name, ..) in ROWS {
            assert!(
                SHAPES.iter().any(|s| s.name == *name),
                "row for unknown shape {name}"
            );
        }
    }

    #[test]
    fn every_row_is_scrubbed() {
        for (name, input, secret, kept) in ROWS {
            let clean = scrub(input, &[]);
            assert!(
                !clean.contains(secret),
                "{name}: {input:?} → {clean:?} still has {secret:?}"
            );
            let kept = kept.split_whitespace().collect::<Vec<_>>().join(" ");
            assert!(
                clean.contains(&kept),
                "{name}: {input:?} → {clean:?} lost {kept:?}"
            );
            assert_eq!(
                scrub(&clean, &[]),
                clean,
                "{name}: scrubbing twice changes {clean:?}"
            );
        }
    }

    #[test]
    fn our_own_words_stay() {
        for text in [
            "Secret default/slack-token: not found",
            "Secret cards-token does not exist",
            "reading credentialsSecretRef ci-token: 403 Forbidden",
            "tokens used: 5; basically fine",
            "https://prom.example:9090/api/v1/query?query=up",
            "mailto ann@example.com, see https://ci.example/run/1",
            "design=blue config=prod",
            "a plain summary: 5/6 complete",
        ] {
            assert_eq!(scrub(text, &[]), text);
        }
    }

    #[test]
    fn redact_keeps_the_layout() {
        assert_eq!(
            redact("line one\npassword: pw-1\n\n  indented"),
            "line one\npassword: [redacted]\n\n  indented"
        );
        assert!(matches!(redact("nothing to hide"), Cow::Borrowed(_)));
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

    /// Log lines the table was not written against: how services, CLIs, CI runners and
    /// libraries print a credential, each with a value generated afresh, around context that
    /// must survive.
    const LOG_LINES: &[&str] = &[
        "time=2026-12-07T10:00:00Z level=info msg=\"connecting\" db_user=app db_password=SECRET host=db-0",
        "{\"level\":\"error\",\"msg\":\"auth failed\",\"apiKey\":\"SECRET\",\"host\":\"db-0\"}",
        "{\"ts\":1,\"headers\":{\"Authorization\":\"Bearer SECRET\"},\"host\":\"db-0\"}",
        "Dec 07 10:00:00 db-0 app[42]: export GITHUB_TOKEN=SECRET",
        "+ curl -H 'Authorization: token SECRET' https://api.example/repos host=db-0",
        "+ curl -H \"X-Api-Key: SECRET\" host=db-0",
        "+ mysql -u root --password SECRET -h db-0",
        "+ docker login --password=SECRET registry host=db-0",
        "requests.get('https://api.example', headers={'token': 'SECRET'}) host=db-0",
        "WARN failed to fetch https://SECRET@git.example/org/repo.git host=db-0",
        "WARN failed to fetch https://deploy:SECRET@git.example/org/repo.git host=db-0",
        "config loaded: {password: SECRET, host: db-0}",
        "REDIS_URL=redis://:SECRET@db-0:6379/0",
        "spring.datasource.password=SECRET host=db-0",
        "  AWS_SESSION_TOKEN: SECRET\n  host=db-0",
        "POST /api?client_secret=SECRET&host=db-0",
        "GET /x?access_token=SECRET HTTP/1.1 host=db-0",
        "passphrase = \"SECRET\" host=db-0",
        "[ci] Using credentials: SECRET host=db-0",
        "Authorization: Basic SECRET host=db-0",
    ];

    proptest! {
        #[test]
        fn generated_log_lines_lose_their_secret_and_keep_their_context(
            line in prop::sample::select(LOG_LINES),
            secret in "[A-Za-z0-9][A-Za-z0-9_+.-]{11,39}",
        ) {
            let text = line.replace("SECRET", &secret);
            let clean = scrub(&text, &[]);
            prop_assert!(!clean.contains(&secret), "{text:?} → {clean:?}");
            prop_assert!(clean.contains("db-0"), "{text:?} → {clean:?} lost its context");
        }

        #[test]
        fn vendor_tokens_in_prose_never_survive(
            token in prop_oneof![
                "ghp_[A-Za-z0-9]{36}",
                "github_pat_[A-Za-z0-9_]{60}",
                "glpat-[A-Za-z0-9_-]{20}",
                "xox[bp]-[0-9]{10,12}-[0-9]{10,12}-[A-Za-z0-9]{24}",
                "xapp-1-[A-Z0-9]{11}-[0-9]{13}-[a-f0-9]{64}",
                "sk-(proj-)?[A-Za-z0-9_-]{40,60}",
                "(AKIA|ASIA)[A-Z0-9]{16}",
                "eyJ[A-Za-z0-9_-]{10,30}\\.eyJ[A-Za-z0-9_-]{10,60}\\.[A-Za-z0-9_-]{20,43}",
            ],
            before in "[a-z ]{0,20}",
            after in "[a-z ]{0,20}",
        ) {
            let text = format!("{before} {token} {after}");
            let clean = scrub(&text, &[]);
            prop_assert!(!clean.contains(&token), "{text:?} → {clean:?}");
        }
    }
}
