//! The HTTP listeners other than the phone ports (DCMP; the admin API, over TLS when it is not
//! on loopback; the file server, over the phone ports' TLS stacks) under the same discipline as
//! the phone ports:
//! a connection cap and a per-address cap with eviction of silent connections
//! ([`crate::gate`]), a deadline for each request's headers, and one for the whole request, so
//! that idle or half-sent requests cannot hold descriptors until the process runs out.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use crate::gate::{ConnectionGate, GateLimits, GatePass};
use crate::listener::{Handshaken, PortTls, accept_through, handshake};
use crate::proxy_protocol::TrustedProxies;

/// Caps and deadlines of one plain-HTTP listener.
#[derive(Debug, Clone, Copy)]
pub struct HttpLimits {
    /// Connection caps and the header deadline.
    pub gate: GateLimits,
    /// The longest a request may take from its headers to its answer.
    pub request_timeout: Duration,
}

/// How an HTTP listener's connections are secured.
#[derive(Clone)]
pub enum HttpTls {
    /// Plain HTTP (DCMP; the admin API on loopback).
    Plain,
    /// TLS through rustls (the admin API elsewhere).
    Rustls(TlsAcceptor),
    /// The phone ports' stacks: rustls, and OpenSSL for legacy clients when it is on (the file
    /// server, which phones download from).
    Phone(PortTls),
}

/// Serves `router` on `listener` until `shutdown` is cancelled, secured as `tls` says; `name`
/// is for the log.
pub async fn serve_http(
    listener: TcpListener,
    router: Router,
    tls: HttpTls,
    limits: HttpLimits,
    name: &'static str,
    shutdown: CancellationToken,
) {
    let gate = ConnectionGate::new(limits.gate);
    let phone_acceptor = match &tls {
        HttpTls::Phone(port) => Some(TlsAcceptor::from(port.rustls.clone())),
        _ => None,
    };
    while let Some((stream, remote, pass)) =
        accept_through(&listener, &gate, name, &TrustedProxies::default(), &shutdown).await
    {
        let (router, tls, shutdown, phone_acceptor) =
            (router.clone(), tls.clone(), shutdown.clone(), phone_acceptor.clone());
        tokio::spawn(async move {
            pass.idle(Instant::now());
            let pass = Arc::new(pass);
            let evicted = pass.evicted.clone();
            let served = async {
                let handshake = tokio::time::timeout(pass.deadline, async {
                    match (&tls, &phone_acceptor) {
                        (HttpTls::Plain, _) => Some(Secured::Plain(stream)),
                        (HttpTls::Rustls(acceptor), _) => match acceptor.accept(stream).await {
                            Ok(stream) => Some(Secured::Rustls(Box::new(stream))),
                            Err(error) => {
                                tracing::debug!(listener = name, %remote, %error, "TLS handshake failed");
                                None
                            }
                        },
                        (HttpTls::Phone(port), Some(acceptor)) => {
                            let (stream, _) = handshake(stream, remote, acceptor, port, &pass).await?;
                            pass.idle(Instant::now());
                            Some(Secured::Phone(stream))
                        }
                        (HttpTls::Phone(_), None) => None,
                    }
                });
                match handshake.await {
                    Ok(Some(Secured::Plain(stream))) => {
                        serve_connection(stream, router, pass, limits, (name, remote), shutdown).await
                    }
                    Ok(Some(Secured::Rustls(stream))) => {
                        serve_connection(stream, router, pass, limits, (name, remote), shutdown).await
                    }
                    Ok(Some(Secured::Phone(Handshaken::Rustls(stream)))) => {
                        serve_connection(stream, router, pass, limits, (name, remote), shutdown).await
                    }
                    #[cfg(feature = "legacy-tls")]
                    Ok(Some(Secured::Phone(Handshaken::OpenSsl(stream)))) => {
                        serve_connection(stream, router, pass, limits, (name, remote), shutdown).await
                    }
                    Ok(None) => {}
                    Err(_) => {
                        if let HttpTls::Phone(port) = &tls {
                            port.handshake_timed_out();
                        }
                        tracing::debug!(listener = name, %remote, "TLS handshake timed out")
                    }
                }
            };
            tokio::select! {
                _ = served => {}
                _ = evicted.cancelled() => {
                    tracing::debug!(listener = name, %remote, "silent connection closed to make room");
                }
            }
        });
    }
}

/// A connection after its handshake, if it has one.
enum Secured {
    Plain(tokio::net::TcpStream),
    Rustls(Box<tokio_rustls::server::TlsStream<tokio::net::TcpStream>>),
    Phone(Handshaken),
}

async fn serve_connection<IO: AsyncRead + AsyncWrite + Unpin + Send + 'static>(
    stream: IO,
    router: Router,
    pass: Arc<GatePass>,
    limits: HttpLimits,
    (name, remote): (&'static str, SocketAddr),
    shutdown: CancellationToken,
) {
    let header_timeout = pass.deadline;
    let service = service_fn(move |mut request: Request<Incoming>| {
        let (router, pass) = (router.clone(), pass.clone());
        // Handlers see where the request came from (the audit log records it).
        request.extensions_mut().insert(crate::admin::RemoteAddr(remote));
        async move {
            pass.busy();
            let answer =
                tokio::time::timeout(limits.request_timeout, router.oneshot(request.map(Body::new))).await;
            pass.idle(Instant::now());
            Ok::<_, std::convert::Infallible>(match answer {
                Ok(Ok(response)) => response,
                Ok(Err(never)) => match never {},
                Err(_) => timed_out(),
            })
        }
    });
    if let Err(error) = drive_http1(stream, service, header_timeout, &shutdown).await {
        tracing::debug!(listener = name, %error, "connection ended with an error");
    }
}

/// Serves HTTP/1.1 on one connection (keep-alive, `header_timeout` for each request's headers)
/// until it ends, or finishes its requests in progress (5 s at most) once `shutdown` is cancelled.
pub(crate) async fn drive_http1<IO, S>(
    stream: IO,
    service: S,
    header_timeout: Duration,
    shutdown: &CancellationToken,
) -> Result<(), hyper::Error>
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    S: hyper::service::HttpService<Incoming>,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    S::ResBody: 'static,
    <S::ResBody as hyper::body::Body>::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let connection = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .keep_alive(true)
        .serve_connection(TokioIo::new(stream), service);
    tokio::pin!(connection);
    tokio::select! {
        result = connection.as_mut() => result,
        _ = shutdown.cancelled() => {
            connection.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(Duration::from_secs(5), connection).await;
            Ok(())
        }
    }
}

fn timed_out() -> Response<Body> {
    let mut response = Response::new(Body::from("request took too long\n"));
    *response.status_mut() = StatusCode::REQUEST_TIMEOUT;
    response
}
