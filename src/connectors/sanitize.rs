//! Error text that is safe to show: no credentials, whatever the upstream or the HTTP library
//! put in the message.

/// Removes `user:password@` from URLs, known secret values, and bearer/basic tokens.
pub fn sanitize(text: &str, secrets: &[&str]) -> String {
    let mut out = strip_url_credentials(text);
    for secret in secrets.iter().filter(|s| s.len() >= 4) {
        out = out.replace(secret, "[redacted]");
    }
    for scheme in ["Bearer ", "bearer ", "Basic ", "basic ", "token="] {
        let mut result = String::with_capacity(out.len());
        let mut rest = out.as_str();
        while let Some(i) = rest.find(scheme) {
            result.push_str(&rest[..i + scheme.len()]);
            let after = &rest[i + scheme.len()..];
            let end = after
                .find(|c: char| c.is_whitespace() || c == '"' || c == '\'' || c == '&')
                .unwrap_or(after.len());
            result.push_str("[redacted]");
            rest = &after[end..];
        }
        result.push_str(rest);
        out = result;
    }
    // Bounded, single-line: it lands in a status field and in logs.
    let line: String = out.split_whitespace().collect::<Vec<_>>().join(" ");
    crate::text::clip_bytes(&line, 500).into_owned()
}

fn strip_url_credentials(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("://") {
        let (head, tail) = rest.split_at(i + 3);
        out.push_str(head);
        let authority_end = tail
            .find(['/', ' ', '"', '\'', '?', '#'])
            .unwrap_or(tail.len());
        let authority = &tail[..authority_end];
        match authority.rfind('@') {
            Some(at) => out.push_str(&authority[at + 1..]),
            None => out.push_str(authority),
        }
        rest = &tail[authority_end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_credentials() {
        let text = "error sending request for url (https://admin:hunter2@prom.example:9090/api/v1/query?x=1): Authorization: Bearer abc.def.ghi failed with s3cr3t-value";
        let clean = sanitize(text, &["s3cr3t-value"]);
        assert!(
            !clean.contains("hunter2") && !clean.contains("admin:"),
            "{clean}"
        );
        assert!(!clean.contains("abc.def.ghi"), "{clean}");
        assert!(!clean.contains("s3cr3t-value"), "{clean}");
        assert!(
            clean.contains("https://prom.example:9090/api/v1/query"),
            "{clean}"
        );
    }

    #[test]
    fn bounded_and_single_line() {
        let long = "x\n".repeat(1000);
        let clean = sanitize(&long, &[]);
        assert!(clean.len() <= 500 && !clean.contains('\n'));
    }
}
