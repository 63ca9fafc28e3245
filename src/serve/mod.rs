//! Every listener (console, webhook and gate, probes) serves through here, with limits: a
//! client that sends nothing, or its request head too slowly, is dropped; requests are
//! bounded in time, body and number at once; connections beyond the cap, or beyond one
//! client address's share of it, are closed as they arrive. Each request carries its peer's address (`ConnectInfo`) for the proxy check. A
//! listener given a certificate ([`tls`]) speaks only TLS.

pub mod tls;

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::connect_info::ConnectInfo;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::ServiceExt;

/// How much one listener takes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// A connection must send a whole request head within this, also between requests on a
    /// kept-alive connection (so an idle or half-open one is closed after it).
    pub header_read: Duration,
    /// The longest a request may take to answer (408 after).
    pub request: Duration,
    /// The largest request body (413 above).
    pub body: usize,
    /// Open connections at once; more are closed as they arrive.
    pub connections: usize,
    /// Open connections at once from one client address (an IPv6 client's /64); more are
    /// closed as they arrive, so one client cannot take every connection.
    pub per_client: usize,
    /// Addresses that speak for many people (the console's trusted auth proxy): held only to
    /// `connections`, not to `per_client`.
    pub proxies: Vec<ipnet::IpNet>,
    /// Requests handled at once; more wait their turn.
    pub concurrency: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            header_read: Duration::from_secs(10),
            request: Duration::from_secs(30),
            body: 1024 * 1024,
            connections: 1024,
            per_client: 64,
            proxies: Vec::new(),
            concurrency: 256,
        }
    }
}

/// The token of an `Authorization: Bearer …` value. The scheme is matched without regard to case
/// (RFC 7235 §2.1: `bearer`, `BEARER`), separated by spaces or tabs; an empty token is none.
pub fn bearer_token(authorization: &str) -> Option<&str> {
    let value = authorization.trim();
    let (scheme, token) = value.split_once([' ', '\t'])?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// Connections open per client address, each given back when its connection ends.
#[derive(Default)]
struct PerClient {
    open: Mutex<HashMap<IpAddr, usize>>,
}

/// One client's connection, counted while it lives.
struct ClientSlot {
    clients: Arc<PerClient>,
    client: IpAddr,
}

/// The address a client is counted by: IPv4 as is (a mapped one too), IPv6 by its /64, which
/// one host is commonly given whole.
fn client_of(peer: IpAddr) -> IpAddr {
    match peer {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
        v4 => v4,
    }
}

impl PerClient {
    fn take(self: &Arc<Self>, peer: IpAddr, max: usize) -> Option<ClientSlot> {
        let client = client_of(peer);
        // A poisoned count is still a count: the panic that poisoned it held no half-update.
        let mut open = self
            .open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let count = open.entry(client).or_insert(0);
        if *count >= max {
            return None;
        }
        *count += 1;
        Some(ClientSlot {
            clients: Arc::clone(self),
            client,
        })
    }
}

impl Drop for ClientSlot {
    fn drop(&mut self) {
        let mut open = self
            .clients
            .open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(count) = open.get_mut(&self.client) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.client);
            }
        }
    }
}

/// Serves `app` on `listener` until `shutdown`, then lets open requests finish (10 s at most).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(listener, app, limits, None, shutdown).await
}

/// The same, over TLS when `tls` is given (the handshake must finish within the header-read
/// timeout).
pub async fn serve_with(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    tls: Option<tls::Tls>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = app
        .layer(tower_http::limit::RequestBodyLimitLayer::new(limits.body))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            limits.request,
        ))
        .layer(tower::limit::ConcurrencyLimitLayer::new(limits.concurrency));
    let open = Arc::new(Semaphore::new(limits.connections.max(1)));
    let clients = Arc::new(PerClient::default());
    let header_read = limits.header_read;
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                // Out of file descriptors and the like: the next accept may work.
                Err(e) => {
                    tracing::debug!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let slot = if limits.proxies.iter().any(|p| p.contains(&peer.ip())) {
            None
        } else {
            let Some(slot) = clients.take(peer.ip(), limits.per_client.max(1)) else {
                tracing::debug!(%peer, "connection refused: {} already open from this client", limits.per_client);
                continue;
            };
            Some(slot)
        };
        let Ok(permit) = Arc::clone(&open).try_acquire_owned() else {
            tracing::debug!(%peer, "connection refused: {} already open", limits.connections);
            continue;
        };
        let permit = (permit, slot);
        let app = app.clone();
        let service = hyper::service::service_fn(
            move |mut request: hyper::Request<hyper::body::Incoming>| {
                request
                    .extensions_mut()
                    .insert(ConnectInfo::<SocketAddr>(peer));
                app.clone().oneshot(request.map(axum::body::Body::new))
            },
        );
        let http = {
            let mut http = hyper::server::conn::http1::Builder::new();
            http.timer(TokioTimer::new())
                .header_read_timeout(header_read);
            http
        };
        match &tls {
            None => {
                let connection =
                    graceful.watch(http.serve_connection(TokioIo::new(stream), service));
                tokio::spawn(async move {
                    if let Err(e) = connection.await {
                        tracing::debug!(%peer, "connection ended: {e}");
                    }
                    drop(permit);
                });
            }
            Some(tls::Tls(acceptor)) => {
                let (acceptor, watcher) = (acceptor.clone(), graceful.watcher());
                tokio::spawn(async move {
                    let handshake = tokio::time::timeout(header_read, acceptor.accept(stream));
                    match handshake.await {
                        Ok(Ok(stream)) => {
                            let connection = http.serve_connection(TokioIo::new(stream), service);
                            if let Err(e) = watcher.watch(connection).await {
                                tracing::debug!(%peer, "connection ended: {e}");
                            }
                        }
                        Ok(Err(e)) => tracing::debug!(%peer, "TLS handshake failed: {e}"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                    drop(permit);
                });
            }
        }
    }
    tokio::select! {
        () = graceful.shutdown() => {},
        () = tokio::time::sleep(Duration::from_secs(10)) => {},
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_is_held_to_its_share_and_gets_it_back() {
        let clients = Arc::new(PerClient::default());
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let slots: Vec<_> = (0..3).filter_map(|_| clients.take(a, 3)).collect();
        assert_eq!(slots.len(), 3);
        assert!(clients.take(a, 3).is_none());
        // The same host over IPv4-mapped IPv6 is the same client; another is not held.
        assert!(
            clients
                .take("::ffff:10.0.0.1".parse().unwrap(), 3)
                .is_none()
        );
        assert!(clients.take("10.0.0.2".parse().unwrap(), 3).is_some());
        drop(slots);
        assert!(clients.take(a, 3).is_some());
        assert!(clients.open.lock().unwrap().get(&a).is_none_or(|n| *n <= 1));
    }

    #[test]
    fn an_ipv6_client_is_its_slash_64() {
        let client = |s: &str| client_of(s.parse().unwrap());
        assert_eq!(client("2001:db8:1:2::1"), client("2001:db8:1:2:ffff::9"));
        assert_ne!(client("2001:db8:1:2::1"), client("2001:db8:1:3::1"));
        assert_eq!(client("::ffff:192.0.2.1"), client("192.0.2.1"));
    }

    #[test]
    fn the_bearer_scheme_is_matched_without_regard_to_case() {
        for value in [
            "Bearer abc",
            "bearer abc",
            "BEARER abc",
            "BeArEr  abc ",
            "Bearer\tabc",
        ] {
            assert_eq!(bearer_token(value), Some("abc"), "{value:?}");
        }
        for value in [
            "Basic abc",
            "Bearer",
            "Bearer   ",
            "Bearerabc",
            "",
            "Token abc",
        ] {
            assert_eq!(bearer_token(value), None, "{value:?}");
        }
    }
}
