//! The phone side of HTTPS: phones do not authenticate the service in Default Mode (guide
//! p. 12), POST `text/xml` to `/DeploymentService/LoginService` and, like a 2023 CP210, send
//! `Connection: close`, so every request is a new TLS connection (docs/wpi-protocol.md §2.2).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

/// The path real phones POST to (docs/wpi-protocol.md §2.1).
pub const WPI_PATH: &str = "/DeploymentService/LoginService";

/// A transport failure, as a phone would see it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// TCP connect failed.
    #[error("connect: {0}")]
    Connect(std::io::Error),
    /// The TLS handshake failed.
    #[error("TLS handshake: {0}")]
    Tls(std::io::Error),
    /// Reading or writing failed.
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
    /// The answer is not HTTP.
    #[error("malformed HTTP answer: {0}")]
    Http(String),
    /// No answer in time.
    #[error("timed out")]
    Timeout,
}

/// An HTTP answer.
#[derive(Debug, Clone)]
pub struct HttpReply {
    /// Status code.
    pub status: u16,
    /// Headers in order, names as sent.
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: Vec<u8>,
}

impl HttpReply {
    /// The first header with this name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The session cookie a `Set-Cookie` header carries, as `name=value`.
    pub fn cookie(&self) -> Option<String> {
        self.header("set-cookie").and_then(|c| c.split(';').next()).map(|c| c.trim().to_owned())
    }
}

/// Accepts any server certificate, as phones in Default Mode do (guide p. 12), offering these
/// signature schemes.
#[derive(Debug)]
struct AnyCertificate(Vec<SignatureScheme>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }
    fn verify_tls13_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.clone()
    }
}

/// Any byte stream a phone talks HTTP over.
pub trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// Which TLS a phone speaks.
#[derive(Clone)]
pub enum PhoneTls {
    /// TLS 1.2/1.3 (rustls), accepting any server certificate (Default Mode, guide p. 12).
    Modern(Arc<rustls::ClientConfig>),
    /// TLS 1.0/1.1 only, RSA key exchange and CBC suites, through OpenSSL: what phones of old
    /// firmware are believed to offer (docs/wpi-protocol.md §2.7).
    Legacy(Arc<openssl::ssl::SslConnector>),
}

impl PhoneTls {
    /// Default Mode with a modern TLS stack.
    pub fn modern() -> PhoneTls {
        PhoneTls::Modern(default_mode_client())
    }

    /// Default Mode with only legacy TLS on offer.
    pub fn legacy() -> PhoneTls {
        use openssl::ssl::{SslConnector, SslMethod, SslVerifyMode, SslVersion};
        let mut builder = SslConnector::builder(SslMethod::tls_client()).expect("OpenSSL is usable");
        builder.set_min_proto_version(Some(SslVersion::TLS1)).expect("TLS 1.0 can be enabled");
        builder.set_max_proto_version(Some(SslVersion::TLS1_1)).expect("TLS 1.1 can be enabled");
        // Static RSA key exchange with CBC: nothing rustls offers. SECLEVEL=0 lets OpenSSL 3 use
        // these old protocols at all.
        builder.set_cipher_list("AES128-SHA:AES256-SHA:@SECLEVEL=0").expect("the legacy suites exist");
        builder.set_verify(SslVerifyMode::NONE);
        PhoneTls::Legacy(Arc::new(builder.build()))
    }
}

/// The TLS client of a phone in Secure Mode that offers only legacy TLS (TLS 1.0/1.1, RSA key
/// exchange, CBC): its bootstrap certificate and key through OpenSSL, checking the service
/// against the CA certificates it received.
pub fn legacy_secure_mode_client(order: &crate::phone::SecureModeOrder) -> Result<PhoneTls, String> {
    use openssl::ssl::{SslConnector, SslMethod, SslVerifyMode, SslVersion};
    let parsed = openssl::pkcs12::Pkcs12::from_der(&order.client_bundle)
        .and_then(|bundle| bundle.parse2(&order.bundle_password))
        .map_err(|e| format!("client bundle: {e}"))?;
    let (cert, key) = parsed.cert.zip(parsed.pkey).ok_or("the client bundle has no certificate and key")?;
    let fail = |e: openssl::error::ErrorStack| e.to_string();
    let mut builder = SslConnector::builder(SslMethod::tls_client()).map_err(fail)?;
    builder.set_min_proto_version(Some(SslVersion::TLS1)).map_err(fail)?;
    builder.set_max_proto_version(Some(SslVersion::TLS1_1)).map_err(fail)?;
    builder.set_cipher_list("AES128-SHA:AES256-SHA:@SECLEVEL=0").map_err(fail)?;
    builder.set_certificate(&cert).map_err(fail)?;
    builder.set_private_key(&key).map_err(fail)?;
    for pem in &order.server_cas {
        let ca = openssl::x509::X509::from_pem(pem.as_bytes()).map_err(fail)?;
        builder.cert_store_mut().add_cert(ca).map_err(fail)?;
    }
    builder.set_verify(SslVerifyMode::PEER);
    Ok(PhoneTls::Legacy(Arc::new(builder.build())))
}

/// The TLS client of a phone in Secure Mode (guide p. 62-65): it presents the certificate and key
/// from its bootstrap bundle and accepts only a service certificate that chains to the CA
/// certificates it received.
pub fn secure_mode_client(
    order: &crate::phone::SecureModeOrder,
) -> Result<Arc<rustls::ClientConfig>, String> {
    use rustls::pki_types::PrivateKeyDer;
    use rustls::pki_types::pem::PemObject;
    let parsed = openssl::pkcs12::Pkcs12::from_der(&order.client_bundle)
        .and_then(|bundle| bundle.parse2(&order.bundle_password))
        .map_err(|e| format!("client bundle: {e}"))?;
    let (cert, key) = parsed.cert.zip(parsed.pkey).ok_or("the client bundle has no certificate and key")?;
    let mut chain = vec![CertificateDer::from(cert.to_der().map_err(|e| e.to_string())?)];
    for extra in parsed.ca.into_iter().flatten() {
        chain.push(CertificateDer::from(extra.to_der().map_err(|e| e.to_string())?));
    }
    let key = PrivateKeyDer::try_from(key.private_key_to_pkcs8().map_err(|e| e.to_string())?)?;
    let mut roots = rustls::RootCertStore::empty();
    for pem in &order.server_cas {
        let ca = CertificateDer::from_pem_slice(pem.as_bytes()).map_err(|e| format!("server CA: {e}"))?;
        roots.add(ca).map_err(|e| format!("server CA: {e}"))?;
    }
    let provider = Arc::new(phone_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .map_err(|e| e.to_string())?;
    config.resumption = rustls::client::Resumption::disabled();
    Ok(Arc::new(config))
}

/// Opens a TLS connection to the service with the phone's TLS stack.
pub async fn connect_phone(addr: SocketAddr, tls: &PhoneTls) -> Result<Box<dyn Stream>, TransportError> {
    match tls {
        PhoneTls::Modern(config) => Ok(Box::new(connect(addr, config.clone()).await?)),
        PhoneTls::Legacy(connector) => {
            let tcp = TcpStream::connect(addr).await.map_err(TransportError::Connect)?;
            let _ = tcp.set_nodelay(true);
            let ssl = connector
                .configure()
                .and_then(|c| c.verify_hostname(false).use_server_name_indication(false).into_ssl("dls"))
                .map_err(|e| TransportError::Tls(std::io::Error::other(e)))?;
            let mut stream = tokio_openssl::SslStream::new(ssl, tcp)
                .map_err(|e| TransportError::Tls(std::io::Error::other(e)))?;
            std::pin::Pin::new(&mut stream)
                .connect()
                .await
                .map_err(|e| TransportError::Tls(std::io::Error::other(e)))?;
            Ok(Box::new(stream))
        }
    }
}

/// The cryptography a simulated phone offers: rustls's, with the classical key exchanges only
/// (X25519, P-256, P-384). rustls also offers the post-quantum hybrid X25519MLKEM768 first, and
/// a server that has it takes it; phone firmware predates ML-KEM (standardised in 2024), and with
/// it every simulated handshake cost the service an ML-KEM encapsulation and a 1 kB larger key
/// share (3.9% of the server's CPU in a storm's profile, BENCHMARKS.md).
pub fn phone_provider() -> rustls::crypto::CryptoProvider {
    use rustls::crypto::aws_lc_rs::kx_group;
    rustls::crypto::CryptoProvider {
        kx_groups: vec![kx_group::X25519, kx_group::SECP256R1, kx_group::SECP384R1],
        ..rustls::crypto::aws_lc_rs::default_provider()
    }
}

/// A TLS client configuration as phones in Default Mode use it.
///
/// Session resumption is off: whether phones resume TLS sessions is not known (docs/rust-stack.md §5),
/// so every connection makes a full handshake, the costly case the service must survive. It also
/// keeps simulated phones from sharing one session cache, which real phones cannot.
pub fn default_mode_client() -> Arc<rustls::ClientConfig> {
    let provider = phone_provider();
    let schemes = provider.signature_verification_algorithms.supported_schemes();
    default_mode_client_offering(provider, rustls::DEFAULT_VERSIONS, schemes)
}

/// As [`default_mode_client`], offering only what is given: the provider's suites, these
/// protocol versions and these signature schemes (a phone whose TLS stack knows less).
pub fn default_mode_client_offering(
    provider: rustls::crypto::CryptoProvider,
    versions: &[&'static rustls::SupportedProtocolVersion],
    schemes: Vec<SignatureScheme>,
) -> Arc<rustls::ClientConfig> {
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(provider))
        .with_protocol_versions(versions)
        .expect("the provider supports the versions asked for")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyCertificate(schemes)))
        .with_no_client_auth();
    config.resumption = rustls::client::Resumption::disabled();
    Arc::new(config)
}

/// The TLS client of a phone that resumes its sessions: as [`default_mode_client`], with a
/// session cache of its own (one per phone: real phones share none), so that after its first
/// connection it offers the session it got (TLS 1.3 ticket or TLS 1.2 session ID).
pub fn resuming_client() -> Arc<rustls::ClientConfig> {
    let mut config = (*default_mode_client()).clone();
    config.resumption = rustls::client::Resumption::in_memory_sessions(4);
    Arc::new(config)
}

/// Opens a TLS connection to the service.
pub async fn connect(
    addr: SocketAddr,
    tls: Arc<rustls::ClientConfig>,
) -> Result<tokio_rustls::client::TlsStream<TcpStream>, TransportError> {
    let tcp = TcpStream::connect(addr).await.map_err(TransportError::Connect)?;
    let _ = tcp.set_nodelay(true);
    let name = ServerName::IpAddress(addr.ip().into());
    tokio_rustls::TlsConnector::from(tls).connect(name, tcp).await.map_err(TransportError::Tls)
}

/// POSTs a WPI message on a new connection with `Connection: close`, as phones do.
pub async fn post_wpi(
    addr: SocketAddr,
    tls: &PhoneTls,
    body: &[u8],
    cookie: Option<&str>,
    timeout: Duration,
) -> Result<HttpReply, TransportError> {
    let exchange = async {
        let stream = connect_phone(addr, tls).await?;
        let mut headers = vec!["Content-Type: text/xml".to_owned()];
        if let Some(cookie) = cookie {
            headers.push(format!("Cookie: {cookie}"));
        }
        request(stream, "POST", WPI_PATH, &headers, body).await
    };
    tokio::time::timeout(timeout, exchange).await.map_err(|_| TransportError::Timeout)?
}

/// Sends one request with `Connection: close` and reads the answer to the end.
pub async fn request<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    method: &str,
    path: &str,
    headers: &[String],
    body: &[u8],
) -> Result<HttpReply, TransportError> {
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: dls\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for header in headers {
        head.push_str(header);
        head.push_str("\r\n");
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body).await?;
    stream.flush().await?;
    let mut raw = Vec::new();
    match stream.read_to_end(&mut raw).await {
        Ok(_) => {}
        // Some servers close TLS without close_notify after `Connection: close`; the body is
        // complete when Content-Length says so.
        Err(error) if error.kind() == std::io::ErrorKind::UnexpectedEof && !raw.is_empty() => {}
        Err(error) => return Err(error.into()),
    }
    parse_reply(&raw)
}

/// Parses a complete HTTP/1.1 answer (headers and a body delimited by the connection's end).
pub fn parse_reply(raw: &[u8]) -> Result<HttpReply, TransportError> {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| TransportError::Http(format!("no end of headers in {} bytes", raw.len())))?;
    let head = String::from_utf8_lossy(&raw[..split]);
    let mut lines = head.lines();
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| TransportError::Http(format!("bad status line {status_line:?}")))?;
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_owned(), value.trim().to_owned()))
        .collect();
    Ok(HttpReply { status, headers, body: raw[split + 4..].to_vec() })
}

/// A TLS connection kept open across the requests of an interaction, as older firmware did
/// (docs/wpi-protocol.md §2.3: keep-alive was required by phones of that era).
pub struct KeepAlive {
    stream: Box<dyn Stream>,
    buffer: Vec<u8>,
}

impl KeepAlive {
    /// Opens the connection.
    pub async fn open(addr: SocketAddr, tls: &PhoneTls) -> Result<KeepAlive, TransportError> {
        Ok(KeepAlive { stream: connect_phone(addr, tls).await?, buffer: Vec::new() })
    }

    /// POSTs one WPI message and reads exactly one answer, leaving the connection open.
    pub async fn post_wpi(
        &mut self,
        body: &[u8],
        cookie: Option<&str>,
        timeout: Duration,
    ) -> Result<HttpReply, TransportError> {
        tokio::time::timeout(timeout, self.exchange(body, cookie))
            .await
            .map_err(|_| TransportError::Timeout)?
    }

    async fn exchange(&mut self, body: &[u8], cookie: Option<&str>) -> Result<HttpReply, TransportError> {
        let mut head = format!(
            "POST {WPI_PATH} HTTP/1.1\r\nHost: dls\r\nContent-Type: text/xml\r\nContent-Length: {}\r\n",
            body.len()
        );
        if let Some(cookie) = cookie {
            head.push_str(&format!("Cookie: {cookie}\r\n"));
        }
        head.push_str("\r\n");
        self.stream.write_all(head.as_bytes()).await?;
        self.stream.write_all(body).await?;
        self.stream.flush().await?;
        let mut chunk = [0u8; 16 * 1024];
        loop {
            if let Some(end) = self.buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = parse_reply(&self.buffer[..end + 4])?;
                let length: usize = head
                    .header("content-length")
                    .and_then(|l| l.parse().ok())
                    .ok_or_else(|| TransportError::Http("keep-alive answer without Content-Length".into()))?;
                if self.buffer.len() >= end + 4 + length {
                    let rest = self.buffer.split_off(end + 4 + length);
                    let reply = parse_reply(&self.buffer)?;
                    self.buffer = rest;
                    return Ok(reply);
                }
            }
            let n = self.stream.read(&mut chunk).await?;
            if n == 0 {
                return Err(TransportError::Http("connection closed before the answer was complete".into()));
            }
            self.buffer.extend_from_slice(&chunk[..n]);
        }
    }
}

/// Splits `scheme://host:port/path` into an address and a path (IP literals only: the
/// simulator resolves nothing, so it cannot be steered to a name it was not given).
pub fn split_url(url: &str, default_port: u16) -> Result<(SocketAddr, String), TransportError> {
    let rest = url.split_once("://").map(|(_, rest)| rest).unwrap_or(url);
    let (authority, path) = match rest.find('/') {
        Some(at) => (&rest[..at], rest[at..].to_owned()),
        None => (rest, "/".to_owned()),
    };
    let with_port = if authority.ends_with(']') || !authority.contains(':') {
        format!("{authority}:{default_port}")
    } else {
        authority.to_owned()
    };
    let addr = with_port
        .parse()
        .map_err(|_| TransportError::Http(format!("not an IP address and port: {with_port}")))?;
    Ok((addr, path))
}

/// Downloads a file over HTTPS as a phone does for file and firmware deployment (p. 53, 57).
pub async fn https_get(url: &str, tls: &PhoneTls, timeout: Duration) -> Result<HttpReply, TransportError> {
    let (addr, path) = split_url(url, 443)?;
    let fetch = async {
        let stream = connect_phone(addr, tls).await?;
        request(stream, "GET", &path, &[], b"").await
    };
    tokio::time::timeout(timeout, fetch).await.map_err(|_| TransportError::Timeout)?
}

/// A plain-HTTP request (contact-me is plain HTTP, p. 14; so is DCMP polling, p. 15).
pub async fn http_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[String],
    body: &[u8],
    timeout: Duration,
) -> Result<HttpReply, TransportError> {
    let exchange = async {
        let stream = TcpStream::connect(addr).await.map_err(TransportError::Connect)?;
        request(stream, method, path, headers, body).await
    };
    tokio::time::timeout(timeout, exchange).await.map_err(|_| TransportError::Timeout)?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_split() {
        let (addr, path) = split_url("https://127.0.0.1:8443/media/ring.wav", 443).unwrap();
        assert_eq!((addr.port(), path.as_str()), (8443, "/media/ring.wav"));
        assert_eq!(split_url("http://[::1]/dcmp", 80).unwrap().0.port(), 80);
        assert!(split_url("https://files.example/x", 443).is_err(), "names are not resolved");
    }
}
