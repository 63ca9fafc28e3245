//! Every listener (console, webhook and gate, probes) serves through here, with limits: a
//! client that sends nothing, or its request head too slowly, is dropped; requests are
//! bounded in time, body and number at once; connections beyond the cap are closed as they
//! arrive. Each request carries its peer's address (`ConnectInfo`) for the proxy check. A
//! listener given a certificate ([`tls`]) speaks only TLS.

pub mod tls;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::connect_info::ConnectInfo;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::ServiceExt;

/// How much one listener takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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
        let Ok(permit) = Arc::clone(&open).try_acquire_owned() else {
            tracing::debug!(%peer, "connection refused: {} already open", limits.connections);
            continue;
        };
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
                .header_read_timeout(limits.header_read);
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
                    let handshake =
                        tokio::time::timeout(limits.header_read, acceptor.accept(stream));
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
    use super::bearer_token;

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
