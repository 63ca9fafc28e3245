//! What is kept of protection requests and what each is answered (pure): a request is what
//! its signature covers, kept once, answered once, and bounded.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::event::ProtectionEvent;
use crate::api::{Decision, Keyed};

/// A deployment requested longer ago than this is refused (a replay of an old delivery).
pub const MAX_AGE: Duration = Duration::hours(1);
/// Requests waiting at most: GitHub itself gives up after 30 days. Past it a new request is
/// refused (GitHub shows the failed delivery), never one already waiting evicted.
pub const MAX_WAITING: usize = 1000;
/// How long an answered request is remembered: longer than [`MAX_AGE`], so its replay is
/// refused as answered while it is fresh, and as stale after.
const REMEMBERED: Duration = Duration::hours(2);

/// One protection request as its signature covers it: the run (its callback), the environment
/// and the deployment. GitHub's delivery id is not part of it: a replay of the same signed body
/// under a new `X-GitHub-Delivery` is the same request.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Request {
    pub callback: String,
    pub environment: String,
    pub sha: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment: Option<u64>,
}

/// A request waiting for its passport.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Waiting {
    #[serde(flatten)]
    pub request: Request,
    /// The delivery that brought it, for the logs.
    pub delivery: String,
    pub repository: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub installation: Option<u64>,
    pub received_at: DateTime<Utc>,
}

/// A request answered lately.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Answered {
    #[serde(flatten)]
    pub request: Request,
    pub at: DateTime<Utc>,
}

/// What the ConfigMap keeps: requests waiting, and requests answered lately.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Kept {
    #[serde(default)]
    pub waiting: Vec<Waiting>,
    #[serde(default)]
    pub answered: Vec<Answered>,
}

/// Why a delivery was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    Signature,
    /// The same request is waiting or was answered.
    Replayed,
    Stale,
    /// [`MAX_WAITING`] requests are waiting already.
    Full,
    /// The callback is not this repository's run on the configured API.
    Callback,
    Malformed(String),
}

impl Kept {
    /// Accepts a verified event (pure): refuses a replay (the same request, whatever its
    /// delivery id), a stale deployment, a callback elsewhere than `api`, or a request past
    /// [`MAX_WAITING`]; an action other than `requested` is ignored.
    pub fn accept(
        &mut self,
        delivery: &str,
        event: ProtectionEvent,
        api: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, Refused> {
        if event.action != "requested" {
            return Ok(false);
        }
        if now - event.deployment.created_at > MAX_AGE {
            return Err(Refused::Stale);
        }
        let run_prefix = format!("{api}/repos/{}/actions/runs/", event.repository.full_name);
        let callback = &event.deployment_callback_url;
        let run = callback
            .strip_prefix(&run_prefix)
            .and_then(|rest| rest.strip_suffix("/deployment_protection_rule"));
        if !run.is_some_and(|r| !r.is_empty() && r.bytes().all(|b| b.is_ascii_digit())) {
            return Err(Refused::Callback);
        }
        let request = Request {
            callback: callback.clone(),
            environment: event.environment,
            sha: event.deployment.sha,
            deployment: event.deployment.id,
        };
        if self.answered.iter().any(|a| a.request == request)
            || self.waiting.iter().any(|w| w.request == request)
        {
            return Err(Refused::Replayed);
        }
        if self.waiting.len() >= MAX_WAITING {
            return Err(Refused::Full);
        }
        self.waiting.push(Waiting {
            request,
            delivery: delivery.to_string(),
            repository: event.repository.full_name,
            installation: event.installation.map(|i| i.id),
            received_at: now,
        });
        Ok(true)
    }

    /// Records `request` answered: it waits no more, and its replay is refused.
    pub fn answered(&mut self, request: &Request, now: DateTime<Utc>) {
        self.waiting.retain(|w| w.request != *request);
        if !self.answered.iter().any(|a| a.request == *request) {
            self.answered.push(Answered {
                request: request.clone(),
                at: now,
            });
        }
    }

    /// Forgets answered requests older than the replay window.
    pub fn prune(&mut self, now: DateTime<Utc>) {
        self.answered.retain(|a| now - a.at <= REMEMBERED);
        self.waiting
            .retain(|w| now - w.received_at <= Duration::days(30));
    }
}

/// What to answer a waiting request, from the passports of the Releases it names (pure):
/// `None` while any is undecided or held, or none exists yet.
pub fn answer<'a>(
    waiting: &Waiting,
    releases: impl Iterator<Item = &'a crate::api::Release>,
    passport: impl Fn(&crate::api::ObjectKey) -> Option<Arc<crate::api::ReleasePassport>>,
) -> Option<(Decision, crate::api::ObjectKey, String)> {
    let matching: Vec<&crate::api::Release> = releases
        .filter(|r| r.spec.environment == waiting.request.environment)
        .filter(|r| {
            r.spec
                .revision
                .as_ref()
                .and_then(|v| v.commit.as_deref())
                .is_some_and(|c| c.eq_ignore_ascii_case(&waiting.request.sha))
        })
        .filter(|r| {
            r.spec
                .scope
                .project
                .as_deref()
                .is_none_or(|p| p.eq_ignore_ascii_case(&waiting.repository))
        })
        .collect();
    let mut decided = Vec::new();
    for release in matching {
        let key = release.key();
        let p = passport(&key)?;
        let status = p.status.as_ref()?;
        decided.push((status.decision?, key, status.clone()));
    }
    // Block wins, then Hold (wait); Allow only when every one allows.
    let pick = |d: Decision| decided.iter().find(|(x, _, _)| *x == d);
    let (decision, key, status) = pick(Decision::Block)
        .or_else(|| pick(Decision::Hold))
        .or_else(|| pick(Decision::Allow))?;
    if *decision == Decision::Hold {
        return None;
    }
    let reason = status.one_reason();
    Some((*decision, key.clone(), reason))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(callback: &str, created: &str) -> ProtectionEvent {
        serde_json::from_value(json!({
            "action": "requested", "environment": "production", "event": "push",
            "deployment_callback_url": callback,
            "deployment": {"id": 1, "sha": "abc123", "created_at": created},
            "repository": {"full_name": "acme/shop"},
            "installation": {"id": 7}
        }))
        .unwrap()
    }

    const API: &str = "https://api.github.com";
    const NOW: &str = "2026-12-02T10:00:00Z";
    const CALLBACK: &str =
        "https://api.github.com/repos/acme/shop/actions/runs/42/deployment_protection_rule";

    #[test]
    fn replays_stale_deployments_and_foreign_callbacks_are_refused() {
        let now = NOW.parse::<DateTime<Utc>>().unwrap();
        let mut kept = Kept::default();
        assert_eq!(
            kept.accept("d1", event(CALLBACK, "2026-12-02T09:59:00Z"), API, now),
            Ok(true)
        );
        assert_eq!(
            kept.accept("d1", event(CALLBACK, "2026-12-02T09:59:00Z"), API, now),
            Err(Refused::Replayed)
        );
        assert_eq!(
            kept.accept("d2", event(CALLBACK, "2026-12-02T08:00:00Z"), API, now),
            Err(Refused::Stale)
        );
        for foreign in [
            "https://evil.example/repos/acme/shop/actions/runs/42/deployment_protection_rule",
            "https://api.github.com/repos/other/repo/actions/runs/42/deployment_protection_rule",
            "https://api.github.com/repos/acme/shop/actions/runs/42/../../x/deployment_protection_rule",
        ] {
            assert_eq!(
                kept.accept("d3", event(foreign, "2026-12-02T09:59:00Z"), API, now),
                Err(Refused::Callback),
                "{foreign}"
            );
        }
        let request = kept.waiting[0].request.clone();
        kept.answered(&request, now);
        assert!(kept.waiting.is_empty());
        assert_eq!(
            kept.accept("d1", event(CALLBACK, "2026-12-02T09:59:00Z"), API, now),
            Err(Refused::Replayed)
        );
        kept.prune(now + Duration::hours(3));
        assert!(kept.answered.is_empty());
    }

    /// What the signature covers decides what a replay is: a new `X-GitHub-Delivery` on the
    /// same body is the same request, waiting or answered, and is never answered twice.
    #[test]
    fn a_request_is_kept_and_answered_once_whatever_its_delivery_id() {
        let now = NOW.parse::<DateTime<Utc>>().unwrap();
        let created = "2026-12-02T09:59:00Z";
        let mut kept = Kept::default();
        assert_eq!(
            kept.accept("d1", event(CALLBACK, created), API, now),
            Ok(true)
        );
        for n in 2..2000 {
            assert_eq!(
                kept.accept(&format!("d{n}"), event(CALLBACK, created), API, now),
                Err(Refused::Replayed)
            );
        }
        assert_eq!(kept.waiting.len(), 1);
        let request = kept.waiting[0].request.clone();
        kept.answered(&request, now);
        assert_eq!(
            kept.accept(
                "d-new",
                event(CALLBACK, created),
                API,
                now + Duration::minutes(30)
            ),
            Err(Refused::Replayed),
            "an answered request is not kept again"
        );
        // The same run's other environment, or a new deployment of it, is another request.
        let mut staging = event(CALLBACK, created);
        staging.environment = "staging".into();
        assert_eq!(kept.accept("d-s", staging, API, now), Ok(true));
        let mut rerun = event(CALLBACK, created);
        rerun.deployment.id = Some(2);
        assert_eq!(kept.accept("d-r", rerun, API, now), Ok(true));
    }

    /// A flood of signed requests cannot push out one already waiting: past the bound, the
    /// newcomer is refused.
    #[test]
    fn a_flood_cannot_evict_a_waiting_request() {
        let now = NOW.parse::<DateTime<Utc>>().unwrap();
        let created = "2026-12-02T09:59:00Z";
        let mut kept = Kept::default();
        assert_eq!(
            kept.accept("genuine", event(CALLBACK, created), API, now),
            Ok(true)
        );
        let mut refused = 0;
        for n in 0..2 * MAX_WAITING {
            let run = CALLBACK.replace("/runs/42/", &format!("/runs/{}/", 1000 + n));
            match kept.accept(&format!("f{n}"), event(&run, created), API, now) {
                Ok(true) => {}
                Err(Refused::Full) => refused += 1,
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(kept.waiting.len(), MAX_WAITING);
        assert_eq!(refused, MAX_WAITING + 1);
        assert!(kept.waiting.iter().any(|w| w.delivery == "genuine"));
    }

    /// `created_at` is required: without it a replay's age cannot be told.
    #[test]
    fn a_deployment_without_created_at_is_refused_naming_it() {
        let e = serde_json::from_value::<ProtectionEvent>(json!({
            "action": "requested", "environment": "production",
            "deployment_callback_url": CALLBACK,
            "deployment": {"id": 1, "sha": "abc123"},
            "repository": {"full_name": "acme/shop"}
        }))
        .unwrap_err();
        assert!(e.to_string().contains("created_at"), "{e}");
    }
}
