//! Reads a TLS ClientHello without consuming it, to choose the TLS stack per connection and to
//! record what each phone's TLS client offers (docs/rust-stack.md §1.4: V3-era firmware may offer
//! only TLS 1.0/1.1, RSA key exchange or CBC suites, none of which rustls serves).

/// What a client offered.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ClientHello {
    /// Protocol versions offered (from `supported_versions`, else the legacy version field and
    /// everything below it down to TLS 1.0).
    pub versions: Vec<u16>,
    /// Cipher suites, in the client's order.
    pub suites: Vec<u16>,
    /// `supported_groups`.
    pub groups: Vec<u16>,
    /// Whether `signature_algorithms` was sent (rustls requires it for TLS 1.2).
    pub signature_algorithms: bool,
    /// Whether it lists `ecdsa_secp256r1_sha256` (an ECDSA P-256 certificate can serve it).
    pub ecdsa_p256: bool,
}

/// Why a ClientHello could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HelloError {
    /// More bytes are needed.
    Incomplete,
    /// Not a TLS ClientHello at all.
    NotTls,
}

const TLS13_SUITES: [u16; 3] = [0x1301, 0x1302, 0x1303];
/// rustls's TLS 1.2 suites that work with an RSA certificate: ECDHE-RSA with AES-GCM or
/// ChaCha20-Poly1305.
const RUSTLS_RSA_TLS12_SUITES: [u16; 3] = [0xc02f, 0xc030, 0xcca8];
/// rustls's TLS 1.2 suites that work with an ECDSA certificate: ECDHE-ECDSA with AES-GCM or
/// ChaCha20-Poly1305.
const RUSTLS_ECDSA_TLS12_SUITES: [u16; 3] = [0xc02b, 0xc02c, 0xcca9];
/// `ecdsa_secp256r1_sha256`.
const ECDSA_P256_SHA256: u16 = 0x0403;
/// x25519, secp256r1, secp384r1.
const RUSTLS_GROUPS: [u16; 3] = [0x001d, 0x0017, 0x0018];

struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], HelloError> {
        if self.bytes.len() < n {
            return Err(HelloError::Incomplete);
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(head)
    }
    fn u8(&mut self) -> Result<usize, HelloError> {
        Ok(usize::from(self.take(1)?[0]))
    }
    fn u16(&mut self) -> Result<usize, HelloError> {
        let b = self.take(2)?;
        Ok(usize::from(u16::from_be_bytes([b[0], b[1]])))
    }
}

fn u16_list(bytes: &[u8]) -> Vec<u16> {
    bytes.chunks_exact(2).map(|b| u16::from_be_bytes([b[0], b[1]])).collect()
}

/// Parses the first TLS record of a connection.
pub fn parse_client_hello(record: &[u8]) -> Result<ClientHello, HelloError> {
    let mut reader = Reader { bytes: record };
    let header = reader.take(5)?;
    if header[0] != 0x16 || header[1] != 0x03 {
        return Err(HelloError::NotTls);
    }
    let length = usize::from(u16::from_be_bytes([header[3], header[4]]));
    let mut body = Reader { bytes: reader.take(length)? };
    if body.u8()? != 1 {
        return Err(HelloError::NotTls);
    }
    let hello_length = body.take(3)?;
    let hello_length = (usize::from(hello_length[0]) << 16)
        | (usize::from(hello_length[1]) << 8)
        | usize::from(hello_length[2]);
    // A ClientHello longer than its first record is read as far as it goes.
    let available = body.bytes.len().min(hello_length);
    let mut hello = Reader { bytes: &body.bytes[..available] };
    let legacy_version = hello.u16()? as u16;
    hello.take(32)?;
    let session = hello.u8()?;
    hello.take(session)?;
    let suites_length = hello.u16()?;
    let suites = u16_list(hello.take(suites_length)?);
    let compression = hello.u8()?;
    hello.take(compression)?;
    let mut offered = ClientHello { suites, ..ClientHello::default() };
    let mut supported_versions = None;
    if let Ok(extensions_length) = hello.u16() {
        let mut extensions = Reader { bytes: hello.take(extensions_length.min(hello.bytes.len()))? };
        while let (Ok(kind), Ok(length)) = (extensions.u16(), extensions.u16()) {
            let Ok(data) = extensions.take(length) else { break };
            match kind {
                10 if data.len() >= 2 => offered.groups = u16_list(&data[2..]),
                13 => {
                    offered.signature_algorithms = true;
                    offered.ecdsa_p256 = data.len() >= 2 && u16_list(&data[2..]).contains(&ECDSA_P256_SHA256);
                }
                43 if !data.is_empty() => supported_versions = Some(u16_list(&data[1..])),
                _ => {}
            }
        }
    }
    offered.versions = match supported_versions {
        // GREASE values (0x?a?a) are not versions.
        Some(list) => list.into_iter().filter(|v| v & 0x0f0f != 0x0a0a).collect(),
        None => (0x0301..=legacy_version.clamp(0x0301, 0x0303)).rev().collect(),
    };
    Ok(offered)
}

impl ClientHello {
    /// Whether rustls can complete a handshake with this client on a port with an RSA
    /// certificate and, when `with_ecdsa`, an ECDSA P-256 one beside it.
    pub fn rustls_can_serve(&self, with_ecdsa: bool) -> bool {
        let has = |list: &[u16], wanted: &[u16]| list.iter().any(|x| wanted.contains(x));
        let groups = has(&self.groups, &RUSTLS_GROUPS);
        let tls13 = self.versions.contains(&0x0304) && has(&self.suites, &TLS13_SUITES);
        let ecdsa12 = with_ecdsa && self.ecdsa_p256 && has(&self.suites, &RUSTLS_ECDSA_TLS12_SUITES);
        let tls12 = self.versions.contains(&0x0303)
            && (has(&self.suites, &RUSTLS_RSA_TLS12_SUITES) || ecdsa12)
            && self.signature_algorithms;
        groups && (tls13 || tls12)
    }

    /// A short description for the inventory and the log, e.g.
    /// `TLS1.2,TLS1.3; 17 suites; modern` or `TLS1.0; suites 0x002f,0x0035; legacy only`, as
    /// a port with (`with_ecdsa`) or without an ECDSA certificate sees it.
    pub fn summary(&self, with_ecdsa: bool) -> String {
        let versions: Vec<String> = self.versions.iter().rev().map(|v| version_name(*v)).collect();
        if self.rustls_can_serve(with_ecdsa) {
            format!("{}; {} suites; modern", versions.join(","), self.suites.len())
        } else {
            let suites: Vec<String> = self.suites.iter().take(24).map(|s| format!("0x{s:04x}")).collect();
            let more = if self.suites.len() > 24 { ",..." } else { "" };
            format!("{}; suites {}{more}; legacy only", versions.join(","), suites.join(","))
        }
    }
}

fn version_name(version: u16) -> String {
    match version {
        0x0300 => "SSL3".into(),
        0x0301 => "TLS1.0".into(),
        0x0302 => "TLS1.1".into(),
        0x0303 => "TLS1.2".into(),
        0x0304 => "TLS1.3".into(),
        other => format!("0x{other:04x}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A ClientHello record with the given fields (and fixed random/session).
    fn hello(version: u16, suites: &[u16], extensions: &[(u16, Vec<u8>)]) -> Vec<u8> {
        let mut body = version.to_be_bytes().to_vec();
        body.extend([7u8; 32]);
        body.push(0);
        body.extend(((suites.len() * 2) as u16).to_be_bytes());
        suites.iter().for_each(|s| body.extend(s.to_be_bytes()));
        body.extend([1, 0]);
        let mut ext = Vec::new();
        for (kind, data) in extensions {
            ext.extend(kind.to_be_bytes());
            ext.extend((data.len() as u16).to_be_bytes());
            ext.extend(data);
        }
        if !extensions.is_empty() {
            body.extend((ext.len() as u16).to_be_bytes());
            body.extend(ext);
        }
        let mut handshake = vec![1, 0, (body.len() >> 8) as u8, body.len() as u8];
        handshake.extend(body);
        let mut record = vec![0x16, 0x03, 0x01];
        record.extend((handshake.len() as u16).to_be_bytes());
        record.extend(handshake);
        record
    }

    fn list(width: usize, items: &[u16]) -> Vec<u8> {
        let mut data = if width == 1 {
            vec![(items.len() * 2) as u8]
        } else {
            ((items.len() * 2) as u16).to_be_bytes().to_vec()
        };
        items.iter().for_each(|i| data.extend(i.to_be_bytes()));
        data
    }

    #[test]
    fn modern_and_legacy_offers_are_told_apart() {
        let modern = hello(
            0x0303,
            &[0x1301, 0xc02f],
            &[(10, list(2, &[0x001d])), (13, list(2, &[0x0804])), (43, list(1, &[0x0a0a, 0x0304, 0x0303]))],
        );
        let parsed = parse_client_hello(&modern).unwrap();
        assert_eq!(parsed.versions, [0x0304, 0x0303]);
        assert!(parsed.rustls_can_serve(false));
        assert_eq!(parsed.summary(false), "TLS1.2,TLS1.3; 2 suites; modern");

        // TLS 1.0 with static RSA and CBC, as old OpenSSL clients send it (no extensions).
        let legacy = hello(0x0301, &[0x002f, 0x0035], &[]);
        let parsed = parse_client_hello(&legacy).unwrap();
        assert_eq!(parsed.versions, [0x0301]);
        assert!(!parsed.rustls_can_serve(false));
        assert_eq!(parsed.summary(false), "TLS1.0; suites 0x002f,0x0035; legacy only");

        // TLS 1.2 but only CBC suites: rustls cannot serve it either.
        let cbc = hello(0x0303, &[0xc013], &[(10, list(2, &[0x0017])), (13, list(2, &[0x0401]))]);
        assert!(!parse_client_hello(&cbc).unwrap().rustls_can_serve(false));

        // TLS 1.2 with only an ECDHE-ECDSA suite: rustls serves it where an ECDSA certificate is.
        let ecdsa = hello(0x0303, &[0xc02b], &[(10, list(2, &[0x0017])), (13, list(2, &[0x0403]))]);
        let parsed = parse_client_hello(&ecdsa).unwrap();
        assert!(parsed.ecdsa_p256);
        assert!(!parsed.rustls_can_serve(false) && parsed.rustls_can_serve(true));
        assert_eq!(parsed.summary(true), "TLS1.0,TLS1.1,TLS1.2; 1 suites; modern");
    }

    #[test]
    fn partial_and_foreign_bytes_are_recognised() {
        let modern = hello(0x0303, &[0xc02f], &[]);
        assert_eq!(parse_client_hello(&modern[..20]), Err(HelloError::Incomplete));
        assert_eq!(parse_client_hello(b"GET / HTTP/1.1\r\n"), Err(HelloError::NotTls));
    }
}
