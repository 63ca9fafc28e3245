//! Who is asking, and what they may see. Two configured modes, usable together: identity headers
//! from an auth proxy (believed only from configured proxy addresses) and a bearer ID token
//! verified against the issuer's JWKS. Without either, the console serves one local user (the
//! demo on loopback). Groups map to the namespaces a user may see.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use ipnet::IpNet;

use super::oidc::Verifier;

/// Identity headers set by an auth proxy (oauth2-proxy's names by default).
#[derive(Clone, Debug)]
pub struct ProxyAuth {
    /// Addresses (or networks) the proxy connects from; headers from anywhere else are refused.
    pub trusted: Vec<IpNet>,
    pub user_header: String,
    pub groups_header: String,
}

impl ProxyAuth {
    pub fn new(trusted: Vec<IpNet>) -> Self {
        Self {
            trusted,
            user_header: "x-forwarded-user".into(),
            groups_header: "x-forwarded-groups".into(),
        }
    }
}

#[derive(Clone, Default)]
pub struct AuthConfig {
    pub proxy: Option<ProxyAuth>,
    pub oidc: Option<Arc<Verifier>>,
    /// Where an unauthenticated browser is sent (e.g. the proxy's `/oauth2/start`).
    pub sign_in_url: Option<String>,
    /// Where Logout goes after clearing the session (else the issuer's end_session_endpoint).
    pub sign_out_url: Option<String>,
    /// Group → namespaces its members may see (`*` for all). Empty: every signed-in user sees
    /// every namespace.
    pub group_namespaces: BTreeMap<String, Vec<String>>,
}

impl std::fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthConfig")
            .field("mode", &self.mode())
            .field("proxy", &self.proxy)
            .field("groups", &self.group_namespaces)
            .finish_non_exhaustive()
    }
}

impl AuthConfig {
    /// No sign-in: everyone is the local user (only for a console bound to loopback).
    pub fn local() -> Self {
        Self::default()
    }

    pub fn requires_sign_in(&self) -> bool {
        self.proxy.is_some() || self.oidc.is_some()
    }

    pub fn mode(&self) -> &'static str {
        match (&self.proxy, &self.oidc) {
            (Some(_), Some(_)) => "auth-proxy headers and OIDC bearer tokens",
            (Some(_), None) => "auth-proxy headers",
            (None, Some(_)) => "OIDC bearer tokens",
            (None, None) => "none (local console)",
        }
    }

    fn visibility(&self, groups: &[String]) -> Visibility {
        if self.group_namespaces.is_empty() {
            return Visibility::All;
        }
        let mut namespaces = BTreeSet::new();
        for g in groups {
            for ns in self.group_namespaces.get(g).into_iter().flatten() {
                if ns == "*" {
                    return Visibility::All;
                }
                namespaces.insert(ns.clone());
            }
        }
        Visibility::Only(namespaces)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Visibility {
    All,
    Only(BTreeSet<String>),
}

impl Visibility {
    /// Whether an object in `namespace` (none: `default`) may be shown.
    pub fn allows(&self, namespace: Option<&str>) -> bool {
        match self {
            Visibility::All => true,
            Visibility::Only(set) => set.contains(crate::api::key::namespace_or_default(namespace)),
        }
    }
}

/// The signed-in user, attached to every request that passed authentication.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Identity {
    pub name: String,
    pub groups: Vec<String>,
    pub visibility: Visibility,
    /// How the identity was established ("OIDC token", "auth proxy", "local").
    pub via: &'static str,
}

impl Identity {
    pub fn can_see(&self, namespace: Option<&str>) -> bool {
        self.visibility.allows(namespace)
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Refusal {
    /// No credential at all.
    Anonymous,
    /// A credential that did not check out (reason kept for the log, never sent).
    Refused(String),
}

fn header_text<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

/// Whether `name` appears more than once: which copy the proxy set cannot be told.
fn repeated(headers: &HeaderMap, name: &str) -> bool {
    headers.get_all(name).iter().nth(1).is_some()
}

async fn authenticate(
    config: &AuthConfig,
    headers: &HeaderMap,
    peer: Option<IpAddr>,
) -> Result<Identity, Refusal> {
    if !config.requires_sign_in() {
        return Ok(Identity {
            name: "local user".into(),
            groups: Vec::new(),
            visibility: Visibility::All,
            via: "local",
        });
    }
    if let Some(verifier) = &config.oidc
        && let Some(value) = header_text(headers, header::AUTHORIZATION.as_str())
    {
        let token = crate::serve::bearer_token(value)
            .ok_or_else(|| Refusal::Refused("Authorization is not a bearer token".into()))?;
        let claims = verifier
            .verify(token)
            .await
            .map_err(|e| Refusal::Refused(e.to_string()))?;
        return Ok(Identity {
            visibility: config.visibility(&claims.groups),
            name: claims.username,
            groups: claims.groups,
            via: "OIDC token",
        });
    }
    if let Some(proxy) = &config.proxy
        && let Some(user) = header_text(headers, &proxy.user_header)
    {
        // An IPv4 proxy reached over a dual-stack socket shows as `::ffff:a.b.c.d`.
        let peer = peer.map(|ip| ip.to_canonical());
        let trusted = peer.is_some_and(|ip| proxy.trusted.iter().any(|net| net.contains(&ip)));
        if !trusted {
            return Err(Refusal::Refused(format!(
                "identity headers from {} which is not a configured proxy address",
                peer.map_or_else(|| "an unknown address".into(), |ip| ip.to_string())
            )));
        }
        if repeated(headers, &proxy.user_header) || repeated(headers, &proxy.groups_header) {
            return Err(Refusal::Refused(
                "identity headers sent more than once".into(),
            ));
        }
        let groups: Vec<String> = header_text(headers, &proxy.groups_header)
            .map(|g| {
                g.split(',')
                    .map(str::trim)
                    .filter(|g| !g.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        return Ok(Identity {
            name: user.to_string(),
            visibility: config.visibility(&groups),
            groups,
            via: "auth proxy",
        });
    }
    Err(Refusal::Anonymous)
}

/// Middleware: attaches the [`Identity`] or answers 401 (JSON for the API, a redirect to the
/// sign-in URL or a bare page for browsers). A refused caller learns nothing about why.
pub async fn require(
    State(config): State<Arc<AuthConfig>>,
    mut request: Request,
    next: Next,
) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    match authenticate(&config, request.headers(), peer).await {
        Ok(identity) => {
            request.extensions_mut().insert(identity);
            next.run(request).await
        }
        Err(refusal) => {
            if let Refusal::Refused(why) = &refusal {
                tracing::info!(peer = ?peer, path = %request.uri().path(), "console sign-in refused: {why}");
            }
            unauthenticated(&config, request.uri().path())
        }
    }
}

fn unauthenticated(config: &AuthConfig, path: &str) -> Response {
    if path.starts_with("/api/") {
        return (
            StatusCode::UNAUTHORIZED,
            [
                (header::CONTENT_TYPE, "application/json"),
                (header::WWW_AUTHENTICATE, "Bearer"),
            ],
            r#"{"error":"unauthenticated"}"#,
        )
            .into_response();
    }
    match &config.sign_in_url {
        Some(url) => Redirect::to(url).into_response(),
        None => (
            StatusCode::UNAUTHORIZED,
            [
                (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
                (header::WWW_AUTHENTICATE, "Bearer"),
            ],
            "Sign-in required.\n",
        )
            .into_response(),
    }
}

/// Logout: the browser forgets this origin's cookies (the auth proxy's session) and goes to the
/// provider's sign-out page, so the next visit signs in again.
pub async fn logout(State(config): State<Arc<AuthConfig>>) -> Response {
    let mut target = config.sign_out_url.clone();
    if target.is_none()
        && let Some(v) = &config.oidc
    {
        target = v.end_session_endpoint().await;
    }
    let target = target.unwrap_or_else(|| "/console/signed-out".into());
    let mut response = Redirect::to(&target).into_response();
    response.headers_mut().insert(
        "clear-site-data",
        HeaderValue::from_static("\"cookies\", \"storage\""),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(
                *k,
                HeaderValue::from_str(v).unwrap_or(HeaderValue::from_static("")),
            );
        }
        h
    }

    fn proxied() -> AuthConfig {
        AuthConfig {
            proxy: Some(ProxyAuth::new(vec![
                "10.0.0.0/24".parse().unwrap_or_else(|_| IpNet::default()),
            ])),
            group_namespaces: [
                ("shop-devs".to_string(), vec!["shop".to_string()]),
                ("sre".to_string(), vec!["*".to_string()]),
            ]
            .into(),
            ..AuthConfig::default()
        }
    }

    #[tokio::test]
    async fn proxy_headers_only_from_the_proxy() {
        let config = proxied();
        let h = headers(&[
            ("x-forwarded-user", "alice"),
            ("x-forwarded-groups", "shop-devs, other"),
        ]);
        let ok = authenticate(&config, &h, "10.0.0.7".parse().ok()).await;
        let alice = ok.as_ref().map_err(|e| format!("{e:?}"));
        assert_eq!(alice.map(|i| i.name.as_str()), Ok("alice"));
        let i = ok.unwrap_or_else(|_| unreachable!());
        assert!(i.can_see(Some("shop")));
        assert!(!i.can_see(Some("payments")));
        let forged = authenticate(&config, &h, "192.168.1.5".parse().ok()).await;
        assert!(matches!(forged, Err(Refusal::Refused(_))));
        assert_eq!(
            authenticate(&config, &HeaderMap::new(), "10.0.0.7".parse().ok()).await,
            Err(Refusal::Anonymous)
        );
        // The same proxy over a dual-stack socket.
        let mapped = authenticate(&config, &h, "::ffff:10.0.0.7".parse().ok()).await;
        assert!(mapped.is_ok_and(|i| i.name == "alice"));
        // A second copy of an identity header: which one the proxy set cannot be told.
        let mut twice = h.clone();
        twice.append("x-forwarded-groups", HeaderValue::from_static("sre"));
        let doubled = authenticate(&config, &twice, "10.0.0.7".parse().ok()).await;
        assert!(matches!(doubled, Err(Refusal::Refused(_))));
        let sre = headers(&[("x-forwarded-user", "sam"), ("x-forwarded-groups", "sre")]);
        let sam = authenticate(&config, &sre, "10.0.0.7".parse().ok()).await;
        assert!(sam.is_ok_and(|i| i.visibility == Visibility::All));
    }

    #[tokio::test]
    async fn the_local_console_needs_no_sign_in() {
        let i = authenticate(&AuthConfig::local(), &HeaderMap::new(), None).await;
        assert!(i.is_ok_and(|i| i.via == "local" && i.can_see(Some("any"))));
    }
}
