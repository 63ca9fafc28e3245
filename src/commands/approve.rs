//! `passport approve | reject | waive`: create an Approval or a Waiver as the current
//! kubeconfig user. The identity comes from a SelfSubjectReview, the same identity the shipped
//! ValidatingAdmissionPolicy compares `spec.approver` with.

use chrono::{DateTime, Duration, Utc};
use k8s_openapi::api::authentication::v1::SelfSubjectReview;
use kube::Client;
use kube::api::{Api, PostParams};

use crate::api::approval::ApprovalSpec;
use crate::api::common::ReleaseRef;
use crate::api::waiver::WaiverSpec;
use crate::api::{Approval, ApprovalDecision, GatePolicy, ObjectKey, Release, Waiver};

pub const EXIT_ERROR: u8 = 3;

/// Who the kubeconfig says we are.
pub async fn whoami(client: &Client) -> anyhow::Result<(String, Vec<String>)> {
    let review = Api::<SelfSubjectReview>::all(client.clone())
        .create(&PostParams::default(), &SelfSubjectReview::default())
        .await?;
    let user = review.status.and_then(|s| s.user_info).unwrap_or_default();
    let name = user
        .username
        .filter(|u| !u.is_empty())
        .ok_or_else(|| anyhow::anyhow!("the API server did not say who you are"))?;
    Ok((name, user.groups.unwrap_or_default()))
}

/// A DNS-safe object name for `who` doing `what` to `release` at `now` (to the millisecond).
pub fn object_name(release: &str, what: &str, who: &str, now: DateTime<Utc>) -> String {
    let user: String = who
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect::<String>()
        .trim_matches('-')
        .chars()
        .take(40)
        .collect();
    let base: String = format!("{release}-{what}-{user}")
        .chars()
        .take(230)
        .collect();
    format!("{}-{}", base.trim_end_matches('-'), now.timestamp_millis())
}

async fn release_exists(client: &Client, ns: &str, name: &str) -> anyhow::Result<Release> {
    Api::<Release>::namespaced(client.clone(), ns)
        .get_opt(name)
        .await?
        .ok_or_else(|| anyhow::anyhow!("Release {ns}/{name} does not exist"))
}

/// The longest waiver of `rules` the policies deciding `release` allow (their
/// `spec.waivers`), read from the cluster: the same limits the engine applies.
async fn waiver_limit(
    client: &Client,
    release: &Release,
    rules: &[String],
) -> anyhow::Result<Duration> {
    let ns = crate::api::namespace_of(&release.metadata);
    let policies: Vec<std::sync::Arc<crate::engine::CompiledPolicy>> =
        Api::<GatePolicy>::namespaced(client.clone(), ns)
            .list(&Default::default())
            .await?
            .items
            .iter()
            .map(|p| std::sync::Arc::new(crate::engine::compile(p)))
            .collect();
    let (selected, _) = crate::engine::select(release, &policies);
    Ok(crate::engine::waiver_limit(&selected, rules)?)
}

pub async fn approve(
    release: &str,
    decision: ApprovalDecision,
    comment: Option<String>,
    groups: Vec<String>,
    now: DateTime<Utc>,
) -> anyhow::Result<u8> {
    let client = crate::cluster::client::connect(None).await?;
    let key = ObjectKey::written(release, client.default_namespace());
    let (ns, name) = (&key.namespace, &key.name);
    release_exists(&client, ns, name).await?;
    let (who, my_groups) = whoami(&client).await?;
    if let Some(g) = groups.iter().find(|g| !my_groups.contains(g)) {
        anyhow::bail!("you ({who}) are not in group {g}");
    }
    let mut approval = Approval::new(
        &object_name(name, &format!("{decision:?}").to_lowercase(), &who, now),
        ApprovalSpec {
            release_ref: ReleaseRef { name: name.clone() },
            decision,
            approver: who.clone(),
            groups,
            comment,
        },
    );
    approval.metadata.namespace = Some(ns.clone());
    let created = Api::<Approval>::namespaced(client, ns)
        .create(&PostParams::default(), &approval)
        .await?;
    crate::output::emit(&format!(
        "{:?} of {ns}/{name} recorded as Approval {} by {who}\n",
        decision,
        created.metadata.name.unwrap_or_default()
    ));
    Ok(0)
}

/// Why `--expires` is refused.
#[derive(Debug, PartialEq, thiserror::Error)]
pub enum ExpiryError {
    #[error("--expires {0:?} is neither a duration (24h, 3d) nor an RFC 3339 time")]
    NotATime(String),
    #[error("--expires {0:?} is already past: a waiver must end in the future")]
    Past(String),
    #[error(
        "--expires {expires:?} is beyond the longest waiver allowed ({}, the policies' spec.waivers.maxDuration); ask for a shorter one",
        crate::api::duration::format_duration(*max)
    )]
    TooLong { expires: String, max: Duration },
}

/// When a waiver given `expires` (a duration from now, or RFC 3339) ends; refused if in the
/// past or beyond `max` from now (pure).
pub fn expiry(
    expires: &str,
    max: Duration,
    now: DateTime<Utc>,
) -> Result<DateTime<Utc>, ExpiryError> {
    let at = match crate::api::duration::parse_duration(expires) {
        Ok(d) => now + d,
        Err(_) => DateTime::parse_from_rfc3339(expires)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|_| ExpiryError::NotATime(expires.to_string()))?,
    };
    if at <= now {
        return Err(ExpiryError::Past(expires.to_string()));
    }
    if at - now > max {
        return Err(ExpiryError::TooLong {
            expires: expires.to_string(),
            max,
        });
    }
    Ok(at)
}

pub struct WaiveArgs {
    pub release: String,
    pub rules: Vec<String>,
    pub reason: String,
    pub expires: String,
}

pub async fn waive(args: WaiveArgs, now: DateTime<Utc>) -> anyhow::Result<u8> {
    anyhow::ensure!(
        !args.reason.trim().is_empty(),
        "--reason is required: say why the exception is acceptable"
    );
    anyhow::ensure!(
        !args.rules.is_empty(),
        "--rule is required: name the rules waived"
    );
    let client = crate::cluster::client::connect(None).await?;
    let key = ObjectKey::written(&args.release, client.default_namespace());
    let (ns, name) = (&key.namespace, &key.name);
    let release = release_exists(&client, ns, name).await?;
    let max = waiver_limit(&client, &release, &args.rules).await?;
    let expires_at = expiry(&args.expires, max, now)?;
    let (who, _) = whoami(&client).await?;
    let mut waiver = Waiver::new(
        &object_name(name, "waiver", &who, now),
        WaiverSpec {
            release_ref: Some(ReleaseRef { name: name.clone() }),
            release_selector: None,
            rules: args.rules,
            reason: args.reason,
            expires_at,
            approver: who.clone(),
        },
    );
    waiver.metadata.namespace = Some(ns.clone());
    let created = Api::<Waiver>::namespaced(client, ns)
        .create(&PostParams::default(), &waiver)
        .await?;
    crate::output::emit(&format!(
        "Waiver {} for {ns}/{name} by {who}, until {}\n",
        created.metadata.name.unwrap_or_default(),
        crate::engine::rules::time(expires_at)
    ));
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waiver_expiry_is_bounded() {
        let now = DateTime::parse_from_rfc3339("2026-11-25T14:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let week = Duration::days(7);
        assert_eq!(expiry("24h", week, now), Ok(now + Duration::hours(24)));
        assert_eq!(
            expiry("2026-11-26T00:00:00Z", week, now).map(|t| t.to_rfc3339()),
            Ok("2026-11-26T00:00:00+00:00".into())
        );
        assert!(
            expiry("2026-11-25T13:00:00Z", week, now)
                .unwrap_err()
                .to_string()
                .contains("already past")
        );
        assert!(
            expiry("8d", week, now)
                .unwrap_err()
                .to_string()
                .contains("beyond the longest waiver allowed (7d,")
        );
        assert_eq!(
            expiry("soon", week, now),
            Err(ExpiryError::NotATime("soon".into()))
        );
    }

    #[test]
    fn names_are_dns_safe() {
        let now = DateTime::from_timestamp(1_764_079_200, 0).unwrap();
        assert_eq!(
            object_name("web", "approve", "Alice@Example.com", now),
            "web-approve-alice-example-com-1764079200000"
        );
        assert_eq!(
            object_name("web", "waiver", "system:serviceaccount:ci:deployer", now),
            "web-waiver-system-serviceaccount-ci-deployer-1764079200000"
        );
    }
}
