//! The phone listeners' own accept loop: TLS handshakes run in their own tasks under a deadline
//! (a slow client never blocks `accept`), connections are capped, HTTP is 1.1 only with header,
//! idle and body timeouts, and both keep-alive and one-request-per-connection work.
//!
//! One port, two TLS stacks (docs/rust-stack.md §1.4): each connection's ClientHello is read without
//! consuming it; what rustls can serve goes to rustls, what only offers TLS 1.0/1.1, RSA key
//! exchange or CBC goes to OpenSSL when legacy TLS is on (feature `legacy-tls` and
//! `secure_mode.legacy_tls`), otherwise it is refused with a log line saying why.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::service::service_fn;
use opendls_store::PhoneStore;
use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use crate::client_hello::{HelloError, parse_client_hello};
use crate::gate::{ConnectionGate, GateLimits, GatePass};
use crate::phone::PhoneEndpoint;
use crate::proxy_protocol::TrustedProxies;

/// What the endpoint knows about the connection a request came on.
#[derive(Debug, Clone)]
pub struct ConnectionInfo {
    /// The client's address.
    pub remote: SocketAddr,
    /// Whether this is the secure port (mutual TLS, guide p. 62-65).
    pub secure: bool,
    /// The client certificate (DER) the handshake verified against our CA, on the secure port.
    pub client_certificate: Option<Vec<u8>>,
    /// What the client's TLS offered (versions, suites), when its ClientHello could be read;
    /// ends in `; ECDSA certificate` when it was served the ECDSA one.
    pub tls_offer: Option<String>,
}

impl ConnectionInfo {
    /// A Default-port connection with nothing else known (tests, benchmarks).
    pub fn default_port(remote: SocketAddr) -> ConnectionInfo {
        ConnectionInfo { remote, secure: false, client_certificate: None, tls_offer: None }
    }
}

fn certificates(
    identity: &opendls_pki::ServerIdentity,
) -> Result<Vec<CertificateDer<'static>>, rustls::Error> {
    CertificateDer::pem_slice_iter(identity.cert_pem.as_bytes())
        .collect::<Result<_, _>>()
        .map_err(|e| rustls::Error::General(format!("server certificate: {e}")))
}

fn private_key(identity: &opendls_pki::ServerIdentity) -> Result<PrivateKeyDer<'static>, rustls::Error> {
    PrivateKeyDer::from_pem_slice(identity.key_pem.as_bytes())
        .map_err(|e| rustls::Error::General(format!("server key: {e}")))
}

/// Session resumption on a phone port: how many sessions are kept, how many TLS 1.3 tickets a
/// full handshake sends (`limits.tls_session_cache`, `limits.tls13_tickets`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TlsSessions {
    /// Sessions kept; 0: no resumption.
    pub cache: usize,
    /// TLS 1.3 tickets per full handshake.
    pub tls13_tickets: usize,
}

impl TlsSessions {
    /// The configured settings.
    pub fn of(limits: &crate::config::Limits) -> TlsSessions {
        TlsSessions { cache: limits.tls_session_cache, tls13_tickets: limits.tls13_tickets }
    }

    fn apply(&self, config: &mut ServerConfig) {
        // rustls keeps 256 by default: under a storm a phone's session is gone before its next
        // connection. Stateful: a ticket is a key into this cache, so a resumed session is never
        // decrypted from what a client sends.
        config.session_storage = match self.cache {
            0 => Arc::new(rustls::server::NoServerSessionStorage {}),
            size => rustls::server::ServerSessionMemoryCache::new(size),
        };
        config.send_tls13_tickets = if self.cache == 0 { 0 } else { self.tls13_tickets };
    }
}

/// Builds the TLS configuration of the Default-Mode port: no client authentication (phones in
/// Default Mode accept any server certificate and present none, guide p. 12), HTTP/1.1 only.
pub fn default_mode_tls(
    identity: &opendls_pki::ServerIdentity,
    sessions: TlsSessions,
) -> Result<Arc<ServerConfig>, rustls::Error> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certificates(identity)?, private_key(identity)?)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    sessions.apply(&mut config);
    Ok(Arc::new(config))
}

/// Builds the TLS configuration of the secure port: a client certificate chained to our CA is
/// required (guide p. 62-65). Revocation is checked per request against the store, so it takes
/// effect at once without rebuilding this configuration.
pub fn secure_mode_tls(
    identity: &opendls_pki::ServerIdentity,
    ca_der: &[u8],
    sessions: TlsSessions,
) -> Result<Arc<ServerConfig>, rustls::Error> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots.add(CertificateDer::from(ca_der.to_vec()))?;
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| rustls::Error::General(format!("client verifier: {e}")))?;
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_client_cert_verifier(verifier)
        .with_single_cert(certificates(identity)?, private_key(identity)?)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    // A resumed session carries the client certificate it was made with; revocation is still
    // checked per request against the store (`request_context`).
    sessions.apply(&mut config);
    Ok(Arc::new(config))
}

/// The rustls configuration presenting the ECDSA certificate `identity`, with everything else
/// (session cache, tickets, ALPN, client authentication) as in `rsa`, so that a session made
/// with either certificate resumes with either.
pub fn ecdsa_beside(
    rsa: &ServerConfig,
    identity: &opendls_pki::ServerIdentity,
) -> Result<Arc<ServerConfig>, rustls::Error> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let key = provider.key_provider.load_private_key(private_key(identity)?)?;
    let certified = rustls::sign::CertifiedKey::new(certificates(identity)?, key);
    let mut config = rsa.clone();
    config.cert_resolver = Arc::new(rustls::sign::SingleCertAndKey::from(certified));
    Ok(Arc::new(config))
}

/// Whether a client is served the ECDSA certificate: it accepts ECDSA P-256 signatures and
/// either speaks TLS 1.3 (whose suites do not name the key) or offers a TLS 1.2 ECDSA suite.
/// Every other client gets the RSA certificate, as before there was an ECDSA one.
pub fn takes_ecdsa(hello: &rustls::server::ClientHello<'_>) -> bool {
    use rustls::CipherSuite as S;
    let accepts = hello.signature_schemes().contains(&rustls::SignatureScheme::ECDSA_NISTP256_SHA256);
    let suites = [
        S::TLS13_AES_128_GCM_SHA256,
        S::TLS13_AES_256_GCM_SHA384,
        S::TLS13_CHACHA20_POLY1305_SHA256,
        S::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        S::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
        S::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    ];
    accepts && hello.cipher_suites().iter().any(|suite| suites.contains(suite))
}

/// The TLS stacks of one port.
#[derive(Clone)]
pub struct PortTls {
    /// rustls, for every client it can serve.
    pub rustls: Arc<ServerConfig>,
    /// rustls with the ECDSA certificate, for clients that take it ([`takes_ecdsa`]), when on.
    pub ecdsa: Option<Arc<ServerConfig>>,
    /// OpenSSL for legacy clients, when legacy TLS is on.
    pub legacy: Option<crate::legacy_tls::LegacyAcceptor>,
    /// Whether this is the secure port.
    pub secure: bool,
    /// The port's name in metrics and logs (`default`, `secure`, `files`).
    pub port: &'static str,
    /// Where handshakes are counted.
    pub metrics: Arc<crate::metrics::Metrics>,
}

impl PortTls {
    /// Counts a handshake that ran out of time.
    pub(crate) fn handshake_timed_out(&self) {
        self.metrics.handshake_failed(self.port, false, crate::metrics::HandshakeFailure::Timeout);
    }
}

/// Timeouts and caps of the phone listener.
#[derive(Debug, Clone, Copy)]
pub struct ListenerLimits {
    /// Connection caps and the handshake deadline, shortened under pressure ([`crate::gate`]).
    pub gate: GateLimits,
    /// Idle time a kept-alive connection may wait for its next request, shortened under pressure.
    pub idle_timeout: Duration,
}

/// Accepts phone connections until `shutdown` is cancelled.
pub async fn serve_phones<S: PhoneStore>(
    listener: TcpListener,
    tls: PortTls,
    endpoint: Arc<PhoneEndpoint<S>>,
    limits: ListenerLimits,
    proxies: Arc<TrustedProxies>,
    shutdown: CancellationToken,
) {
    let acceptor = TlsAcceptor::from(tls.rustls.clone());
    let recent_delay = endpoint.recent_delay();
    let gate = ConnectionGate::watching(limits.gate, recent_delay.clone());
    let port = tls.port;
    while let Some((mut stream, peer, pass)) =
        accept_through(&listener, &gate, port, &proxies, &shutdown).await
    {
        let _ = stream.set_nodelay(true);
        let (acceptor, tls, endpoint, shutdown) =
            (acceptor.clone(), tls.clone(), endpoint.clone(), shutdown.clone());
        // A handshake takes the server a few turns of its threads (hello in, flight out,
        // finished in): when they run late, that time is the server's, not the client's.
        let our_time = recent_delay.get() * crate::scheduling_delay::TURNS_PER_EXCHANGE;
        let proxied = proxies.trusts(peer.ip());
        tokio::spawn(async move {
            pass.idle(Instant::now());
            let evicted = pass.evicted.clone();
            let served = async move {
                let deadline = Instant::now() + pass.deadline + our_time;
                let pass = Arc::new(pass);
                let accepted = tokio::time::timeout_at(deadline.into(), async {
                    // Behind a load balancer the phone's address comes from the PROXY header.
                    let remote = match proxied {
                        false => peer,
                        true => match crate::proxy_protocol::read_header(&mut stream, peer).await {
                            Ok(remote) => remote,
                            // A health check connects and closes without a word: not worth a warning.
                            Err(crate::proxy_protocol::HeaderError::Closed) => return None,
                            Err(why) => {
                                tracing::warn!(%peer, %why, "closed a connection from a trusted proxy without a valid PROXY header");
                                return None;
                            }
                        },
                    };
                    handshake(stream, remote, &acceptor, &tls, &pass).await
                })
                .await;
                pass.idle(Instant::now());
                match accepted {
                    Ok(Some((Handshaken::Rustls(stream), info))) => {
                        serve_connection(stream, info, endpoint, limits, pass, shutdown).await
                    }
                    #[cfg(feature = "legacy-tls")]
                    Ok(Some((Handshaken::OpenSsl(stream), info))) => {
                        serve_connection(stream, info, endpoint, limits, pass, shutdown).await
                    }
                    Ok(None) => {}
                    Err(_) => {
                        tls.handshake_timed_out();
                        tracing::debug!(%peer, "TLS handshake timed out")
                    }
                }
            };
            tokio::select! {
                _ = served => {}
                _ = evicted.cancelled() => {
                    tracing::debug!(%peer, "silent connection closed to make room for a new one");
                }
            }
        });
    }
}

/// Accepts the next connection the gate admits; `None` once `shutdown` is cancelled. Waits for
/// room first, so that while every connection is busy, clients wait in the kernel's backlog.
pub async fn accept_through(
    listener: &TcpListener,
    gate: &Arc<ConnectionGate>,
    listener_name: &str,
    proxies: &TrustedProxies,
    shutdown: &CancellationToken,
) -> Option<(TcpStream, SocketAddr, GatePass)> {
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return None,
            _ = gate.room() => {}
        }
        let (stream, remote) = tokio::select! {
            _ = shutdown.cancelled() => return None,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(listener = listener_name, %error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let admitted = match proxies.trusts(remote.ip()) {
            true => gate.admit_proxy(remote.ip(), Instant::now()),
            false => gate.admit(remote.ip(), Instant::now()),
        };
        match admitted {
            Ok(pass) => return Some((stream, remote, pass)),
            Err(refusal) => {
                tracing::debug!(listener = listener_name, %remote, ?refusal, "connection refused");
            }
        }
    }
}

/// A connection after its handshake, on either stack.
pub(crate) enum Handshaken {
    Rustls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
    #[cfg(feature = "legacy-tls")]
    OpenSsl(Box<tokio_openssl::SslStream<TcpStream>>),
}

/// Reads the ClientHello, chooses the stack, runs the handshake.
pub(crate) async fn handshake(
    stream: TcpStream,
    remote: SocketAddr,
    acceptor: &TlsAcceptor,
    tls: &PortTls,
    pass: &GatePass,
) -> Option<(Handshaken, ConnectionInfo)> {
    let hello = peek_client_hello(&stream).await;
    // The client has said what it has to say; the handshake now waits mostly on us.
    pass.busy();
    let with_ecdsa = tls.ecdsa.is_some();
    let tls_offer = hello.as_ref().map(|h| h.summary(with_ecdsa));
    let legacy_client = hello.as_ref().is_some_and(|h| !h.rustls_can_serve(with_ecdsa));
    let mut info = ConnectionInfo { remote, secure: tls.secure, client_certificate: None, tls_offer };
    let metrics = &tls.metrics;
    if legacy_client {
        match &tls.legacy {
            #[cfg(feature = "legacy-tls")]
            Some(legacy) => {
                let Some((stream, certificate)) = legacy.accept(stream, remote).await else {
                    metrics.handshake_failed(tls.port, true, crate::metrics::HandshakeFailure::Error);
                    return None;
                };
                metrics.handshake(
                    tls.port,
                    true,
                    stream.ssl().version_str(),
                    stream.ssl().session_reused(),
                    false,
                );
                info.client_certificate = certificate;
                return Some((Handshaken::OpenSsl(stream), info));
            }
            // Without the feature no legacy acceptor can be made (`LegacyAcceptor::new` fails).
            #[cfg(not(feature = "legacy-tls"))]
            Some(_) => {}
            None => {
                metrics.handshake_failed(tls.port, true, crate::metrics::HandshakeFailure::LegacyRefused);
                tracing::warn!(
                    %remote,
                    offer = info.tls_offer.as_deref().unwrap_or("-"),
                    "refused a legacy TLS client: it offers only TLS versions or cipher suites rustls does not \
                     serve; turn on secure_mode.legacy_tls (OPENDLS_LEGACY_TLS=on) in a build with the \
                     legacy-tls feature to serve it"
                );
            }
        }
    }
    let accepted = match &tls.ecdsa {
        None => acceptor.accept(stream).await.map(|stream| (stream, false)),
        Some(ecdsa) => match tokio_rustls::LazyConfigAcceptor::new(Default::default(), stream).await {
            Ok(start) => {
                let with_ecdsa = takes_ecdsa(&start.client_hello());
                let config = if with_ecdsa { ecdsa.clone() } else { tls.rustls.clone() };
                start.into_stream(config).await.map(|stream| (stream, with_ecdsa))
            }
            Err(error) => Err(error),
        },
    };
    match accepted {
        Ok((stream, with_ecdsa)) => {
            let (_, session) = stream.get_ref();
            let version = session.protocol_version().and_then(|v| v.as_str()).unwrap_or("other");
            let resumed = session.handshake_kind() == Some(rustls::HandshakeKind::Resumed);
            metrics.handshake(tls.port, false, version, resumed, with_ecdsa);
            if with_ecdsa {
                info.tls_offer = info.tls_offer.map(|offer| format!("{offer}; ECDSA certificate"));
            }
            info.client_certificate =
                session.peer_certificates().and_then(|chain| chain.first()).map(|c| c.as_ref().to_vec());
            Some((Handshaken::Rustls(Box::new(stream)), info))
        }
        Err(error) => {
            metrics.handshake_failed(tls.port, false, crate::metrics::HandshakeFailure::Error);
            tracing::debug!(%remote, %error, secure = tls.secure, "TLS handshake failed");
            None
        }
    }
}

/// Peeks at the first record until the ClientHello in it can be read (or it is clearly not one).
async fn peek_client_hello(stream: &TcpStream) -> Option<crate::client_hello::ClientHello> {
    let mut buffer = vec![0u8; 16 * 1024 + 5];
    for _ in 0..200 {
        let n = stream.peek(&mut buffer).await.ok()?;
        if n == 0 {
            return None;
        }
        match parse_client_hello(&buffer[..n]) {
            Ok(hello) => return Some(hello),
            Err(HelloError::NotTls) => return None,
            Err(HelloError::Incomplete) if n == buffer.len() => return None,
            // The rest of the record is on its way; the caller's deadline bounds the wait.
            Err(HelloError::Incomplete) => tokio::time::sleep(Duration::from_millis(5)).await,
        }
    }
    None
}

async fn serve_connection<S: PhoneStore, IO: AsyncRead + AsyncWrite + Unpin + Send + 'static>(
    stream: IO,
    info: ConnectionInfo,
    endpoint: Arc<PhoneEndpoint<S>>,
    limits: ListenerLimits,
    pass: Arc<GatePass>,
    shutdown: CancellationToken,
) {
    let remote = info.remote;
    let info = Arc::new(info);
    let header_timeout = pass.scaled(limits.idle_timeout);
    let service = service_fn(move |request| {
        let (endpoint, info, pass) = (endpoint.clone(), info.clone(), pass.clone());
        async move {
            // Evictable while the body trickles in; not once the whole request is here, and
            // not before the answer is on its way (under load, writing it may wait a while).
            let response = endpoint.serve_with(request, &info, || pass.busy()).await;
            Ok::<_, std::convert::Infallible>(response.map(|body| IdleOnceSent { body, pass }))
        }
    });
    if let Err(error) = crate::http_listener::drive_http1(stream, service, header_timeout, &shutdown).await {
        tracing::debug!(%remote, %error, "phone connection ended with an error");
    }
}

/// An answer's body that marks its connection silent once the connection has taken all of it.
struct IdleOnceSent {
    body: Full<Bytes>,
    pass: Arc<GatePass>,
}

impl hyper::body::Body for IdleOnceSent {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        context: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, Self::Error>>> {
        std::pin::Pin::new(&mut self.body).poll_frame(context)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    // Exact, so that the answer carries a Content-Length (guide p. 12).
    fn size_hint(&self) -> hyper::body::SizeHint {
        self.body.size_hint()
    }
}

impl Drop for IdleOnceSent {
    fn drop(&mut self) {
        self.pass.idle(Instant::now());
    }
}
