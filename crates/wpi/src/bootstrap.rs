//! The framing of opendls' `secure-mode-data` container (Secure Mode with PIN, guide p. 65-68).
//!
//! The guide says only that the item carries "all items needed packed, encrypted and
//! Base64-encoded" and that the phone decrypts it with the PIN less its last three characters
//! (p. 67). The real firmware's format is not public and **unverified**; opendls uses the
//! container documented in `docs/secure-mode-data.md` on both sides (service and simulator), so
//! replacing it means replacing this framing and the PKCS#12 step in `opendls-pki`.
//!
//! ```text
//! container = "OPENDLS-SMD1\n" "port=" <dls-secure-port> "\n" "\n" <PKCS#12 DER>
//! ```
//! (then base64 on the wire).

/// Items that only ever travel in the bootstrap `WriteItems` (guide p. 62: no other message
/// contains `goto-secure-mode`), plus the TAN the phone reports afterwards (p. 68).
pub const BOOTSTRAP_ITEMS: &[&str] = &[
    "goto-secure-mode",
    "dls-client-certificate",
    "dls-server-ca",
    "dls-secure-port",
    "secure-mode-data",
    "max-pin-retries",
    "bootstrapping-tan",
];

/// The container's magic first line, with its version.
pub const SECURE_MODE_DATA_MAGIC: &[u8] = b"OPENDLS-SMD1\n";

/// The parts of a `secure-mode-data` container before base64.
#[derive(Clone, PartialEq, Eq)]
pub struct SecureModeData {
    /// `dls-secure-port`, in clear (it is not secret).
    pub port: u16,
    /// The PKCS#12 bundle (client certificate and key, the service's CA certificates), encrypted
    /// with the PIN less its last three characters.
    pub bundle: Vec<u8>,
}

impl std::fmt::Debug for SecureModeData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecureModeData").field("port", &self.port).finish_non_exhaustive()
    }
}

impl SecureModeData {
    /// The container's bytes (before base64).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut raw = SECURE_MODE_DATA_MAGIC.to_vec();
        raw.extend_from_slice(format!("port={}\n\n", self.port).as_bytes());
        raw.extend_from_slice(&self.bundle);
        raw
    }

    /// Reads a container; `None` if it is not one.
    pub fn from_bytes(raw: &[u8]) -> Option<SecureModeData> {
        let rest = raw.strip_prefix(SECURE_MODE_DATA_MAGIC)?.strip_prefix(b"port=")?;
        let end = rest.windows(2).position(|w| w == b"\n\n")?;
        let port = std::str::from_utf8(&rest[..end]).ok()?.parse().ok()?;
        Some(SecureModeData { port, bundle: rest[end + 2..].to_vec() })
    }
}

/// Splits a PIN into the bundle's password (all but the last three characters, p. 67) and the
/// TAN the phone reports in `bootstrapping-tan` (the last three, p. 68).
pub fn split_pin(pin: &str) -> (&str, &str) {
    let at = pin.char_indices().rev().nth(2).map_or(0, |(at, _)| at);
    pin.split_at(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn containers_round_trip_and_garbage_is_refused() {
        let data = SecureModeData { port: 18444, bundle: vec![0x30, 0x82, 0x0a, 0x0a, 0x0a] };
        assert_eq!(SecureModeData::from_bytes(&data.to_bytes()), Some(data));
        assert_eq!(SecureModeData::from_bytes(b"OPENDLS-SMD1\nport=x\n\n"), None);
        assert_eq!(SecureModeData::from_bytes(b"\x30\x82"), None);
    }

    #[test]
    fn pins_split_into_password_and_tan() {
        assert_eq!(split_pin("12345321"), ("12345", "321"));
        assert_eq!(split_pin("321"), ("", "321"));
        assert_eq!(split_pin("ab"), ("", "ab"));
    }
}
