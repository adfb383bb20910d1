//! The item catalog: every known item name with its type, range and provenance, and a validator.
//!
//! The single source is `data/wpi-items.tsv` (a copy of the team's `shared/docs/wpi-items.tsv`,
//! kept identical by a test). It is embedded in the binary and parsed once on first use, so the
//! Rust data can never drift from the TSV.
//!
//! The `values` column is prose written from the guide's tables; [`ValueRule`] reads the parts of
//! it that are machine-checkable (booleans, integer ranges, enumerations, length limits, address
//! forms) and ignores the rest. Rows the guide (or Unify's wiki) documents give refusals; rows
//! taken only from third-party code give warnings, because their ranges are unverified.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::OnceLock;

/// The item carrying the DCMP polling address written to phones behind NAT (guide p. 15, 24:
/// "configured by the provisioning service"; the item names are in guide §6.1, which was not
/// retrieved). `dcmp-url` is the name the Unify wiki uses; unverified on real firmware.
pub const DCMP_URL_ITEM: &str = "dcmp-url";
/// The item carrying the DCMP poll interval in seconds. The name is opendls' assumption, not
/// confirmed by any source: see [`DCMP_URL_ITEM`].
pub const DCMP_INTERVAL_ITEM: &str = "dcmp-interval";

/// Items a phone sends with every message it starts an interaction with (guide p. 27, p. 33,
/// p. 35 table 3.5.1.3, p. 40): identity, firmware, where to send contact-me, and the change flags.
/// In a V2R2+ `local-changes` message, the items that are not among these are the changed ones.
pub const BASIC_ITEMS: &[&str] = &[
    "device-type",
    "related-device-type",
    "software-type",
    "related-software-type",
    "software-version",
    "related-software-version",
    "contact-me-uri",
    "mac-addr",
    "configuration-changed-flag",
    "configuration-attached-flag",
    "configuration-attached-number",
    "part-number",
    "sip-mobility-state",
    "e164",
    "user-pwd",
    "user-pwd-unicode",
    "basic-e164",
    "mobility-enabled",
    "gigabit-ethernet",
    "gigabit-ethernet-enabled",
    "backlight-type",
];

/// The catalog TSV, embedded at build time.
pub const CATALOG_TSV: &str = include_str!("../data/wpi-items.tsv");

const COLUMNS: [&str; 8] = ["name", "indexed", "type", "values", "access", "group", "page", "description"];

/// Where a catalog row's facts come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Provenance {
    /// Pages of the Developer's Guide (A31003-S2000-R102-16-7620), e.g. `"120,122,138"`.
    Guide(String),
    /// Unify's wiki page "WPI Interface Enhancements".
    UnifyWiki,
    /// Only seen in working third-party servers; type and range unverified.
    Unverified(String),
}

impl Provenance {
    /// Whether values of this row can be refused on its evidence.
    pub fn is_verified(&self) -> bool {
        !matches!(self, Provenance::Unverified(_))
    }
}

/// Which side may change an item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Only the phone reports it; writes are refused by the phone (`read only`, p. 83).
    ReadOnly,
    /// An ordinary setting.
    ReadWrite,
    /// Only the service sends it (flow control, passwords, certificates).
    WriteOnly,
    /// Not stated.
    Unknown,
}

/// Whether an item carries an `index`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Indexing {
    /// Single-instance item.
    Single,
    /// Multi-instance item, addressed by `index`.
    Indexed,
    /// The catalog is not sure.
    Unclear,
}

/// One row of the catalog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogEntry {
    /// The exact, case-sensitive wire name.
    pub name: String,
    /// Whether the item is multi-instance.
    pub indexing: Indexing,
    /// The index note of the TSV (range and numbering).
    pub index_note: String,
    /// The type as written in the TSV (`boolean`, `integer (s)`, `enum`, ...).
    pub type_text: String,
    /// The values column as written in the TSV.
    pub values_text: String,
    /// Who may change it.
    pub access: Access,
    /// Where the item sits in the phone's web admin (or an inferred place).
    pub group: String,
    /// Where the facts come from.
    pub provenance: Provenance,
    /// A paraphrased description.
    pub description: String,
    /// What a value must look like, as far as the row says.
    pub rule: ValueRule,
}

/// The machine-checkable part of a row's type and values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ValueRule {
    /// `true` or `false`, lower case (guide convention, wpi-items-notes §6).
    Boolean,
    /// A decimal integer, optionally within an inclusive range.
    Integer {
        /// Inclusive lower bound.
        min: Option<i64>,
        /// Inclusive upper bound.
        max: Option<i64>,
    },
    /// One of a listed set of tokens.
    OneOf {
        /// The allowed tokens.
        tokens: Vec<String>,
        /// Whether the row says further values exist, so a mismatch is only a warning.
        open: bool,
    },
    /// An IPv4 or IPv6 address.
    IpAddress,
    /// An IP address or a host name.
    Host,
    /// A colon-separated MAC address.
    MacAddress,
    /// Free text (with an optional length limit, see [`CatalogEntry::max_chars`]).
    Text,
}

impl CatalogEntry {
    /// The length limit stated in the values column (`max 24 chars`, `up to 17 chars`).
    pub fn max_chars(&self) -> Option<usize> {
        let text = self.values_text.as_str();
        ["max ", "up to "].iter().find_map(|prefix| {
            let start = text.find(prefix)? + prefix.len();
            let rest = &text[start..];
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            let after = &rest[digits.len()..];
            (!digits.is_empty() && after.trim_start().starts_with("char")).then(|| digits.parse().ok())?
        })
    }

    fn may_be_empty(&self) -> bool {
        let text = self.values_text.to_ascii_lowercase();
        if text.contains("not empty") {
            return false;
        }
        text.contains("empty") || text.contains("null") || matches!(self.rule, ValueRule::Text)
    }
}

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// Worth telling the admin; the value is still accepted.
    Warning,
    /// The value is refused.
    Refusal,
}

/// One thing wrong with an item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// Whether it refuses the value.
    pub severity: Severity,
    /// What is wrong, for a human. Never contains the value itself (it may be a secret).
    pub message: String,
}

/// The result of checking one item against the catalog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemCheck<'c> {
    /// The catalog row, or `None` for an unknown name (allowed, but reported).
    pub entry: Option<&'c CatalogEntry>,
    /// Everything found wrong, worst first.
    pub findings: Vec<Finding>,
}

impl ItemCheck<'_> {
    /// Whether the name is in the catalog.
    pub fn is_known(&self) -> bool {
        self.entry.is_some()
    }

    /// Whether any finding refuses the value.
    pub fn is_refused(&self) -> bool {
        self.findings.iter().any(|f| f.severity == Severity::Refusal)
    }

    /// The reasons for refusal, joined for a message.
    pub fn refusal_reason(&self) -> Option<String> {
        let reasons: Vec<&str> = self
            .findings
            .iter()
            .filter(|f| f.severity == Severity::Refusal)
            .map(|f| f.message.as_str())
            .collect();
        (!reasons.is_empty()).then(|| reasons.join("; "))
    }
}

/// A catalog that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("catalog line {line}: {problem}")]
pub struct CatalogError {
    /// 1-based line of the TSV.
    pub line: usize,
    /// What is wrong with it.
    pub problem: String,
}

/// The item catalog.
#[derive(Debug, Clone)]
pub struct Catalog {
    entries: Vec<CatalogEntry>,
    by_name: HashMap<String, usize>,
}

impl Catalog {
    /// The catalog embedded in this build, parsed on first use.
    pub fn builtin() -> &'static Catalog {
        static CATALOG: OnceLock<Catalog> = OnceLock::new();
        CATALOG.get_or_init(|| {
            Catalog::from_tsv(CATALOG_TSV).expect("the embedded catalog is checked by the tests")
        })
    }

    /// Reads a catalog in the TSV form of `wpi-items.tsv`.
    pub fn from_tsv(tsv: &str) -> Result<Catalog, CatalogError> {
        let mut lines = tsv.lines().enumerate();
        let header: Vec<&str> = lines.next().map(|(_, l)| l.split('\t').collect()).unwrap_or_default();
        if header != COLUMNS {
            return Err(CatalogError { line: 1, problem: format!("header must be {}", COLUMNS.join(" ")) });
        }
        let mut entries = Vec::new();
        let mut by_name = HashMap::new();
        for (number, line) in lines {
            if line.trim().is_empty() {
                continue;
            }
            let line_no = number + 1;
            let fields: Vec<&str> = line.split('\t').collect();
            let [name, indexed, type_text, values, access, group, page, description] = fields[..] else {
                return Err(CatalogError {
                    line: line_no,
                    problem: format!("{} fields, expected 8", fields.len()),
                });
            };
            let entry = CatalogEntry {
                name: name.trim().to_owned(),
                indexing: read_indexing(indexed),
                index_note: indexed.to_owned(),
                type_text: type_text.to_owned(),
                values_text: values.to_owned(),
                access: read_access(access),
                group: group.to_owned(),
                provenance: read_provenance(page),
                description: description.to_owned(),
                rule: derive_rule(type_text, values),
            };
            if entry.name.is_empty() {
                return Err(CatalogError { line: line_no, problem: "empty item name".into() });
            }
            if by_name.insert(entry.name.clone(), entries.len()).is_some() {
                return Err(CatalogError {
                    line: line_no,
                    problem: format!("duplicate item {}", entry.name),
                });
            }
            entries.push(entry);
        }
        Ok(Catalog { entries, by_name })
    }

    /// Every row, in TSV order.
    pub fn entries(&self) -> &[CatalogEntry] {
        &self.entries
    }

    /// The row for an exact (case-sensitive) item name.
    pub fn get(&self, name: &str) -> Option<&CatalogEntry> {
        self.by_name.get(name).map(|&i| &self.entries[i])
    }

    /// Checks a value as a phone might report it or a service might write it.
    pub fn check(&self, name: &str, index: Option<u32>, value: &str) -> ItemCheck<'_> {
        let Some(entry) = self.get(name) else {
            let mut findings = Vec::new();
            check_characters(value, &mut findings);
            return ItemCheck { entry: None, findings };
        };
        let strictness = if entry.provenance.is_verified() { Severity::Refusal } else { Severity::Warning };
        let mut findings = Vec::new();
        check_characters(value, &mut findings);
        check_index(entry, index, &mut findings);
        check_value(entry, value, strictness, &mut findings);
        findings.sort_by_key(|f| std::cmp::Reverse(f.severity));
        ItemCheck { entry: Some(entry), findings }
    }

    /// Checks a value the service intends to write: as [`Catalog::check`], plus a refusal for
    /// items only the phone reports (`device-type` is answered `read only`, p. 83).
    pub fn check_write(&self, name: &str, index: Option<u32>, value: &str) -> ItemCheck<'_> {
        let mut check = self.check(name, index, value);
        if let Some(entry) = check.entry
            && entry.access == Access::ReadOnly
        {
            let severity = if entry.provenance.is_verified() { Severity::Refusal } else { Severity::Warning };
            check
                .findings
                .insert(0, Finding { severity, message: format!("{name} is read-only on the phone") });
            check.findings.sort_by_key(|f| std::cmp::Reverse(f.severity));
        }
        check
    }
}

fn read_indexing(text: &str) -> Indexing {
    let text = text.trim_start();
    if text.starts_with("yes") {
        Indexing::Indexed
    } else if text.starts_with("no") {
        Indexing::Single
    } else {
        Indexing::Unclear
    }
}

fn read_access(text: &str) -> Access {
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

fn read_provenance(text: &str) -> Provenance {
    let text = text.trim();
    if text.starts_with('-') {
        Provenance::Unverified(text.trim_start_matches(['-', ' ']).to_owned())
    } else if text.starts_with("wiki.unify.com") {
        Provenance::UnifyWiki
    } else {
        Provenance::Guide(text.to_owned())
    }
}

/// Reads the checkable part of the type and values columns.
fn derive_rule(type_text: &str, values: &str) -> ValueRule {
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

fn check_characters(value: &str, findings: &mut Vec<Finding>) {
    if value.chars().any(|c| !crate::parse::is_xml_char(c)) {
        findings.push(Finding {
            severity: Severity::Refusal,
            message: "value contains control characters XML cannot carry".into(),
        });
    }
}

fn check_index(entry: &CatalogEntry, index: Option<u32>, findings: &mut Vec<Finding>) {
    // The indexed column is partly inferred, so index mismatches only warn.
    let message = match (entry.indexing, index) {
        (Indexing::Single, Some(index)) => {
            format!("{} is not an indexed item, but index {index} was given", entry.name)
        }
        (Indexing::Indexed, None) => format!("{} is an indexed item, but no index was given", entry.name),
        _ => return,
    };
    findings.push(Finding { severity: Severity::Warning, message });
}

fn check_value(entry: &CatalogEntry, value: &str, strictness: Severity, findings: &mut Vec<Finding>) {
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
                "{name} must be between {} and {}",
                min.map_or("any".into(), |m| m.to_string()),
                max.map_or("any".into(), |m| m.to_string())
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
