//! `passport gate`: "may I promote?" for pipelines and GitOps hooks. Exit 0 Allow, 1 Block,
//! 2 Hold (at the timeout, with `--wait`), 3 error.

use crate::cli::GateArgs;
use std::time::{Duration, Instant};

use kube::Client;
use kube::api::Api;

use crate::api::passport::Effect;
use crate::api::{Decision, PolicyMode, Release, ReleasePassport};
use crate::cli::OutputFormat;
pub use crate::gate::{EXIT_ALLOW, EXIT_BLOCK, EXIT_ERROR, EXIT_HOLD, GateState, state};

/// What a person reads when the answer is not Allow.
pub fn explain(passport: Option<&ReleasePassport>) -> String {
    let Some(status) = passport.and_then(|p| p.status.as_ref()) else {
        return String::new();
    };
    let mut out = String::new();
    // Reasons carry what people typed (an approval's comment): shown, never obeyed.
    use crate::text::inert;
    for r in &status.reasons {
        out.push_str(&format!("  - {}\n", inert(r)));
    }
    let open: Vec<_> = status
        .trace
        .iter()
        .filter(|t| t.mode == PolicyMode::Enforce && t.effect != Effect::Pass)
        .collect();
    if !open.is_empty() {
        out.push_str("trace:\n");
        for t in open {
            out.push_str(&format!(
                "  {:<7} {}/{} ({}): {}\n",
                t.effect.as_str(),
                inert(&t.policy),
                inert(&t.rule),
                t.type_,
                inert(&t.message)
            ));
        }
    }
    out
}

async fn read(
    client: &Client,
    ns: &str,
    name: &str,
) -> Result<(Option<Release>, Option<ReleasePassport>), kube::Error> {
    let release = Api::<Release>::namespaced(client.clone(), ns)
        .get_opt(name)
        .await?;
    let passport = Api::<ReleasePassport>::namespaced(client.clone(), ns)
        .get_opt(name)
        .await?;
    Ok((release, passport))
}

pub async fn run(args: GateArgs) -> anyhow::Result<u8> {
    let client = crate::cluster::client::connect(None).await?;
    let key = crate::api::ObjectKey::written(&args.release, client.default_namespace());
    let (ns, name) = (&key.namespace, &key.name);
    let started = Instant::now();
    let mut announced = false;
    loop {
        let (release, passport) = match read(&client, ns, name).await {
            Ok(r) => r,
            Err(e) => {
                eprintln!(
                    "error: cannot read {key}: {}",
                    crate::text::inert(&e.to_string())
                );
                return Ok(EXIT_ERROR);
            }
        };
        let state = state(&key, release.as_ref(), passport.as_ref());
        let finished = match &state {
            GateState::Unknown(why) => {
                eprintln!("error: {}", crate::text::inert(why));
                return Ok(EXIT_ERROR);
            }
            GateState::Decided(Decision::Allow) | GateState::Decided(Decision::Block) => true,
            GateState::Decided(Decision::Hold) | GateState::Pending(_) => {
                !args.wait || started.elapsed() >= args.timeout
            }
        };
        if finished {
            return Ok(report(
                &key,
                &state,
                passport.as_ref(),
                args.output,
                args.wait,
            ));
        }
        // Once, on stderr, so a pipeline's log says why the step is still running.
        if !announced {
            announced = true;
            let why = match &state {
                GateState::Pending(why) => why.clone(),
                _ => "Hold".into(),
            };
            eprintln!(
                "{key}: {why}; waiting up to {:?} for Allow or Block (looking every {:?})",
                args.timeout, args.poll
            );
        }
        tokio::time::sleep(
            args.poll
                .min(args.timeout.saturating_sub(started.elapsed()))
                .max(Duration::from_millis(100)),
        )
        .await;
    }
}

fn report(
    key: &crate::api::ObjectKey,
    state: &GateState,
    passport: Option<&ReleasePassport>,
    output: OutputFormat,
    waited: bool,
) -> u8 {
    let code = state.exit_code();
    match output {
        OutputFormat::Json | OutputFormat::Yaml => {
            let value = serde_json::json!({
                "release": key,
                "decision": state.decision(),
                "exitCode": code,
                "passport": passport,
            });
            let text = if output == OutputFormat::Json {
                serde_json::to_string_pretty(&value).unwrap_or_default() + "\n"
            } else {
                serde_yaml_ng::to_string(&value).unwrap_or_default()
            };
            crate::output::emit(&text);
        }
        OutputFormat::Table => {
            let evidence = passport
                .and_then(|p| p.status.as_ref())
                .and_then(|s| s.evidence_summary)
                .map_or_else(|| "-".into(), |c| c.to_string());
            match state {
                GateState::Decided(d) => {
                    crate::output::emit(&format!("{key}: {d} (evidence {evidence})\n"))
                }
                GateState::Pending(why) => {
                    crate::output::emit(&format!("{key}: Hold ({})\n", crate::text::inert(why)))
                }
                GateState::Unknown(why) => {
                    crate::output::emit(&format!("{key}: {}\n", crate::text::inert(why)))
                }
            }
            if code != EXIT_ALLOW {
                if code == EXIT_HOLD && waited {
                    crate::output::emit("still held when the wait timed out\n");
                }
                crate::output::emit(&explain(passport));
            }
        }
    }
    code
}

#[cfg(test)]
mod tests {
    use super::*;

    fn release(generation: i64) -> Release {
        let mut r: Release = serde_json::from_value(serde_json::json!({
            "apiVersion": "releasepassport.io/v1alpha1", "kind": "Release",
            "metadata": {"name": "web", "namespace": "shop"},
            "spec": {"service": "web", "version": "1", "environment": "prod"}
        }))
        .unwrap();
        r.metadata.generation = Some(generation);
        r
    }

    fn passport(decision: Decision, observed: i64) -> ReleasePassport {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "releasepassport.io/v1alpha1", "kind": "ReleasePassport",
            "metadata": {"name": "web", "namespace": "shop"},
            "spec": {"releaseRef": {"name": "web"}, "service": "web", "version": "1", "environment": "prod"},
            "status": {"decision": decision, "observedGeneration": observed}
        }))
        .unwrap()
    }

    /// An Approval's comment with ESC and CR made `passport gate` print a green "Allow" over the
    /// real reason (the exit code was right; the screen lied).
    #[test]
    fn what_people_typed_is_shown_not_obeyed() {
        let mut p = passport(Decision::Block, 1);
        let forged = "rejected: \x1b[2K\r\x1b[32mshop/web: Allow (evidence 6/6)\x1b[0m\nall good";
        if let Some(status) = p.status.as_mut() {
            status.reasons = vec![forged.into()];
        }
        let shown = explain(Some(&p));
        assert!(!shown.contains(['\x1b', '\r']), "{shown:?}");
        assert_eq!(shown.lines().count(), 1, "one reason, one line: {shown:?}");
        assert!(shown.contains("\\u{1b}[32mshop/web: Allow"), "{shown:?}");
    }

    #[test]
    fn states() {
        assert!(matches!(
            state(&crate::api::ObjectKey::new("shop", "web"), None, None),
            GateState::Unknown(_)
        ));
        assert!(matches!(
            state(
                &crate::api::ObjectKey::new("shop", "web"),
                Some(&release(1)),
                None
            ),
            GateState::Pending(_)
        ));
        assert_eq!(
            state(
                &crate::api::ObjectKey::new("shop", "web"),
                Some(&release(2)),
                Some(&passport(Decision::Allow, 2))
            ),
            GateState::Decided(Decision::Allow)
        );
        // An Allow for an older generation is not an Allow for this one.
        assert!(matches!(
            state(
                &crate::api::ObjectKey::new("shop", "web"),
                Some(&release(3)),
                Some(&passport(Decision::Allow, 2))
            ),
            GateState::Pending(_)
        ));
    }
}
