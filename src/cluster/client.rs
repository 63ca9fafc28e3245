//! The one way this binary connects to the API server: kubeconfig or in-cluster, as kubectl
//! does, without kube's own retry layer (kube 5 retries 429/503/504 up to 15 times, minutes in
//! all, beneath the caller): the controller's retries are its own (`controller::retry`, the
//! watches' backoff, the Lease's renewal period), and a command answers at once.

use kube::{Client, Config};

/// A client from the inferred configuration, carrying `user_agent` if given (the replica's
/// name, so the audit log says which replica made each request).
pub async fn connect(user_agent: Option<&str>) -> Result<Client, kube::Error> {
    let mut config = Config::infer().await.map_err(kube::Error::InferConfig)?;
    config.default_retry = false;
    if let Some(agent) = user_agent
        && let Ok(value) = axum::http::HeaderValue::from_str(agent)
    {
        config.headers.push((axum::http::header::USER_AGENT, value));
    }
    Client::try_from(config)
}
