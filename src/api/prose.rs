//! Free text people type into our objects (comments, reasons, descriptions, messages, an
//! author's name): redacted of credential shapes as it is read, whether from the API server
//! or a file, so a token pasted into an Approval's comment reaches no status, page, export,
//! CLI output, log or notification. One place, on the way in, rather than one per output.

use serde::{Deserialize, Deserializer};

/// `deserialize_with` for a free-text `String`.
pub fn redacted<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    let text = String::deserialize(deserializer)?;
    Ok(crate::scrub::redact(&text).into_owned())
}

/// `deserialize_with` for an optional free-text field (use with `#[serde(default)]`).
pub fn redacted_opt<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<String>, D::Error> {
    let text = Option::<String>::deserialize(deserializer)?;
    Ok(text.map(|t| crate::scrub::redact(&t).into_owned()))
}

#[cfg(test)]
mod tests {
    use crate::api::{Approval, GatePolicy, Release, Waiver};

    /// Each free-text field, read with a credential in it, comes out without it.
    #[test]
    fn free_text_is_redacted_where_it_is_read() {
        let approval: Approval = serde_yaml_ng::from_str(
            "apiVersion: releasepassport.io/v1alpha1\nkind: Approval\nmetadata: {name: a, namespace: shop}\n\
             spec: {releaseRef: {name: r}, approver: ann, decision: Approve, comment: 'ok, password: hunter2'}\n",
        )
        .unwrap();
        assert_eq!(
            approval.spec.comment.as_deref(),
            Some("ok, password: [redacted]")
        );

        let waiver: Waiver = serde_yaml_ng::from_str(
            "apiVersion: releasepassport.io/v1alpha1\nkind: Waiver\nmetadata: {name: w, namespace: shop}\n\
             spec: {releaseRef: {name: r}, rules: [p/x], reason: 'use ghp_0123456789abcdefghijABCDEFGHIJ', \
             expiresAt: '2026-12-08T00:00:00Z', approver: ann}\n",
        )
        .unwrap();
        assert_eq!(waiver.spec.reason, "use [redacted]");

        let policy: GatePolicy = serde_yaml_ng::from_str(
            "apiVersion: releasepassport.io/v1alpha1\nkind: GatePolicy\nmetadata: {name: p, namespace: shop}\n\
             spec:\n  description: 'DB_PASSWORD=pg-1'\n  rules:\n  - name: x\n    description: 'token: tk-1'\n\
             \x20   cel: {cel: 'true', message: 'see https://u:pw-2@ci.example'}\n",
        )
        .unwrap();
        let text = serde_json::to_string(&policy).unwrap();
        for secret in ["pg-1", "tk-1", "pw-2"] {
            assert!(!text.contains(secret), "{secret} survived: {text}");
        }

        let release: Release = serde_yaml_ng::from_str(
            "apiVersion: releasepassport.io/v1alpha1\nkind: Release\nmetadata: {name: r, namespace: shop}\n\
             spec: {service: checkout, environment: prod, version: '1', \
             revision: {author: 'ann sk-AbCdEf0123456789GhIjKlMn'}}\n",
        )
        .unwrap();
        let text = serde_json::to_string(&release).unwrap();
        assert!(!text.contains("sk-AbCd"), "{text}");
    }
}
