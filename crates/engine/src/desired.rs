//! Resolving the desired configuration of one device: device beats group beats global.

use std::collections::BTreeMap;

use crate::model::{DesiredEntry, ItemKey, Scope};

/// The value each item should have, and the scope that decided it.
pub type EffectiveDesired = BTreeMap<ItemKey, (String, Scope)>;

/// Merges the entries that apply to a device (entries for other devices or groups are ignored).
pub fn effective_desired(entries: &[DesiredEntry], mac: &str, group: Option<&str>) -> EffectiveDesired {
    let mut effective: EffectiveDesired = BTreeMap::new();
    let applies = |scope: &Scope| match scope {
        Scope::Global => true,
        Scope::Group(name) => Some(name.as_str()) == group,
        Scope::Device(device) => device == mac,
    };
    for entry in entries.iter().filter(|e| applies(&e.scope)) {
        let wins =
            effective.get(&entry.key).is_none_or(|(_, scope)| entry.scope.precedence() >= scope.precedence());
        if wins {
            effective.insert(entry.key.clone(), (entry.value.clone(), entry.scope.clone()));
        }
    }
    effective
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(scope: Scope, name: &str, value: &str) -> DesiredEntry {
        DesiredEntry { scope, key: ItemKey::new(name, None), value: value.into() }
    }

    #[test]
    fn device_beats_group_beats_global() {
        let entries = vec![
            entry(Scope::Device("AA:BB:CC:DD:EE:FF".into()), "a", "device"),
            entry(Scope::Global, "a", "global"),
            entry(Scope::Group("sales".into()), "a", "group"),
            entry(Scope::Group("sales".into()), "b", "group"),
            entry(Scope::Global, "b", "global"),
            entry(Scope::Global, "c", "global"),
            entry(Scope::Group("other".into()), "c", "other group"),
            entry(Scope::Device("00:00:00:00:00:01".into()), "c", "other device"),
        ];
        let effective = effective_desired(&entries, "AA:BB:CC:DD:EE:FF", Some("sales"));
        let value = |name: &str| effective[&ItemKey::new(name, None)].0.as_str();
        assert_eq!((value("a"), value("b"), value("c")), ("device", "group", "global"));
        let ungrouped = effective_desired(&entries, "AA:BB:CC:DD:EE:FF", None);
        assert_eq!(ungrouped[&ItemKey::new("b", None)].0, "global");
    }
}
