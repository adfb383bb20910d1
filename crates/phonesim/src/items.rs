//! A realistic item set: every catalog item a phone reports (write-only items such as passwords
//! and certificates are not part of `ReadAllItems`, guide p. 30), with plausible values.

use opendls_wpi::Item;
use opendls_wpi::catalog::{Access, CatalogEntry, Indexing, ValueRule};

use crate::phone::PhoneProfile;

/// The basic items a phone sends with every message it starts an interaction with, less the
/// local-change markers, which only a `local-changes` message carries (guide p. 40).
pub fn basic_item_names() -> impl Iterator<Item = &'static str> {
    opendls_wpi::catalog::BASIC_ITEMS
        .iter()
        .copied()
        .filter(|name| !matches!(*name, "configuration-attached-flag" | "configuration-attached-number"))
}

/// The items of a phone with this profile, in catalog order.
pub fn realistic_items(profile: &PhoneProfile) -> Vec<Item> {
    let catalog = opendls_wpi::Catalog::builtin();
    let mut items: Vec<Item> = vec![
        Item::new("device-type", &profile.model),
        Item::new("related-device-type", &profile.model),
        Item::new("software-type", "Siemens SIP"),
        Item::new("related-software-type", "Siemens SIP"),
        Item::new("software-version", &profile.firmware),
        Item::new("related-software-version", &profile.firmware),
        Item::new("contact-me-uri", &profile.contact_me_uri),
        Item::new("mac-addr", &profile.mac),
        Item::new("configuration-changed-flag", "false"),
        Item::new("part-number", &profile.part_number),
        Item::new("sip-mobility-state", "0"),
        Item::new("e164", &profile.e164),
        Item::new("user-pwd", "000000"),
        Item::new("basic-e164", &profile.e164),
        Item::new("mobility-enabled", "false"),
        // Polling through a firewall, off until a service writes it (guide p. 15, 24).
        Item::new(opendls_wpi::catalog::DCMP_URL_ITEM, ""),
        Item::new(opendls_wpi::catalog::DCMP_INTERVAL_ITEM, "0"),
    ];
    for entry in catalog.entries() {
        let reported =
            !matches!(entry.access, Access::WriteOnly) && !basic_item_names().any(|name| name == entry.name);
        if reported {
            let index = (entry.indexing == Indexing::Indexed).then_some(first_index(entry));
            items.push(Item { index, ..Item::new(entry.name.clone(), plausible_value(entry, profile)) });
        }
    }
    items
}

/// `dls-server-ca` and a few code-derived items count from 0 (wpi-items-notes §6); most from 1.
fn first_index(entry: &CatalogEntry) -> u32 {
    if entry.index_note.contains("0-based") { 0 } else { 1 }
}

fn plausible_value(entry: &CatalogEntry, profile: &PhoneProfile) -> String {
    let value = match &entry.rule {
        ValueRule::Boolean => "false".to_owned(),
        ValueRule::Integer { min, max } => {
            min.unwrap_or(0).clamp(i64::MIN, max.unwrap_or(i64::MAX)).to_string()
        }
        ValueRule::OneOf { tokens, .. } => tokens.first().cloned().unwrap_or_default(),
        // Documentation addresses (RFC 5737): values only, never contacted.
        ValueRule::IpAddress => "192.0.2.10".to_owned(),
        ValueRule::Host => "pbx.example.test".to_owned(),
        ValueRule::MacAddress => profile.mac.clone(),
        ValueRule::Text => format!("{} {}", entry.name, profile.e164),
    };
    match entry.max_chars() {
        Some(limit) => value.chars().take(limit).collect(),
        None => value,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_realistic_value_passes_the_catalog() {
        let profile = PhoneProfile::numbered(3);
        let items = realistic_items(&profile);
        assert!(items.len() >= 300, "{}", items.len());
        let catalog = opendls_wpi::Catalog::builtin();
        for item in &items {
            let check = catalog.check(&item.name, item.index, &item.value);
            assert!(!check.is_refused(), "{} = {:?}: {:?}", item.name, item.value, check.findings);
        }
        let size: usize = items.iter().map(|i| i.name.len() + i.value.len() + 30).sum();
        assert!((15_000..60_000).contains(&size), "about 30 kB of items, got {size}");
    }
}
