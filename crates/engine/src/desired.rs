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

/// How many of `devices` (MAC and group) a `change` gives a different effective value of at
/// least one item: a device is touched when no narrower scope overrides the changed entry and the
/// value it gets differs from the one it has now. Costs one pass over `devices` per changed item.
pub fn devices_affected<'a>(
    entries: &[DesiredEntry],
    change: &[DesiredEntry],
    devices: impl IntoIterator<Item = (&'a str, Option<&'a str>)>,
) -> usize {
    let keys: Vec<&ItemKey> = change.iter().map(|c| &c.key).collect();
    let current = ScopedValues::of(entries.iter().filter(|e| keys.contains(&&e.key)));
    let mut after = current.clone();
    for entry in change {
        after.insert(entry);
    }
    devices
        .into_iter()
        .filter(|(mac, group)| {
            keys.iter().any(|key| current.value(key, mac, *group) != after.value(key, mac, *group))
        })
        .count()
}

/// Desired values of a few items, indexed by scope for per-device lookups.
#[derive(Clone, Default)]
struct ScopedValues<'e> {
    global: BTreeMap<&'e ItemKey, &'e str>,
    groups: BTreeMap<(&'e ItemKey, &'e str), &'e str>,
    devices: BTreeMap<(&'e ItemKey, &'e str), &'e str>,
}

impl<'e> ScopedValues<'e> {
    fn of(entries: impl Iterator<Item = &'e DesiredEntry>) -> Self {
        let mut values = ScopedValues::default();
        for entry in entries {
            values.insert(entry);
        }
        values
    }

    fn insert(&mut self, entry: &'e DesiredEntry) {
        let value = entry.value.as_str();
        match &entry.scope {
            Scope::Global => _ = self.global.insert(&entry.key, value),
            Scope::Group(name) => _ = self.groups.insert((&entry.key, name), value),
            Scope::Device(mac) => _ = self.devices.insert((&entry.key, mac), value),
        }
    }

    fn value(&self, key: &'e ItemKey, mac: &str, group: Option<&str>) -> Option<&'e str> {
        self.devices
            .get(&(key, mac))
            .or_else(|| group.and_then(|group| self.groups.get(&(key, group))))
            .or_else(|| self.global.get(key))
            .copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(scope: Scope, name: &str, value: &str) -> DesiredEntry {
        DesiredEntry { scope, key: ItemKey::new(name, None), value: value.into() }
    }

    #[test]
    fn a_change_touches_only_devices_it_reaches() {
        let sales = Some("sales");
        let devices = [("A", sales), ("B", sales), ("C", None), ("D", Some("lobby"))];
        let entries = vec![
            entry(Scope::Global, "a", "old"),
            entry(Scope::Group("sales".into()), "a", "sales"),
            entry(Scope::Device("B".into()), "a", "mine"),
        ];
        let global = [entry(Scope::Global, "a", "new")];
        assert_eq!(devices_affected(&entries, &global, devices), 2, "C and D; A and B are overridden");
        let group = [entry(Scope::Group("sales".into()), "a", "sales2")];
        assert_eq!(devices_affected(&entries, &group, devices), 1, "A; B has its own");
        let same = [entry(Scope::Group("sales".into()), "a", "sales")];
        assert_eq!(devices_affected(&entries, &same, devices), 0, "nothing differs");
        let fresh = [entry(Scope::Device("C".into()), "b", "x")];
        assert_eq!(devices_affected(&entries, &fresh, devices), 1);
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
