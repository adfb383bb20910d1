//! How contact-me reaches phones: the guide's POST by default, GET or the phone's HTTPS web
//! interface where a site's phones want it, chosen per group or model.

use serde::{Deserialize, Serialize};

/// The form of a contact-me request (docs/wpi-protocol.md §2.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ContactMeStyle {
    /// `POST` of the form fields to the phone's `contact-me-uri`, port 8085 (guide p. 14-15).
    #[default]
    Post,
    /// `GET` of the `contact-me-uri` with the fields in the query string; phones accept it,
    /// and other servers send it (Pentagrid's proof of concept, docs/peers-and-expectations).
    Get,
    /// `GET` with the fields in the query string through the phone's web interface over
    /// HTTPS (port 443 unless `web_port` says otherwise), for sites that block port 8085.
    HttpsWeb,
}

impl ContactMeStyle {
    /// The name used in the configuration and in logs.
    pub fn as_str(self) -> &'static str {
        match self {
            ContactMeStyle::Post => "post",
            ContactMeStyle::Get => "get",
            ContactMeStyle::HttpsWeb => "https-web",
        }
    }
}

/// The port of a phone's web interface over HTTPS.
pub const DEFAULT_WEB_PORT: u16 = 443;

/// A contact-me form for some phones: those of a group, of a model (`device-type`, short names
/// and wildcards as jobs take them: `CP*`, `OpenStage 60`), or both. The first matching rule
/// wins; phones no rule matches get `jobs.contact_me_style`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContactMeRule {
    /// The group the rule is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// The model pattern the rule is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// The form to use.
    pub style: ContactMeStyle,
    /// The web interface's HTTPS port, for `https-web`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub web_port: Option<u16>,
}

/// A contact-me's form and, for `https-web`, the port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContactMeManner {
    /// The form.
    pub style: ContactMeStyle,
    /// The port of the phone's web interface (used by `https-web` only).
    pub web_port: u16,
}

impl ContactMeRule {
    /// Whether the rule is for a phone of this group and model.
    pub fn matches(&self, group: Option<&str>, device_type: Option<&str>) -> bool {
        let group_matches = self.group.as_deref().is_none_or(|wanted| group == Some(wanted));
        let model_matches = self.model.as_deref().is_none_or(|pattern| {
            let pattern = opendls_wpi::models::full_model_pattern(pattern);
            device_type.is_some_and(|model| opendls_wpi::models::wildcard_match(&pattern, model))
        });
        group_matches && model_matches
    }

    /// What is wrong with the rule, if anything.
    pub fn problem(&self) -> Option<&'static str> {
        if self.group.is_none() && self.model.is_none() {
            return Some("a rule needs a group or a model (jobs.contact_me_style sets the default)");
        }
        if self.web_port.is_some() && self.style != ContactMeStyle::HttpsWeb {
            return Some("web_port applies to style \"https-web\" only");
        }
        if self.web_port == Some(0) {
            return Some("web_port must not be 0");
        }
        None
    }
}

/// The manner for one phone: the first matching rule's, or the default style.
pub fn contact_me_manner(
    default: ContactMeStyle,
    rules: &[ContactMeRule],
    group: Option<&str>,
    device_type: Option<&str>,
) -> ContactMeManner {
    match rules.iter().find(|rule| rule.matches(group, device_type)) {
        Some(rule) => {
            ContactMeManner { style: rule.style, web_port: rule.web_port.unwrap_or(DEFAULT_WEB_PORT) }
        }
        None => ContactMeManner { style: default, web_port: DEFAULT_WEB_PORT },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(group: Option<&str>, model: Option<&str>, style: ContactMeStyle) -> ContactMeRule {
        ContactMeRule { group: group.map(Into::into), model: model.map(Into::into), style, web_port: None }
    }

    #[test]
    fn the_first_matching_rule_wins() {
        let rules = [
            rule(Some("branch"), Some("CP*"), ContactMeStyle::HttpsWeb),
            rule(None, Some("CP*"), ContactMeStyle::Get),
            rule(Some("branch"), None, ContactMeStyle::Post),
        ];
        let cp210 = Some("OpenScape Desk Phone CP210");
        let manner = |group, model| contact_me_manner(ContactMeStyle::Post, &rules, group, model).style;
        assert_eq!(manner(Some("branch"), cp210), ContactMeStyle::HttpsWeb);
        assert_eq!(manner(None, cp210), ContactMeStyle::Get);
        assert_eq!(manner(Some("branch"), Some("OpenStage 60")), ContactMeStyle::Post);
        assert_eq!(manner(None, None), ContactMeStyle::Post);
        assert_eq!(contact_me_manner(ContactMeStyle::Get, &[], None, None).style, ContactMeStyle::Get);
        assert_eq!(contact_me_manner(ContactMeStyle::Get, &rules, Some("branch"), cp210).web_port, 443);
    }

    #[test]
    fn rules_must_say_whom_and_how() {
        assert!(rule(None, None, ContactMeStyle::Get).problem().is_some());
        let mut port_without_https = rule(Some("g"), None, ContactMeStyle::Get);
        port_without_https.web_port = Some(8443);
        assert!(port_without_https.problem().is_some());
        assert!(rule(Some("g"), None, ContactMeStyle::HttpsWeb).problem().is_none());
    }
}
