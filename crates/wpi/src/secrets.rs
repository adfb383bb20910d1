//! The one list of items whose values are secrets. Logs, traces, error messages and `Debug`
//! output mask these values; every layer asks [`is_secret_item`] instead of keeping its own list.
//!
//! Secrecy is a property of each catalog row ([`crate::CatalogEntry::secret`]): a catalog item is
//! secret exactly when it is listed here, so `hot-keypad-dialing`, `min-user-passw-length` or
//! `function-key-def` are shown as they are. Names the catalog does not know (newer firmware)
//! fall back to their spelling: anything that speaks of a password, PIN, key or secret is masked.

/// Items that carry secrets: phone and admin passwords (guide p. 33), file-server passwords
/// (p. 53), the factory-reset password (p. 51), bootstrap material with private keys and the TAN
/// (p. 64-68), certificate containers with private keys (p. 60), and the passwords and SNMP
/// communities of rows taken from third-party servers (SIP, LDAP, send-URL, traps).
pub const SECRET_ITEM_NAMES: &[&str] = &[
    "user-pwd",
    "user-pwd-unicode",
    "admin-pwd",
    "admin-pwd-unicode",
    "file-pwd",
    "restart-password",
    "dls-client-certificate",
    "secure-mode-data",
    "bootstrapping-tan",
    "wbm-server-certificate",
    "cloud-pin-value",
    "sip-pwd",
    "line-sip-pwd",
    "ldap-pwd",
    "send-url-passwd",
    "snmp-pwd",
    "snmp-trap-pwd",
    "diagnostic-trap-pwd",
    "qdc-trap-pwd",
];

/// Whether an item's value must never be shown: for a catalog item, whether its row is secret;
/// for any other name, whether it speaks of a password, PIN, key or secret (erring towards
/// masking is cheap for names nobody has described).
pub fn is_secret_item(name: &str) -> bool {
    match crate::Catalog::builtin().get(name) {
        Some(entry) => entry.secret,
        None => looks_secret(name),
    }
}

/// The spelling rule for names outside the catalog. Asked for items of every stored inventory:
/// no allocation, case-insensitive.
pub fn looks_secret(name: &str) -> bool {
    if SECRET_ITEM_NAMES.contains(&name) {
        return true;
    }
    let bytes = name.as_bytes();
    let has = |marker: &[u8]| bytes.windows(marker.len()).any(|window| window.eq_ignore_ascii_case(marker));
    [b"pwd".as_slice(), b"passw", b"pin", b"private", b"secret", b"-key"].iter().any(|marker| has(marker))
        && !has(b"ping")
        && !has(b"mapping")
}

/// What a secret value shows in its place.
pub const MASK: &str = "******";

/// The value as it may be shown: masked for secret items.
pub fn displayable_value<'a>(name: &str, value: &'a str) -> &'a str {
    if is_secret_item(name) && !value.is_empty() { MASK } else { value }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_recognised() {
        for name in [
            "user-pwd",
            "file-pwd",
            "restart-password",
            "dls-client-certificate",
            "sip-password",
            "cloud-pin-value",
        ] {
            assert!(is_secret_item(name), "{name}");
        }
        for name in ["mac-addr", "e164", "sntp-addr", "ping-interval", "key-label-unicode"] {
            assert!(!is_secret_item(name), "{name}");
        }
        // Catalog rows whose names merely contain a marker are shown.
        for name in [
            "hot-keypad-dialing",
            "click-keys",
            "line-key-operating-mode",
            "default-locked-function-keys",
            "srtp-key-negotiation-method",
            "min-user-passw-length",
            "mobility-password-on-logoff",
            "function-key-def",
            "max-pin-retries",
            "fault-time-admin-pwd",
        ] {
            assert!(!is_secret_item(name), "{name}");
        }
        // Unknown names that look secret stay masked.
        assert!(is_secret_item("future-radius-pwd") && is_secret_item("Some-Private-Key"));
        assert_eq!(displayable_value("user-pwd", "123456"), "******");
        assert_eq!(displayable_value("e164", "123456"), "123456");
    }
}
