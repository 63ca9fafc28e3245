//! The optional AI summary on the truth screen: an OpenAI-compatible chat-completions endpoint
//! (OpenAI, or Ollama, vLLM, llama.cpp inside the cluster) rewrites the deterministic
//! investigation as a few sentences for whoever is on call. Off unless an endpoint is
//! configured. It is advice printed beside the decision and is never read back: the engine and
//! the controller do not know it exists, so it can never change an answer.
//!
//! Calls stay off the request path. A view asks for the summary of the passport's current
//! investigation; the first ask starts one call in the background and the page says it is being
//! written; later views read the cached answer. The same investigation is never sent twice
//! (a failure is retried after a minute), and at most a few calls run at once.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::api::ReleasePassport;
use crate::api::namespace_of;
use crate::connectors::FetchError;
use crate::connectors::http::{classify, client, read_bounded};
use crate::scrub::scrub;

/// What the endpoint is told its job is.
const INSTRUCTIONS: &str = "You summarise why a release gate decided as it did, for the engineer on call. Use only the facts given; do not invent data. Write two to four plain sentences: what stops or allows the release, and what would change it. Never suggest bypassing or overriding the gate.";
/// Answers longer than this are cut (a summary, not an essay).
const MAX_CHARS: usize = 1200;
/// Cached answers kept; the oldest give way.
const MAX_ENTRIES: usize = 1024;
/// Calls running at once.
const MAX_RUNNING: usize = 2;
/// A failed call is retried after this long.
const RETRY_AFTER: Duration = Duration::from_secs(60);

/// Where summaries come from.
#[derive(Clone)]
pub struct SummaryConfig {
    /// The chat-completions URL, e.g. `http://ollama.ai:11434/v1/chat/completions`.
    pub endpoint: reqwest::Url,
    pub model: String,
    /// Sent as `Authorization: Bearer`; never shown or logged.
    pub token: Option<String>,
    pub timeout: Duration,
}

impl std::fmt::Debug for SummaryConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SummaryConfig")
            .field("endpoint", &self.endpoint.as_str())
            .field("model", &self.model)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// What the truth screen shows beside the investigation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Summary {
    /// No endpoint is configured.
    Off,
    /// A call is running (or waiting its turn).
    Writing,
    Written {
        text: String,
        model: String,
    },
    /// The call failed; the reason names no secret.
    Unavailable(String),
}

#[derive(Clone, Debug)]
enum Entry {
    Writing,
    Written(String),
    Failed(String, Instant),
}

/// Asks the endpoint and caches its answers. Cheap to share.
#[derive(Debug)]
pub struct Summarizer {
    config: SummaryConfig,
    http: reqwest::Client,
    entries: Mutex<HashMap<u64, (u64, Entry)>>,
    order: std::sync::atomic::AtomicU64,
    running: Arc<tokio::sync::Semaphore>,
}

impl Summarizer {
    pub fn new(config: SummaryConfig) -> Result<Self, reqwest::Error> {
        Ok(Self {
            config,
            http: client()?,
            entries: Mutex::new(HashMap::new()),
            order: std::sync::atomic::AtomicU64::new(0),
            running: Arc::new(tokio::sync::Semaphore::new(MAX_RUNNING)),
        })
    }

    pub fn config(&self) -> &SummaryConfig {
        &self.config
    }

    /// The summary of `lines` (the investigation of `p`), starting a call when none was made
    /// for exactly this investigation. Must run inside the Tokio runtime.
    pub fn summary(self: &Arc<Self>, p: &ReleasePassport, lines: &[String]) -> Summary {
        let prompt = prompt(p, lines);
        let key = {
            let mut h = std::collections::hash_map::DefaultHasher::new();
            prompt.hash(&mut h);
            h.finish()
        };
        let Ok(mut entries) = self.entries.lock() else {
            return Summary::Unavailable("the summary cache is unusable".into());
        };
        match entries.get(&key).map(|(_, e)| e.clone()) {
            Some(Entry::Writing) => return Summary::Writing,
            Some(Entry::Written(text)) => {
                return Summary::Written {
                    text,
                    model: self.config.model.clone(),
                };
            }
            Some(Entry::Failed(reason, at)) if at.elapsed() < RETRY_AFTER => {
                return Summary::Unavailable(reason);
            }
            _ => {}
        }
        if entries.len() >= MAX_ENTRIES
            && let Some(oldest) = entries
                .iter()
                .min_by_key(|(_, (order, _))| *order)
                .map(|(k, _)| *k)
        {
            entries.remove(&oldest);
        }
        let order = self
            .order
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        entries.insert(key, (order, Entry::Writing));
        drop(entries);
        let this = Arc::clone(self);
        tokio::spawn(async move {
            let entry = match this.ask(&prompt).await {
                Ok(text) => Entry::Written(text),
                Err(e) => {
                    tracing::warn!(endpoint = %this.config.endpoint, "AI summary failed: {e}");
                    Entry::Failed(e.to_string(), Instant::now())
                }
            };
            if let Ok(mut entries) = this.entries.lock()
                && let Some(slot) = entries.get_mut(&key)
            {
                slot.1 = entry;
            }
        });
        Summary::Writing
    }

    async fn ask(&self, prompt: &str) -> Result<String, FetchError> {
        let _turn = Arc::clone(&self.running)
            .acquire_owned()
            .await
            .map_err(|_| FetchError::Config("shutting down".into()))?;
        let body = serde_json::json!({
            "model": self.config.model,
            "messages": [
                {"role": "system", "content": INSTRUCTIONS},
                {"role": "user", "content": prompt},
            ],
            "temperature": 0,
            "stream": false,
        });
        let mut request = self
            .http
            .post(self.config.endpoint.clone())
            .timeout(self.config.timeout)
            .json(&body);
        if let Some(token) = &self.config.token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.map_err(|e| classify(&e))?;
        let status = response.status();
        let bytes = read_bounded(response).await?;
        let secrets: Vec<&str> = self.config.token.as_deref().into_iter().collect();
        if !status.is_success() {
            return Err(FetchError::Upstream(scrub(
                &format!(
                    "the endpoint answered HTTP {status}: {}",
                    String::from_utf8_lossy(&bytes[..bytes.len().min(200)])
                ),
                &secrets,
            )));
        }
        let text = completion_text(&bytes)?;
        Ok(scrub(&cut(text.trim(), MAX_CHARS), &secrets))
    }
}

/// What the endpoint is given: the release and its investigation, credentials scrubbed.
fn prompt(p: &ReleasePassport, lines: &[String]) -> String {
    let decision = p
        .status
        .as_ref()
        .and_then(|s| s.decision)
        .map_or_else(|| "not decided yet".to_string(), |d| d.to_string());
    let mut out = format!(
        "Release {}/{}: service {} version {} to environment {}. Decision: {decision}.\nFacts:\n",
        namespace_of(&p.metadata),
        p.spec.release_ref.name,
        p.spec.service,
        p.spec.version,
        p.spec.environment,
    );
    for line in lines {
        out.push_str("- ");
        out.push_str(line);
        out.push('\n');
    }
    scrub(&out, &[])
}

/// `choices[0].message.content` of a chat-completions answer.
fn completion_text(body: &[u8]) -> Result<String, FetchError> {
    let json: serde_json::Value = serde_json::from_slice(body).map_err(|e| {
        FetchError::Upstream(format!("the answer is not chat-completions JSON: {e}"))
    })?;
    json.pointer("/choices/0/message/content")
        .and_then(serde_json::Value::as_str)
        .filter(|t| !t.trim().is_empty())
        .map(str::to_string)
        .ok_or_else(|| FetchError::Upstream("the answer has no choices[0].message.content".into()))
}

fn cut(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_first_choice_and_refuses_other_shapes() {
        let ok =
            br#"{"choices":[{"message":{"role":"assistant","content":" Held on approval. "}}]}"#;
        assert_eq!(completion_text(ok).unwrap(), " Held on approval. ");
        for bad in [
            &b"<html>"[..],
            br#"{"choices":[]}"#,
            br#"{"choices":[{"message":{"content":"  "}}]}"#,
            br#"{"error":{"message":"quota"}}"#,
        ] {
            assert!(
                completion_text(bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn long_answers_are_cut_on_a_character_boundary() {
        assert_eq!(cut("ééé", 2), "éé…");
        assert_eq!(cut("ab", 2), "ab");
    }

    #[test]
    fn the_config_never_prints_its_token() {
        let config = SummaryConfig {
            endpoint: "http://127.0.0.1:1/v1/chat/completions".parse().unwrap(),
            model: "m".into(),
            token: Some("sk-very-secret".into()),
            timeout: Duration::from_secs(1),
        };
        assert!(!format!("{config:?}").contains("sk-very-secret"));
    }
}
