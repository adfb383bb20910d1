//! The PROXY protocol (HAProxy's, versions 1 and 2) on the phone ports: behind a load balancer
//! the TCP peer is the balancer, and the header it sends first names the phone's own address,
//! which contact-me, the allow-list, per-address shares and interaction lookup need.
//!
//! Only peers in `proxy_protocol.trusted_proxies` are read for a header (anyone else could claim
//! any address), and from them a header is required: a connection from a trusted proxy without
//! a valid one is closed, never guessed.
//!
//! Formats (HAProxy's proxy-protocol.txt): version 1 is one text line of at most 107 bytes,
//! `PROXY TCP4 <src> <dst> <sport> <dport>\r\n` (or `TCP6`, or `UNKNOWN ...` for a connection
//! the proxy cannot describe). Version 2 is a 12-byte signature, a version/command byte (0x2_,
//! command 0 LOCAL or 1 PROXY), a family/protocol byte (0x11 TCP over IPv4, 0x21 TCP over
//! IPv6), a big-endian length, then source address, destination address, source port,
//! destination port, and optional TLVs, which are skipped.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

use crate::contact_me::Network;

/// The version 2 signature.
const V2_SIGNATURE: &[u8; 12] = b"\r\n\r\n\0\r\nQUIT\n";

/// The longest version 1 line, CRLF included.
const V1_MAX: usize = 107;

/// The longest version 2 header accepted (16 bytes and the address block with its TLVs).
const V2_MAX: usize = 16 + 1024;

/// What the start of a connection says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Header {
    /// A complete header.
    Complete {
        /// Its length in bytes, which the connection's data follows.
        length: usize,
        /// The client it describes; `None` when the proxy speaks for itself (v2 LOCAL, v1
        /// UNKNOWN, an address family other than TCP over IP).
        source: Option<SocketAddr>,
    },
    /// More bytes are needed.
    Incomplete,
}

/// Reads a PROXY header at the start of `bytes`.
pub fn parse(bytes: &[u8]) -> Result<Header, String> {
    if bytes.is_empty() {
        return Ok(Header::Incomplete);
    }
    if bytes[0] == V2_SIGNATURE[0] {
        return parse_v2(bytes);
    }
    parse_v1(bytes)
}

fn parse_v1(bytes: &[u8]) -> Result<Header, String> {
    let prefix = b"PROXY ";
    let shown = prefix.len().min(bytes.len());
    if bytes[..shown] != prefix[..shown] {
        return Err("the connection does not start with a PROXY header".into());
    }
    let Some(end) = bytes.windows(2).take(V1_MAX - 1).position(|w| w == b"\r\n") else {
        return match bytes.len() >= V1_MAX {
            true => Err(format!("a PROXY v1 line longer than {V1_MAX} bytes")),
            false => Ok(Header::Incomplete),
        };
    };
    let line = std::str::from_utf8(&bytes[..end]).map_err(|_| "a PROXY v1 line that is not text")?;
    let fields: Vec<&str> = line.split(' ').collect();
    let source = match fields.as_slice() {
        ["PROXY", "UNKNOWN", ..] => None,
        ["PROXY", family @ ("TCP4" | "TCP6"), source, _destination, port, _destination_port] => {
            let ip: IpAddr = source.parse().map_err(|_| format!("PROXY v1: {source:?} is not an address"))?;
            if (*family == "TCP4") != ip.is_ipv4() {
                return Err(format!("PROXY v1: {source} is not a {family} address"));
            }
            let port: u16 = port.parse().map_err(|_| format!("PROXY v1: {port:?} is not a port"))?;
            Some(SocketAddr::new(ip, port))
        }
        _ => return Err(format!("PROXY v1: unreadable line {line:?}")),
    };
    Ok(Header::Complete { length: end + 2, source })
}

fn parse_v2(bytes: &[u8]) -> Result<Header, String> {
    let shown = V2_SIGNATURE.len().min(bytes.len());
    if bytes[..shown] != V2_SIGNATURE[..shown] {
        return Err("the connection does not start with a PROXY header".into());
    }
    if bytes.len() < 16 {
        return Ok(Header::Incomplete);
    }
    let (version, command) = (bytes[12] >> 4, bytes[12] & 0x0f);
    if version != 2 {
        return Err(format!("PROXY v2: version {version} is not 2"));
    }
    let length = 16 + usize::from(u16::from_be_bytes([bytes[14], bytes[15]]));
    if length > V2_MAX {
        return Err(format!("PROXY v2: a header of {length} bytes (at most {V2_MAX})"));
    }
    if bytes.len() < length {
        return Ok(Header::Incomplete);
    }
    let block = &bytes[16..length];
    let source = match (command, bytes[13]) {
        (0, _) => None,
        (1, 0x11) if block.len() >= 12 => {
            let ip = Ipv4Addr::new(block[0], block[1], block[2], block[3]);
            Some(SocketAddr::new(IpAddr::V4(ip), u16::from_be_bytes([block[8], block[9]])))
        }
        (1, 0x21) if block.len() >= 36 => {
            let octets: [u8; 16] = block[..16].try_into().expect("16 bytes");
            Some(SocketAddr::new(
                IpAddr::V6(Ipv6Addr::from(octets)),
                u16::from_be_bytes([block[32], block[33]]),
            ))
        }
        (1, 0x11 | 0x21) => return Err("PROXY v2: an address block too short for its family".into()),
        // UDP, UNIX sockets, unspecified: not a phone's TCP connection; the proxy's own address.
        (1, _) => None,
        (command, _) => return Err(format!("PROXY v2: unknown command {command}")),
    };
    Ok(Header::Complete { length, source })
}

/// The peers whose connections start with a PROXY header.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Vec<Network>);

impl TrustedProxies {
    /// From `proxy_protocol.trusted_proxies` (addresses or CIDR networks).
    pub fn parse(entries: &[String]) -> Result<TrustedProxies, String> {
        entries.iter().map(|e| Network::parse(e)).collect::<Result<_, _>>().map(TrustedProxies)
    }

    /// Whether a connection from `peer` carries a PROXY header.
    pub fn trusts(&self, peer: IpAddr) -> bool {
        self.0.iter().any(|network| network.contains(peer))
    }

    /// Whether any proxy is trusted.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Why no address was read from a trusted proxy's connection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    /// It closed the connection before sending anything (a health check, typically).
    #[error("closed before its PROXY header")]
    Closed,
    /// What it sent is not a PROXY header, or could not be read.
    #[error("{0}")]
    Invalid(String),
}

/// Reads and removes the PROXY header a trusted proxy sends first; the client's address, or
/// the proxy's own (`peer`) when the header speaks for the proxy. The caller's deadline bounds
/// the wait.
pub async fn read_header(stream: &mut TcpStream, peer: SocketAddr) -> Result<SocketAddr, HeaderError> {
    let mut buffer = vec![0u8; V2_MAX];
    let unreadable = |e: std::io::Error| HeaderError::Invalid(format!("reading the PROXY header: {e}"));
    loop {
        let seen = stream.peek(&mut buffer).await.map_err(unreadable)?;
        if seen == 0 {
            return Err(HeaderError::Closed);
        }
        match parse(&buffer[..seen]).map_err(HeaderError::Invalid)? {
            Header::Complete { length, source } => {
                let mut header = vec![0u8; length];
                stream.read_exact(&mut header).await.map_err(unreadable)?;
                return Ok(source.unwrap_or(peer));
            }
            Header::Incomplete => tokio::time::sleep(std::time::Duration::from_millis(5)).await,
        }
    }
}

#[cfg(test)]
#[path = "proxy_protocol_tests.rs"]
mod tests;
