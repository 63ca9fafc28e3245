//! GitHub deployment protection rules: GitHub Environments ask (`deployment_protection_rule`
//! webhook, signed with the App's webhook secret) and wait; the leader answers through the
//! delivery's callback URL once the passport of the matching Release decides — Allow approves,
//! Block rejects, Hold waits. Requests waiting are kept in a ConfigMap beside the Lease
//! (`release-passport-github-protection`), so a restart or a new leader still answers them, and
//! each is answered once.
//!
//! ```text
//! POST /github/deployment-protection
//! X-GitHub-Event: deployment_protection_rule
//! X-GitHub-Delivery: 72d3162e-cc78-11e3-81ab-4c9367dc0958
//! X-Hub-Signature-256: sha256=<hex hmac of the body>
//! ```
//!
//! In parts: [`app`] (the App's Secret and its JWT), [`signature`] (GitHub's HMAC),
//! [`event`] (the payload we read), [`requests`] (what is kept and what is answered, pure),
//! [`store`] (the ConfigMap and the answer loop) and [`receiver`] (the HTTP endpoint).

pub mod app;
pub mod event;
pub mod receiver;
pub mod requests;
pub mod signature;
pub mod store;

pub use app::{App, AppAuth, AppError};
pub use event::ProtectionEvent;
pub use receiver::{PATH, router};
pub use requests::{Kept, MAX_AGE, MAX_WAITING, Refused, Request, Waiting};
pub use signature::{sign, verify_signature};
pub use store::{CONFIG_MAP, Protection, run};
