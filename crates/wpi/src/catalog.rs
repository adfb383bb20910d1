//! The item catalog: every known item name with its type, range and provenance, and a validator.
//!
//! The source is `data/wpi-items.tsv` (a copy of the team's `shared/docs/wpi-items.tsv`, kept
//! identical by a test) with opendls' corrections from `data/wpi-items-amendments.tsv`, each
//! with its reason. Both are embedded in the binary and parsed once on first use, so the Rust
//! data can never drift from the TSVs.
//!
//! The `values` column is prose written from the guide's tables; [`ValueRule`] reads the parts of
//! it that are machine-checkable (booleans, integer ranges, enumerations, length limits, address
//! forms) and ignores the rest. Rows the guide (or Unify's wiki) documents give refusals; rows
//! taken only from third-party code give warnings, because their ranges are unverified.

use std::collections::HashMap;
use std::sync::OnceLock;

use rules::{
    check_characters, check_index, check_value, derive_rule, index_range, read_access, read_indexing,
    read_provenance, standard_range,
};

mod amend;
mod rules;
mod suggest;

pub use amend::{Amendment, amendments};
pub use suggest::did_you_mean;

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

/// opendls' corrections to the shared catalog, each with its reason ([`Catalog::amended`]).
pub const AMENDMENTS_TSV: &str = include_str!("../data/wpi-items-amendments.tsv");

const COLUMNS: [&str; 8] = ["name", "indexed", "type", "values", "access", "group", "page", "description"];

/// Where a catalog row's facts come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Provenance {
    /// Pages of the Developer's Guide (A31003-S2000-R102-16-7620), e.g. `"120,122,138"`.
    Guide(String),
    /// Unify's wiki page "WPI Interface Enhancements".
    UnifyWiki,
    /// Only seen in working third-party servers or simulators; type and range unverified.
    Unverified {
        /// The page column as written (`no manual page reached; source: GSN,GEM`).
        note: String,
        /// The sources it names (wpi-items-notes: GSN, GEM, SIM, DLSIR, …).
        sources: Vec<String>,
    },
}

impl Provenance {
    /// Whether values of this row can be refused on its evidence.
    pub fn is_verified(&self) -> bool {
        !matches!(self, Provenance::Unverified { .. })
    }

    /// Whether the row rests on one unverified source only: its name, type and range are the
    /// least certain in the catalog.
    pub fn is_single_source(&self) -> bool {
        matches!(self, Provenance::Unverified { sources, .. } if sources.len() <= 1)
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
    /// Indexed only where several instances travel together (the deployment items: none in a
    /// single deployment, `1`, `2`, … in a multiple one; guide p. 53, 55, 57).
    Optional,
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
    /// The inclusive index range the index note states, if it states one.
    pub index_range: Option<(u32, u32)>,
    /// Whether its values are secrets, masked wherever they are shown and sealed at rest
    /// ([`crate::secrets::SECRET_ITEM_NAMES`]).
    pub secret: bool,
    /// Why the value's range holds whatever the row's provenance (a standard, such as IEEE
    /// 802.1Q for VLAN IDs): out-of-range values of such rows are refused even when unverified.
    pub standard: Option<&'static str>,
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

/// Builds a row from the eight TSV fields.
fn entry_from_fields(fields: &[&str]) -> Result<CatalogEntry, String> {
    let [name, indexed, type_text, values, access, group, page, description] = fields[..] else {
        return Err(format!("{} fields, expected 8", fields.len()));
    };
    let name = name.trim();
    if name.is_empty() {
        return Err("empty item name".into());
    }
    let standard = standard_range(name, type_text);
    let models = model_rule(name);
    let rule = match (standard, &models) {
        (Some((min, max, _)), _) => ValueRule::Integer { min: Some(min), max: Some(max) },
        (None, Some((rule, _))) => rule.clone(),
        (None, None) => derive_rule(type_text, values),
    };
    Ok(CatalogEntry {
        name: name.to_owned(),
        index_range: index_range(indexed),
        secret: crate::secrets::SECRET_ITEM_NAMES.contains(&name),
        standard: standard.map(|(_, _, why)| why),
        indexing: read_indexing(indexed),
        index_note: indexed.to_owned(),
        type_text: type_text.to_owned(),
        values_text: models.map_or_else(|| values.to_owned(), |(_, text)| text),
        access: read_access(access),
        group: group.to_owned(),
        provenance: read_provenance(page),
        description: description.to_owned(),
        rule,
    })
}

/// `device-type` and `related-device-type` take the model list of [`crate::models`], so a new
/// model is added in one place; an unlisted model still only warns (newer phones exist).
fn model_rule(name: &str) -> Option<(ValueRule, String)> {
    if name != "device-type" && name != "related-device-type" {
        return None;
    }
    let tokens = crate::models::device_types();
    let text = format!("{} (others for newer models)", tokens.join(" / "));
    Some((ValueRule::OneOf { tokens, open: true }, text))
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
            let shared =
                Catalog::from_tsv(CATALOG_TSV).expect("the embedded catalog is checked by the tests");
            shared.amended(AMENDMENTS_TSV).expect("the amendments are checked by the tests")
        })
    }

    /// Reads a catalog in the TSV form of `wpi-items.tsv`.
    pub fn from_tsv(tsv: &str) -> Result<Catalog, CatalogError> {
        let mut lines = tsv.lines().enumerate();
        let header: Vec<&str> = lines.next().map(|(_, l)| l.split('\t').collect()).unwrap_or_default();
        if header != COLUMNS {
            return Err(CatalogError { line: 1, problem: format!("header must be {}", COLUMNS.join(" ")) });
        }
        let mut catalog = Catalog { entries: Vec::new(), by_name: HashMap::new() };
        for (number, line) in lines {
            if line.trim().is_empty() {
                continue;
            }
            let fields: Vec<&str> = line.split('\t').collect();
            let entry =
                entry_from_fields(&fields).map_err(|problem| CatalogError { line: number + 1, problem })?;
            if catalog.by_name.insert(entry.name.clone(), catalog.entries.len()).is_some() {
                return Err(CatalogError {
                    line: number + 1,
                    problem: format!("duplicate item {}", entry.name),
                });
            }
            catalog.entries.push(entry);
        }
        Ok(catalog)
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
        let verified = entry.provenance.is_verified();
        let strictness = if verified { Severity::Refusal } else { Severity::Warning };
        let value_strictness = if entry.standard.is_some() { Severity::Refusal } else { strictness };
        let mut findings = Vec::new();
        check_characters(value, &mut findings);
        check_index(entry, index, strictness, &mut findings);
        check_value(entry, value, value_strictness, &mut findings);
        findings.sort_by_key(|f| std::cmp::Reverse(f.severity));
        ItemCheck { entry: Some(entry), findings }
    }

    /// Checks where a template will be written, before any value exists: the name, the index
    /// and whether the phone lets it be written. The rendered values are checked per device.
    pub fn check_template_target(&self, name: &str, index: Option<u32>) -> ItemCheck<'_> {
        let Some(entry) = self.get(name) else {
            return ItemCheck { entry: None, findings: Vec::new() };
        };
        let strictness = if entry.provenance.is_verified() { Severity::Refusal } else { Severity::Warning };
        let mut findings = Vec::new();
        check_index(entry, index, strictness, &mut findings);
        if entry.access == Access::ReadOnly {
            findings
                .push(Finding { severity: strictness, message: format!("{name} is read-only on the phone") });
        }
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
