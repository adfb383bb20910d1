//! The phone's session: the cookie that carries an interaction from one request to the next,
//! and the ids in it.

use hyper::header;

/// The session cookie's name, as the original DLS used it (docs/wpi-protocol.md §2.4).
pub const SESSION_COOKIE: &str = "JSESSIONID";

/// A session id in the form of the original DLS's (32 upper-case hex digits): the device's MAC
/// (12 digits), then 80 random bits. The random part makes it unguessable; the MAC lets a store
/// read a `reply-to`'s device together with its interaction ([`opendls_store::InteractionLookup::device_hint`])
/// even when the reply carries no `mac-addr` (a `WriteItems` reply, guide p. 48).
pub(super) fn new_session_id(mac: Option<&str>) -> String {
    let mut bytes = [0u8; 10];
    getrandom::fill(&mut bytes).expect("the operating system's random source is available");
    let digits: String = mac.unwrap_or_default().chars().filter(char::is_ascii_hexdigit).collect();
    let prefix = if digits.len() == 12 { digits.to_ascii_uppercase() } else { "0".repeat(12) };
    prefix + &hex::encode_upper(bytes)
}

/// The device a session id names ([`new_session_id`]); only a hint: the interaction's own
/// record says whose it is.
pub(super) fn device_named_by_session(session: &str) -> Option<String> {
    opendls_engine::normalize_mac(session.get(..12)?).filter(|mac| mac != "00:00:00:00:00:00")
}

/// The session id from the `Cookie` header. Phones have been seen echoing attributes
/// (`Cookie: PHPSESSID=...; path=/`, docs/wpi-protocol.md §2.4), so every `;`-separated pair is looked at.
pub fn session_cookie(headers: &hyper::HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.split_once('='))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case(SESSION_COOKIE))
        .map(|(_, value)| value.trim().trim_matches('"').to_owned())
        .filter(|value| {
            !value.is_empty() && value.len() <= 128 && value.chars().all(|c| c.is_ascii_alphanumeric())
        })
}
