//! The OpenSSL path for phones whose TLS client offers only what rustls refuses: TLS 1.0/1.1,
//! RSA key exchange, CBC suites (docs/rust-stack.md §1.4). Built with the `legacy-tls` feature (on by
//! default); without it [`LegacyAcceptor::new`] reports that it is missing.

use std::net::SocketAddr;
#[cfg(feature = "legacy-tls")]
use std::sync::Arc;

use tokio::net::TcpStream;

/// An OpenSSL acceptor for one port.
#[derive(Clone)]
pub struct LegacyAcceptor {
    #[cfg(feature = "legacy-tls")]
    acceptor: Arc<openssl::ssl::SslAcceptor>,
}

/// The connection after a legacy handshake.
#[cfg(feature = "legacy-tls")]
pub type LegacyStream = Box<tokio_openssl::SslStream<TcpStream>>;
/// The connection after a legacy handshake (never made without the `legacy-tls` feature).
#[cfg(not(feature = "legacy-tls"))]
pub type LegacyStream = std::convert::Infallible;

impl LegacyAcceptor {
    /// An acceptor presenting `identity`; with `client_ca`, a client certificate chained to it is
    /// required (the secure port). `sessions` are kept for resumption (0: none).
    #[cfg(feature = "legacy-tls")]
    pub fn new(
        identity: &opendls_pki::ServerIdentity,
        client_ca: Option<&[u8]>,
        sessions: usize,
    ) -> Result<LegacyAcceptor, String> {
        use openssl::ssl::{SslAcceptor, SslMethod, SslOptions, SslVerifyMode, SslVersion};
        use openssl::x509::X509;
        let fail = |e: openssl::error::ErrorStack| e.to_string();
        let mut builder = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls_server()).map_err(fail)?;
        // The Mozilla profile switches the old versions off by option; switch them back on.
        builder.clear_options(SslOptions::NO_TLSV1 | SslOptions::NO_TLSV1_1);
        builder.set_min_proto_version(Some(SslVersion::TLS1)).map_err(fail)?;
        // SECLEVEL=0 lets OpenSSL 3 speak TLS 1.0/1.1 and SHA-1 at all (docs/rust-stack.md §1.4).
        builder.set_cipher_list("DEFAULT:@SECLEVEL=0").map_err(fail)?;
        let mut chain = X509::stack_from_pem(identity.cert_pem.as_bytes()).map_err(fail)?.into_iter();
        let leaf = chain.next().ok_or("the server certificate file is empty")?;
        builder.set_certificate(&leaf).map_err(fail)?;
        for extra in chain {
            builder.add_extra_chain_cert(extra).map_err(fail)?;
        }
        let key = openssl::pkey::PKey::private_key_from_pem(identity.key_pem.as_bytes()).map_err(fail)?;
        builder.set_private_key(&key).map_err(fail)?;
        builder.check_private_key().map_err(fail)?;
        if let Some(ca) = client_ca {
            let ca = X509::from_der(ca).map_err(fail)?;
            builder.cert_store_mut().add_cert(ca).map_err(fail)?;
            builder.set_verify(SslVerifyMode::PEER | SslVerifyMode::FAIL_IF_NO_PEER_CERT);
        }
        // Sessions are resumed only on the port that made them (OpenSSL refuses resumption with
        // client certificates without a context).
        let context: &[u8] = if client_ca.is_some() { b"opendls-secure" } else { b"opendls-default" };
        builder.set_session_id_context(context).map_err(fail)?;
        match sessions {
            0 => {
                builder.set_session_cache_mode(openssl::ssl::SslSessionCacheMode::OFF);
                builder.set_options(SslOptions::NO_TICKET);
            }
            size => {
                builder.set_session_cache_size(i32::try_from(size).unwrap_or(i32::MAX));
            }
        }
        Ok(LegacyAcceptor { acceptor: Arc::new(builder.build()) })
    }

    /// Without the `legacy-tls` feature there is no OpenSSL path.
    #[cfg(not(feature = "legacy-tls"))]
    pub fn new(
        _: &opendls_pki::ServerIdentity,
        _: Option<&[u8]>,
        _: usize,
    ) -> Result<LegacyAcceptor, String> {
        Err("this build has no legacy-tls feature".into())
    }

    /// Runs the handshake; returns the stream and the client certificate (DER), if any.
    #[cfg(feature = "legacy-tls")]
    pub async fn accept(
        &self,
        stream: TcpStream,
        remote: SocketAddr,
    ) -> Option<(LegacyStream, Option<Vec<u8>>)> {
        let ssl = openssl::ssl::Ssl::new(self.acceptor.context()).ok()?;
        let mut stream = tokio_openssl::SslStream::new(ssl, stream).ok()?;
        if let Err(error) = std::pin::Pin::new(&mut stream).accept().await {
            tracing::debug!(%remote, %error, "legacy TLS handshake failed");
            return None;
        }
        let certificate = stream.ssl().peer_certificate().and_then(|c| c.to_der().ok());
        tracing::debug!(%remote, version = stream.ssl().version_str(), "legacy TLS client served by OpenSSL");
        Some((Box::new(stream), certificate))
    }

    /// Without the `legacy-tls` feature there is no OpenSSL path.
    #[cfg(not(feature = "legacy-tls"))]
    pub async fn accept(&self, _: TcpStream, _: SocketAddr) -> Option<(LegacyStream, Option<Vec<u8>>)> {
        None
    }
}
