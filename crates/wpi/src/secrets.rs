//! The one list of items whose values are secrets. Logs, traces, error messages and `Debug`
//! output mask these values; every layer asks [`is_secret_item`] instead of keeping its own list.

/// Items known to carry secrets: phone and admin passwords (guide p. 33), file-server passwords
/// (p. 53), the factory-reset password (p. 51), bootstrap material with private keys and the TAN
/// (p. 64-68), and certificate containers with private keys (p. 60).
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
];

/// Whether an item's value must never be shown: a listed name, or any name that speaks of a
/// password, PIN, key or secret (item names are open-ended; erring towards masking is cheap).
pub fn is_secret_item(name: &str) -> bool {
    if SECRET_ITEM_NAMES.contains(&name) {
        return true;
    }
    // Asked for every item of every stored inventory: no allocation, case-insensitive.
    let bytes = name.as_bytes();
    let has = |marker: &[u8]| bytes.windows(marker.len()).any(|window| window.eq_ignore_ascii_case(marker));
    [b"pwd".as_slice(), b"passw", b"pin", b"private", b"secret", b"-key"].iter().any(|marker| has(marker))
        && !has(b"ping")
        && !has(b"mapping")
}

/// The value as it may be shown: masked for secret items.
pub fn displayable_value<'a>(name: &str, value: &'a str) -> &'a str {
    if is_secret_item(name) && !value.is_empty() { "******" } else { value }
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
        assert_eq!(displayable_value("user-pwd", "123456"), "******");
        assert_eq!(displayable_value("e164", "123456"), "123456");
    }
}
