//! Reading a row's prose into rules, and checking values and indexes against them.

use std::net::IpAddr;

use super::{Access, CatalogEntry, Finding, Indexing, Provenance, Severity, ValueRule};

pub(super) fn read_indexing(text: &str) -> Indexing {
    let text = text.trim_start();
    if text.starts_with("yes (optional") {
        // Deployment items: a single FileDeployment or SoftwareDeployment carries none, a
        // multiple deployment numbers each file (guide p. 53, 55, 57).
        Indexing::Optional
    } else if text.starts_with("yes") {
        Indexing::Indexed
    } else if text.starts_with("no") {
        Indexing::Single
    } else {
        Indexing::Unclear
    }
}

pub(super) fn read_access(text: &str) -> Access {
    let text = text.trim_start();
    if text.starts_with("read-only") {
        Access::ReadOnly
    } else if text.starts_with("read-write") || text.starts_with("both") {
        Access::ReadWrite
    } else if text.starts_with("write") {
        Access::WriteOnly
    } else {
        Access::Unknown
    }
}

pub(super) fn read_provenance(text: &str) -> Provenance {
    let text = text.trim();
    if text.starts_with('-') {
        let note = text.trim_start_matches(['-', ' ']).to_owned();
        Provenance::Unverified { sources: unverified_sources(&note), note }
    } else if text.starts_with("wiki.unify.com") {
        Provenance::UnifyWiki
    } else {
        Provenance::Guide(text.to_owned())
    }
}

/// The third-party sources an unverified row names: `(no manual page reached; source:
/// GSN/GEM/SIM)` gives GSN, GEM and SIM; a parenthetical remark after a name is not a source.
fn unverified_sources(note: &str) -> Vec<String> {
    let Some(at) = note.find("source:") else { return Vec::new() };
    let list = strip_parentheticals(&note[at + "source:".len()..]);
    let list = list.split([';', ')']).next().unwrap_or("");
    let mut sources: Vec<String> = Vec::new();
    for source in list.split([',', '/']) {
        let source = source.split_whitespace().next().unwrap_or("");
        if !source.is_empty() && !sources.iter().any(|s| s == source) {
            sources.push(source.to_owned());
        }
    }
    sources
}

/// Reads the checkable part of the type and values columns.
pub(super) fn derive_rule(type_text: &str, values: &str) -> ValueRule {
    let kind = type_text.trim();
    let lower_values = values.to_ascii_lowercase();
    let open = ["further values", "also sends", "other values", "others"]
        .iter()
        .any(|hint| lower_values.contains(hint));
    if kind == "ip/hostname" || kind == "string (DNS name)" {
        return ValueRule::Host;
    }
    // Mixed types ("boolean or enum", "enum/boolean") cannot be checked.
    if kind.contains(" or ") || kind.contains('/') {
        return ValueRule::Text;
    }
    if kind == "boolean" {
        return ValueRule::Boolean;
    }
    if kind == "mac" {
        return ValueRule::MacAddress;
    }
    if kind == "ip" {
        return ValueRule::IpAddress;
    }
    if kind.starts_with("enum") || kind.starts_with("integer") {
        if let Some(codes) = integer_codes(values) {
            return ValueRule::OneOf { tokens: codes, open };
        }
        if kind.starts_with("integer") || kind == "enum (integer)" {
            let (min, max) = integer_range(values, kind.contains("port"));
            return ValueRule::Integer { min, max };
        }
        if let Some(tokens) = word_tokens(values) {
            return ValueRule::OneOf { tokens, open };
        }
    }
    ValueRule::Text
}

/// `0=UDP; 1=TCP; 2=TLS` or `0 / 1` at the start of the values column.
fn integer_codes(values: &str) -> Option<Vec<String>> {
    let head = strip_parentheticals(values);
    let mut codes = Vec::new();
    let segments: Vec<&str> =
        if head.contains('=') { head.split(';').collect() } else { head.split(" / ").collect() };
    for segment in segments {
        let segment = segment.trim();
        if segment.is_empty() || segment.starts_with("default") {
            continue;
        }
        let code = segment.split('=').next().unwrap_or("").trim();
        if code.parse::<i64>().is_err() {
            return None;
        }
        let separated = segment.contains('=') || values.contains(" / ");
        if !separated {
            return None;
        }
        codes.push(code.to_owned());
    }
    (!codes.is_empty()).then_some(codes)
}

/// `3700-32000` or `0-63` at the very start of the values column; `e.g.` and `seen` mark
/// examples, not ranges.
fn integer_range(values: &str, is_port: bool) -> (Option<i64>, Option<i64>) {
    let text = values.trim();
    let mut parts = text.splitn(2, '-');
    let low = parts.next().and_then(|p| p.trim().parse::<i64>().ok());
    let rest = parts.next().unwrap_or("");
    let high_digits: String = rest.trim_start().chars().take_while(char::is_ascii_digit).collect();
    let after = rest.trim_start()[high_digits.len()..].trim_start();
    match (low, high_digits.parse::<i64>().ok()) {
        (Some(low), Some(high)) if low <= high && !after.starts_with("seen") => (Some(low), Some(high)),
        _ if is_port => (Some(0), Some(65_535)),
        _ => (None, None),
    }
}

/// `deploy / delete; default empty` or `MOH (…) / PIC (…); APP = firmware`: short word tokens.
fn word_tokens(values: &str) -> Option<Vec<String>> {
    let text = strip_parentheticals(values);
    let mut tokens = Vec::new();
    for clause in text.split(';') {
        for segment in clause.split(" / ") {
            let token = segment.split('=').next().unwrap_or("").trim();
            if token.is_empty() || token.starts_with("default") {
                continue;
            }
            let plausible = token.split_whitespace().count() <= 2 && !token.contains("e.g.");
            if !plausible {
                return None;
            }
            tokens.push(token.to_owned());
        }
    }
    (!tokens.is_empty()).then_some(tokens)
}

fn strip_parentheticals(text: &str) -> String {
    let mut depth = 0usize;
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            c if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
}

pub(super) fn check_characters(value: &str, findings: &mut Vec<Finding>) {
    if value.chars().any(|c| !crate::parse::is_xml_char(c)) {
        findings.push(Finding {
            severity: Severity::Refusal,
            message: "value contains control characters XML cannot carry".into(),
        });
    }
}

pub(super) fn check_index(
    entry: &CatalogEntry,
    index: Option<u32>,
    strictness: Severity,
    findings: &mut Vec<Finding>,
) {
    let name = &entry.name;
    let (severity, message) = match (entry.indexing, index) {
        (Indexing::Single, Some(index)) => {
            (strictness, format!("{name} is not an indexed item, but index {index} was given"))
        }
        // The column is partly inferred: a missing index only warns.
        (Indexing::Indexed, None) => {
            (Severity::Warning, format!("{name} is an indexed item, but no index was given"))
        }
        (_, Some(index)) => match entry.index_range {
            Some((low, high)) if index < low || index > high => {
                (strictness, format!("{name} takes an index from {low} to {high}, not {index}"))
            }
            _ => return,
        },
        _ => return,
    };
    findings.push(Finding { severity, message });
}

/// The index range a row's index note states (`1-3`, `1..20`, `GEM 1-66, SIM 1-79` is 1-79), or
/// `None` where the numbering is model dependent (key indexes, p. 120) or only what was seen.
pub(super) fn index_range(note: &str) -> Option<(u32, u32)> {
    if note.contains("key index") {
        return None;
    }
    // XML applications are numbered 1 to 20 (guide p. 88, the application index).
    if note.contains("application index") && !note.chars().any(|c| c.is_ascii_digit()) {
        return Some((1, 20));
    }
    let mut found: Option<(u32, u32)> = None;
    let text = note.replace("..", "-");
    for (at, _) in text.match_indices('-') {
        let before: String = text[..at].chars().rev().take_while(char::is_ascii_digit).collect();
        let after: String = text[at + 1..].chars().take_while(char::is_ascii_digit).collect();
        let rest = text[at + 1 + after.len()..].trim_start();
        let low = before.chars().rev().collect::<String>().parse::<u32>();
        let (Ok(low), Ok(high)) = (low, after.parse::<u32>()) else { continue };
        if low > high || rest.starts_with("seen") {
            continue;
        }
        found = Some(found.map_or((low, high), |(l, h)| (l.min(low), h.max(high))));
    }
    found
}

/// A range that holds for an item's meaning whatever the row's provenance: a value outside it
/// cannot be right on any phone, so it is refused even on unverified rows.
pub(super) fn standard_range(name: &str, type_text: &str) -> Option<(i64, i64, &'static str)> {
    match name {
        "vlan-id" => Some((0, 4095, "IEEE 802.1Q: a VLAN ID has 12 bits")),
        // Minutes from UTC (p. 48 writes 60): the zones in use run from UTC-12:00 to UTC+14:00.
        "sntp-tz-offset" => Some((-720, 840, "time zones run from UTC-12:00 to UTC+14:00")),
        _ if type_text.contains("port") => Some((0, 65_535, "a TCP or UDP port has 16 bits")),
        _ => None,
    }
}

pub(super) fn check_value(
    entry: &CatalogEntry,
    value: &str,
    strictness: Severity,
    findings: &mut Vec<Finding>,
) {
    let name = &entry.name;
    if value.is_empty() {
        if !entry.may_be_empty() {
            findings.push(Finding { severity: strictness, message: format!("{name} must not be empty") });
        }
        return;
    }
    let problem = match &entry.rule {
        ValueRule::Boolean => {
            (value != "true" && value != "false").then(|| format!("{name} must be true or false"))
        }
        ValueRule::Integer { min, max } => match value.parse::<i64>() {
            Err(_) => Some(format!("{name} must be a whole number")),
            Ok(n) if min.is_some_and(|m| n < m) || max.is_some_and(|m| n > m) => Some(format!(
                "{name} must be between {} and {}{}",
                min.map_or("any".into(), |m| m.to_string()),
                max.map_or("any".into(), |m| m.to_string()),
                entry.standard.map(|why| format!(" ({why})")).unwrap_or_default()
            )),
            Ok(_) => None,
        },
        ValueRule::OneOf { tokens, open } => {
            if tokens.iter().any(|t| t == value) {
                None
            } else {
                let message = format!("{name} must be one of {}", tokens.join(", "));
                if *open {
                    findings.push(Finding { severity: Severity::Warning, message });
                    None
                } else {
                    Some(message)
                }
            }
        }
        ValueRule::IpAddress => {
            value.parse::<IpAddr>().is_err().then(|| format!("{name} must be an IP address"))
        }
        ValueRule::Host => (!is_host(value)).then(|| format!("{name} must be an IP address or host name")),
        ValueRule::MacAddress => {
            (!is_mac(value)).then(|| format!("{name} must be a MAC address like 00:1A:E8:12:34:56"))
        }
        ValueRule::Text => None,
    };
    if let Some(message) = problem {
        findings.push(Finding { severity: strictness, message });
    }
    if let Some(limit) = entry.max_chars() {
        let length = value.chars().count();
        if length > limit {
            findings.push(Finding {
                severity: strictness,
                message: format!("{name} is {length} characters long; at most {limit} are allowed"),
            });
        }
    }
}

fn is_host(value: &str) -> bool {
    value.parse::<IpAddr>().is_ok()
        || (value.len() <= 253
            && value.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            }))
}

fn is_mac(value: &str) -> bool {
    let parts: Vec<&str> = value.split([':', '-']).collect();
    parts.len() == 6 && parts.iter().all(|p| p.len() == 2 && p.chars().all(|c| c.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_ranges_are_read_from_the_note() {
        assert_eq!(index_range("yes (1-3)"), Some((1, 3)));
        assert_eq!(index_range("yes (application index 1..20)"), Some((1, 20)));
        assert_eq!(index_range("yes (application index)"), Some((1, 20)));
        assert_eq!(index_range("yes (menu index; GEM 1-66, SIM 1-79)"), Some((1, 79)));
        assert_eq!(index_range("yes (feature index, 0-36 seen)"), None);
        assert_eq!(index_range("yes (key index: 1..n normal level, 1001..100n shifted level)"), None);
        assert_eq!(index_range("yes (0-based in example: 0,1)"), None);
        assert_eq!(index_range("yes (optional, multi-file deployment)"), None);
    }

    #[test]
    fn rules_are_read_from_the_prose() {
        assert_eq!(
            derive_rule("integer (ms)", "3700-32000; default 32000"),
            ValueRule::Integer { min: Some(3700), max: Some(32000) }
        );
        assert_eq!(derive_rule("integer", "1-8 seen"), ValueRule::Integer { min: None, max: None });
        assert_eq!(
            derive_rule("integer (port)", "e.g. 5060"),
            ValueRule::Integer { min: Some(0), max: Some(65535) }
        );
        assert_eq!(
            derive_rule("enum", "0=UDP; 1=TCP; 2=TLS; default 0"),
            ValueRule::OneOf { tokens: vec!["0".into(), "1".into(), "2".into()], open: false }
        );
        assert_eq!(
            derive_rule("enum", "deploy / delete; default empty"),
            ValueRule::OneOf { tokens: vec!["deploy".into(), "delete".into()], open: false }
        );
        assert_eq!(
            derive_rule("enum", "FactoryReset (for factory reset; omitted for a normal reboot)"),
            ValueRule::OneOf { tokens: vec!["FactoryReset".into()], open: false }
        );
        assert_eq!(derive_rule("enum (string)", "same value set as device-type"), ValueRule::Text);
        assert_eq!(derive_rule("boolean or enum", "0 seen"), ValueRule::Text);
    }

    #[test]
    fn file_type_tokens_include_app() {
        let ValueRule::OneOf { tokens, .. } = derive_rule(
            "enum",
            "MOH (hold music: WAV/MIDI, MP3 on OS60/80) / PIC (picture clip JPEG/PNG, max 300 kB, OS60/80) / LDAP (template TXT) / LOGO (JPEG/PNG on OS60/80, BMP b/w on OS40) / SCREENSAVER / RINGTONE (see 4.5.3); APP = firmware image in SoftwareDeployment",
        ) else {
            panic!("file-type should be an enumeration");
        };
        assert_eq!(tokens, ["MOH", "PIC", "LDAP", "LOGO", "SCREENSAVER", "RINGTONE", "APP"]);
    }

    #[test]
    fn hosts_and_macs() {
        assert!(is_host("time.nist.gov") && is_host("192.168.1.4") && is_host("::1"));
        assert!(!is_host("bad host") && !is_host(""));
        assert!(is_mac("00:01:E3:25:EA:13") && !is_mac("00:01:E3:25:EA"));
    }
}
