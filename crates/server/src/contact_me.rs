//! Contact-me: the plain-HTTP request that asks a phone to call the service back (guide
//! p. 14-15), and the allow-list that decides which addresses may ever receive one.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified};
use rustls::pki_types::CertificateDer;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::config::{ContactMeManner, ContactMeStyle};

/// An IP network in CIDR notation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Network {
    base: IpAddr,
    prefix: u8,
}

impl Network {
    /// Parses `10.1.0.0/16`, `fd00::/8` or a single address.
    pub fn parse(text: &str) -> Result<Network, String> {
        let (address, prefix) = match text.trim().split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text.trim(), None),
        };
        let base: IpAddr = address.parse().map_err(|_| format!("{text:?} is not an IP network (CIDR)"))?;
        let longest = if base.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(prefix) => prefix.parse::<u8>().ok().filter(|p| *p <= longest),
            None => Some(longest),
        }
        .ok_or_else(|| format!("{text:?} has a prefix length out of range"))?;
        Ok(Network { base, prefix })
    }

    /// The network around an address that phones in one subnet usually share: /24 or /64.
    pub fn around(address: IpAddr) -> Network {
        Network { base: address, prefix: if address.is_ipv4() { 24 } else { 64 } }
    }

    /// Whether `address` is inside.
    pub fn contains(&self, address: IpAddr) -> bool {
        match (self.base, address) {
            (IpAddr::V4(base), IpAddr::V4(address)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.prefix)).unwrap_or(0);
                u32::from(base) & mask == u32::from(address) & mask
            }
            (IpAddr::V6(base), IpAddr::V6(address)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(self.prefix)).unwrap_or(0);
                u128::from(base) & mask == u128::from(address) & mask
            }
            _ => false,
        }
    }
}

/// Where a contact-me goes, from the phone's `contact-me-uri` (guide p. 27, e.g.
/// `http://192.168.3.33:8085/contact_dls.html/ContactDLS`, p. 33). Only `http` with an IP
/// address: the service never resolves names a phone reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactMeUri {
    /// The phone's address and port.
    pub addr: SocketAddr,
    /// The request path.
    pub path: String,
}

impl ContactMeUri {
    /// Parses a reported `contact-me-uri`.
    pub fn parse(uri: &str) -> Result<ContactMeUri, String> {
        let rest = uri.strip_prefix("http://").ok_or("contact-me-uri is not an http:// URI")?;
        let (authority, path) = match rest.find('/') {
            Some(at) => (&rest[..at], &rest[at..]),
            None => (rest, "/"),
        };
        let addr = match authority.parse::<SocketAddr>() {
            Ok(addr) => addr,
            // guide p. 12: contact-me port 8085 when the URI names none.
            Err(_) => {
                let host = authority.trim_start_matches('[').trim_end_matches(']');
                let ip: IpAddr = host.parse().map_err(|_| "contact-me-uri does not name an IP address")?;
                SocketAddr::new(ip, 8085)
            }
        };
        if path.chars().any(|c| c.is_control() || c == ' ') {
            return Err("contact-me-uri has an unusable path".into());
        }
        Ok(ContactMeUri { addr, path: path.to_owned() })
    }
}

/// How a phone answered a contact-me.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContactOutcome {
    /// `204 No Content`: the phone will call back unless its contact gap is running (p. 15).
    Answered,
    /// Another HTTP status.
    Refused(u16),
    /// No answer: refused connection, timeout, or not HTTP.
    Unreachable(String),
}

/// Sends a contact-me: `ContactMe=true` and, when given, the address and port the phone shall
/// call back to (docs/wpi-protocol.md §2.5; guide example p. 15), in the form `manner` says.
pub async fn send(
    uri: &ContactMeUri,
    manner: ContactMeManner,
    callback: Option<SocketAddr>,
    timeout: Duration,
) -> ContactOutcome {
    match tokio::time::timeout(timeout, exchange(uri, manner, callback)).await {
        Ok(Ok(200..=299)) => ContactOutcome::Answered,
        Ok(Ok(status)) => ContactOutcome::Refused(status),
        Ok(Err(error)) => ContactOutcome::Unreachable(error.to_string()),
        Err(_) => ContactOutcome::Unreachable(format!("no answer within {} s", timeout.as_secs())),
    }
}

/// The request's bytes: a form POST (guide p. 15) or a GET with the fields in the query.
fn request(
    uri: &ContactMeUri,
    host: SocketAddr,
    style: ContactMeStyle,
    callback: Option<SocketAddr>,
) -> String {
    let mut fields = String::from("ContactMe=true");
    if let Some(callback) = callback {
        fields.push_str(&format!("&dls_ip_addr={}&dls_ip_port={}", callback.ip(), callback.port()));
    }
    match style {
        ContactMeStyle::Post => format!(
            "POST {} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/x-www-form-urlencoded; charset=utf-8\r\n\
             User-Agent: opendls\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{fields}",
            uri.path,
            fields.len()
        ),
        ContactMeStyle::Get | ContactMeStyle::HttpsWeb => format!(
            "GET {}?{fields} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: opendls\r\nConnection: close\r\n\r\n",
            uri.path
        ),
    }
}

async fn exchange(
    uri: &ContactMeUri,
    manner: ContactMeManner,
    callback: Option<SocketAddr>,
) -> std::io::Result<u16> {
    match manner.style {
        ContactMeStyle::Post | ContactMeStyle::Get => {
            let mut stream = TcpStream::connect(uri.addr).await?;
            status_of(&mut stream, &request(uri, uri.addr, manner.style, callback)).await
        }
        ContactMeStyle::HttpsWeb => {
            let addr = SocketAddr::new(uri.addr.ip(), manner.web_port);
            let stream = TcpStream::connect(addr).await?;
            let connector = tokio_rustls::TlsConnector::from(web_interface_client());
            let name = rustls::pki_types::ServerName::IpAddress(addr.ip().into());
            let mut stream = connector.connect(name, stream).await?;
            status_of(&mut stream, &request(uri, addr, manner.style, callback)).await
        }
    }
}

/// Writes the request and reads the status code of the answer.
async fn status_of<S: AsyncRead + AsyncWrite + Unpin>(stream: &mut S, request: &str) -> std::io::Result<u16> {
    stream.write_all(request.as_bytes()).await?;
    let mut head = Vec::new();
    let mut chunk = [0u8; 512];
    while !head.windows(2).any(|w| w == b"\r\n") && head.len() < 4096 {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&chunk[..n]);
    }
    let status_line = String::from_utf8_lossy(&head);
    status_line
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .filter(|_| status_line.starts_with("HTTP/1."))
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidData, "the answer is not HTTP"))
}

/// A TLS client for phones' web interfaces. Their certificate is the phone's own self-signed
/// one unless a service deployed another (guide p. 60), so it cannot be verified; the request
/// carries no secret (the call-back address is the service's own), and it goes only to an
/// address the allow-list admits.
fn web_interface_client() -> Arc<rustls::ClientConfig> {
    static CLIENT: std::sync::OnceLock<Arc<rustls::ClientConfig>> = std::sync::OnceLock::new();
    CLIENT
        .get_or_init(|| {
            let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
            let config = rustls::ClientConfig::builder_with_provider(provider.clone())
                .with_safe_default_protocol_versions()
                .expect("the default provider supports the default versions")
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(UnverifiedWebInterface(provider)))
                .with_no_client_auth();
            Arc::new(config)
        })
        .clone()
}

/// Accepts a phone web interface's certificate unchecked; signatures are still checked, so the
/// handshake is a real one with whoever holds the certificate's key.
#[derive(Debug)]
struct UnverifiedWebInterface(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for UnverifiedWebInterface {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &rustls::pki_types::ServerName<'_>,
        _: &[u8],
        _: rustls::pki_types::UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        certificate: &CertificateDer<'_>,
        signature: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.0.signature_verification_algorithms;
        rustls::crypto::verify_tls12_signature(message, certificate, signature, algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        certificate: &CertificateDer<'_>,
        signature: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.0.signature_verification_algorithms;
        rustls::crypto::verify_tls13_signature(message, certificate, signature, algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_take_the_form_asked_for() {
        let uri = ContactMeUri::parse("http://192.168.3.33:8085/contact_dls.html/ContactDLS").unwrap();
        let callback = Some("10.0.0.5:18443".parse().unwrap());
        let post = request(&uri, uri.addr, ContactMeStyle::Post, callback);
        assert!(post.starts_with("POST /contact_dls.html/ContactDLS HTTP/1.1\r\n"), "{post}");
        assert!(post.ends_with("\r\n\r\nContactMe=true&dls_ip_addr=10.0.0.5&dls_ip_port=18443"), "{post}");
        assert!(post.contains("Content-Length: 53\r\n"), "{post}");
        // guide p. 15: the body alone when no call-back address is known.
        assert!(request(&uri, uri.addr, ContactMeStyle::Post, None).contains("Content-Length: 14\r\n"));
        let get = request(&uri, uri.addr, ContactMeStyle::Get, callback);
        assert!(
            get.starts_with(
                "GET /contact_dls.html/ContactDLS?ContactMe=true&dls_ip_addr=10.0.0.5&dls_ip_port=18443 HTTP/1.1\r\n"
            ),
            "{get}"
        );
        assert!(!get.contains("Content-Length"), "{get}");
    }

    #[test]
    fn networks_contain_what_they_should() {
        let lan = Network::parse("192.168.3.0/24").unwrap();
        assert!(lan.contains("192.168.3.33".parse().unwrap()));
        assert!(!lan.contains("192.168.4.1".parse().unwrap()));
        assert!(!lan.contains("::1".parse().unwrap()));
        assert!(Network::parse("0.0.0.0/0").unwrap().contains("8.8.8.8".parse().unwrap()));
        assert!(Network::parse("fd00::/8").unwrap().contains("fd12::1".parse().unwrap()));
        assert!(Network::around("10.0.0.7".parse().unwrap()).contains("10.0.0.200".parse().unwrap()));
        assert!(Network::parse("10.0.0.0/33").is_err());
        assert!(Network::parse("phones").is_err());
    }

    #[test]
    fn contact_me_uris_are_read_as_the_guide_shows_them() {
        // guide p. 33
        let uri = ContactMeUri::parse("http://192.168.3.33:8085/contact_dls.html/ContactDLS").unwrap();
        assert_eq!(uri.addr, "192.168.3.33:8085".parse().unwrap());
        assert_eq!(uri.path, "/contact_dls.html/ContactDLS");
        assert_eq!(ContactMeUri::parse("http://10.0.0.1/x").unwrap().addr.port(), 8085);
        assert!(ContactMeUri::parse("http://phone.example/x").is_err(), "names are never resolved");
        assert!(ContactMeUri::parse("https://10.0.0.1/x").is_err());
    }
}
