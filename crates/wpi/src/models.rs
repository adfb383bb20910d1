//! The phone models of this product line: the `device-type` string each reports, its family,
//! and the key modules that fit it.
//!
//! The OpenStage strings are the guide's (p. 35: `OpenStage 15` … `OpenStage 80`). The
//! OpenScape Desk Phone CP strings follow the form docs/wpi-protocol.md §7 records for a CP210
//! (`OpenScape Desk Phone CP210`); the other CP and IP strings follow that form and are
//! unverified. Every model here speaks the same WPI (docs/interop.md).

/// A family of phones sharing firmware lines and naming.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    /// OpenStage 15 … 80 (guide p. 35).
    OpenStage,
    /// OpenScape Desk Phone IP 35G / 55G (the guide's other product name).
    DeskPhoneIp,
    /// OpenScape Desk Phone CP100 … CP710, today's phones of the line.
    DeskPhoneCp,
}

impl Family {
    /// The family's name as administrators know it.
    pub fn label(self) -> &'static str {
        match self {
            Family::OpenStage => "OpenStage",
            Family::DeskPhoneIp => "OpenScape Desk Phone IP",
            Family::DeskPhoneCp => "OpenScape Desk Phone CP",
        }
    }

    /// What precedes a model's short name in its `device-type` (`OpenScape Desk Phone ` +
    /// `CP210`).
    fn prefix(self) -> &'static str {
        match self {
            Family::OpenStage => "OpenStage ",
            Family::DeskPhoneIp | Family::DeskPhoneCp => "OpenScape Desk Phone ",
        }
    }
}

/// One phone model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PhoneModel {
    /// The short name on the phone's label (`CP210`, `60`, `IP 55G`).
    pub short_name: &'static str,
    /// Its family.
    pub family: Family,
    /// The key modules that can be attached, by product name.
    pub key_modules: &'static [&'static str],
    /// How many free programmable keys it has on its normal level (guide p. 120: OpenStage 15
    /// and 60 keys 1-8, 40 keys 1-6, 80 keys 1-9, Desk Phone IP 35G 1-3, IP 55G 1-8); `None`
    /// where the guide does not say.
    pub programmable_keys: Option<u16>,
}

impl PhoneModel {
    /// The `device-type` the phone reports, e.g. `OpenScape Desk Phone CP210`.
    pub fn device_type(&self) -> String {
        format!("{}{}", self.family.prefix(), self.short_name)
    }
}

// Key module product names; which string a phone reports for an attached module (the
// `key-modules` inventory item) was not captured.
const KM_15: &[&str] = &["OpenStage Key Module 15"];
const KM_OPENSTAGE: &[&str] = &["OpenStage Key Module", "OpenStage BLF 40"];
const KM_400: &[&str] = &["OpenScape Key Module 400"];
const KM_600: &[&str] = &["OpenScape Key Module 600"];

const fn model(short_name: &'static str, family: Family, key_modules: &'static [&'static str]) -> PhoneModel {
    PhoneModel { short_name, family, key_modules, programmable_keys: None }
}

/// A model whose programmable keys the guide counts (p. 120).
const fn keyed(
    short_name: &'static str,
    family: Family,
    modules: &'static [&'static str],
    keys: u16,
) -> PhoneModel {
    PhoneModel { short_name, family, key_modules: modules, programmable_keys: Some(keys) }
}

/// Every known model, oldest family first.
pub const MODELS: &[PhoneModel] = &[
    keyed("15", Family::OpenStage, KM_15, 8),
    model("20E", Family::OpenStage, &[]),
    model("20", Family::OpenStage, &[]),
    keyed("40", Family::OpenStage, KM_OPENSTAGE, 6),
    keyed("60", Family::OpenStage, KM_OPENSTAGE, 8),
    keyed("80", Family::OpenStage, KM_OPENSTAGE, 9),
    keyed("IP 35G", Family::DeskPhoneIp, &[], 3),
    model("IP 35G Eco", Family::DeskPhoneIp, &[]),
    keyed("IP 55G", Family::DeskPhoneIp, KM_OPENSTAGE, 8),
    model("CP100", Family::DeskPhoneCp, &[]),
    model("CP110", Family::DeskPhoneCp, &[]),
    model("CP200", Family::DeskPhoneCp, &[]),
    model("CP205", Family::DeskPhoneCp, &[]),
    model("CP210", Family::DeskPhoneCp, &[]),
    model("CP400", Family::DeskPhoneCp, KM_400),
    model("CP410", Family::DeskPhoneCp, KM_400),
    model("CP600", Family::DeskPhoneCp, KM_600),
    model("CP700", Family::DeskPhoneCp, KM_600),
    model("CP700X", Family::DeskPhoneCp, KM_600),
    model("CP710", Family::DeskPhoneCp, KM_600),
];

/// The model a reported `device-type` names (exact, as phones send it).
pub fn by_device_type(device_type: &str) -> Option<&'static PhoneModel> {
    let device_type = device_type.trim();
    MODELS.iter().find(|m| m.device_type() == device_type)
}

/// Every known `device-type` string.
pub fn device_types() -> Vec<String> {
    MODELS.iter().map(PhoneModel::device_type).collect()
}

/// Lets an administrator name models the way the label on the phone does: `CP210`, `cp4*` or
/// `IP 55G` become `OpenScape Desk Phone CP210` … A pattern that already matches a known
/// `device-type` (`OpenStage 6*`), or that matches no short name, is returned unchanged.
/// `*` and `?` are wildcards; case is ignored, as the device filters ignore it.
pub fn full_model_pattern(pattern: &str) -> String {
    let pattern = pattern.trim();
    if MODELS.iter().any(|m| wildcard_match(pattern, &m.device_type())) {
        return pattern.to_owned();
    }
    let families: Vec<Family> =
        MODELS.iter().filter(|m| wildcard_match(pattern, m.short_name)).map(|m| m.family).collect();
    match families.first() {
        Some(first) if families.iter().all(|f| f.prefix() == first.prefix()) => {
            format!("{}{pattern}", first.prefix())
        }
        _ => pattern.to_owned(),
    }
}

/// The known models a pattern names (short names and wildcards as [`full_model_pattern`]
/// takes them), with the pattern in its full form; `Err` says the pattern names none and lists
/// the known ones.
pub fn models_matching(pattern: &str) -> Result<(String, Vec<&'static PhoneModel>), String> {
    let full = full_model_pattern(pattern);
    let matching: Vec<&'static PhoneModel> =
        MODELS.iter().filter(|m| wildcard_match(&full, &m.device_type())).collect();
    if matching.is_empty() {
        let known: Vec<&str> = MODELS.iter().map(|m| m.short_name).collect();
        return Err(format!("{pattern:?} matches no known model; known: {}", known.join(", ")));
    }
    Ok((full, matching))
}

/// Whether a stored file made for the model patterns `made_for` (none: any model) fits a phone
/// whose `device-type` is `model`.
pub fn fits_model(made_for: &[String], model: &str) -> bool {
    made_for.is_empty() || made_for.iter().any(|pattern| wildcard_match(pattern, model))
}

/// `*` (any run) and `?` (one character) wildcards, ignoring ASCII case.
pub fn wildcard_match(pattern: &str, text: &str) -> bool {
    let pattern: Vec<char> = pattern.chars().map(|c| c.to_ascii_lowercase()).collect();
    let text: Vec<char> = text.chars().map(|c| c.to_ascii_lowercase()).collect();
    let (mut p, mut t) = (0, 0);
    let mut backtrack: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && (pattern[p] == '?' || pattern[p] == text[t]) {
            p += 1;
            t += 1;
        } else if p < pattern.len() && pattern[p] == '*' {
            backtrack = Some((p, t));
            p += 1;
        } else if let Some((star, matched)) = backtrack {
            p = star + 1;
            t = matched + 1;
            backtrack = Some((star, matched + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_types_read_as_phones_report_them() {
        // guide p. 35 for OpenStage; a CP210 capture for the CP form (docs/wpi-protocol.md §7).
        assert_eq!(by_device_type("OpenStage 60").unwrap().family, Family::OpenStage);
        let cp210 = by_device_type("OpenScape Desk Phone CP210").unwrap();
        assert_eq!((cp210.short_name, cp210.family), ("CP210", Family::DeskPhoneCp));
        assert!(by_device_type("CP210").is_none(), "the short name is not what phones send");
        assert!(by_device_type("OpenStage 99").is_none());
        assert_eq!(device_types().len(), MODELS.len());
    }

    #[test]
    fn short_model_names_become_device_type_patterns() {
        assert_eq!(full_model_pattern("CP210"), "OpenScape Desk Phone CP210");
        assert_eq!(full_model_pattern("cp4*"), "OpenScape Desk Phone cp4*");
        assert_eq!(full_model_pattern("OpenStage 6*"), "OpenStage 6*");
        assert_eq!(full_model_pattern("60"), "OpenStage 60");
        assert_eq!(full_model_pattern("*"), "*");
        assert_eq!(full_model_pattern("Yealink T46"), "Yealink T46");
    }

    #[test]
    fn patterns_name_known_models_or_say_which_exist() {
        let (full, matching) = models_matching("CP4*").unwrap();
        assert_eq!(full, "OpenScape Desk Phone CP4*");
        assert_eq!(matching.iter().map(|m| m.short_name).collect::<Vec<_>>(), ["CP400", "CP410"]);
        assert!(
            models_matching("T46").unwrap_err().starts_with("\"T46\" matches no known model; known: 15, 20E")
        );
    }

    #[test]
    fn files_fit_the_models_they_are_made_for_or_any() {
        assert!(fits_model(&[], "OpenStage 60"));
        let cp4 = ["OpenScape Desk Phone CP4*".to_owned()];
        assert!(fits_model(&cp4, "OpenScape Desk Phone CP410"));
        assert!(!fits_model(&cp4, "OpenStage 60"));
    }

    #[test]
    fn wildcards_match_like_the_device_filters() {
        assert!(wildcard_match("openstage 6*", "OpenStage 60"));
        assert!(wildcard_match("CP?10", "CP710"));
        assert!(wildcard_match("*CP*", "OpenScape Desk Phone CP400"));
        assert!(!wildcard_match("CP2*", "CP400"));
        assert!(wildcard_match("", ""));
        assert!(!wildcard_match("", "x"));
    }
}
