//! The device's inventory: merging what a phone reports, accepting or reverting its local
//! changes, and planning and recording the writes that bring it to the desired values.

use std::collections::BTreeMap;

use opendls_wpi::catalog::Access;
use opendls_wpi::fragment::{SplitLimits, split_items};
use opendls_wpi::{Action, Catalog, DlsMessage, Item, ItemStatus};

use super::records::{change_event, event};
use super::{Decision, EngineSettings, Input};
use crate::desired::EffectiveDesired;
use crate::model::{
    DesiredEntry, DeviceRecord, EventKind, FlaggedChange, HistoryEvent, InteractionState, ItemKey,
    LocalChangePolicy, ReportedItem, Scope, Timestamp, WriteFailure,
};
use crate::preview::{held_back, needs_write};

/// Updates one reported item, recording a change when a known value differs.
pub(super) fn merge_reported(
    device: &mut DeviceRecord,
    item: ReportedItem,
    now: Timestamp,
    reason: &str,
    history: &mut Vec<HistoryEvent>,
) {
    let previous = device.reported.get(&item.key);
    if previous.is_some_and(|p| p.value != item.value || p.status != item.status) {
        let old = previous.map(|p| p.value.clone());
        history.push(change_event(
            event(&device.mac, now, EventKind::ItemChanged, reason, ""),
            &item.key,
            old,
            Some(&item.value),
        ));
    }
    device.reported.insert(item.key.clone(), item);
}

/// Replaces the reported state with a complete `ReadAllItems` reply.
pub(super) fn apply_full_read(
    device: &mut DeviceRecord,
    items: &[Item],
    desired: &mut EffectiveDesired,
    input: &Input,
    state: &InteractionState,
    decision: &mut Decision,
) {
    let now = input.now;
    let reason = state.reason.as_str();
    let catalog = Catalog::builtin();
    let first_read = device.inventory_read_at.is_none();
    let mut fresh: BTreeMap<ItemKey, ReportedItem> = items
        .iter()
        .map(|item| (ItemKey::new(item.name.clone(), item.index), ReportedItem::from(item)))
        .collect();
    let mut local_changes = Vec::new();
    for (key, old) in &device.reported {
        match fresh.get(key) {
            Some(new) if new.value == old.value && new.status == old.status => {}
            Some(new) if state.local_change_read && new.status.is_none() => local_changes.push(new.clone()),
            Some(new) => decision.history.push(change_event(
                event(&device.mac, now, EventKind::ItemChanged, reason, ""),
                key,
                Some(old.value.clone()),
                Some(&new.value),
            )),
            // guide p. 30: ReadAllItems leaves out certificates, so items only we write stay.
            None if catalog.get(&key.name).is_some_and(|e| e.access == Access::WriteOnly) => {
                fresh.insert(key.clone(), old.clone());
            }
            None if first_read => {}
            None => decision.history.push(change_event(
                event(&device.mac, now, EventKind::ItemChanged, reason, "no longer reported"),
                key,
                Some(old.value.clone()),
                None,
            )),
        }
    }
    if first_read {
        let detail = format!("inventory read: {}", crate::model::plural(fresh.len(), "item"));
        decision.history.push(event(&device.mac, now, EventKind::ItemChanged, reason, &detail));
    }
    device.reported = fresh;
    device.inventory_read_at = Some(now);
    update_identity(device);
    if !local_changes.is_empty() {
        apply_local_changes(device, local_changes, desired, input.policy, now, reason, decision);
    }
}

/// Applies the local-change policy to values the phone changed itself (guide p. 37-40).
pub(super) fn apply_local_changes(
    device: &mut DeviceRecord,
    changes: Vec<ReportedItem>,
    desired: &mut EffectiveDesired,
    policy: LocalChangePolicy,
    now: Timestamp,
    reason: &str,
    decision: &mut Decision,
) {
    for change in changes {
        let key = change.key.clone();
        let old = device.reported.get(&key).map(|r| r.value.clone());
        let managed = desired.get(&key).map(|(value, _)| value.clone());
        let verdict = match (&managed, policy) {
            (Some(value), _) if *value == change.value => "matches the desired value",
            (None, _) => "accepted (unmanaged item)",
            (Some(_), LocalChangePolicy::Accept) => "accepted: now the device's desired value",
            (Some(_), LocalChangePolicy::AcceptUnmanaged | LocalChangePolicy::Revert) => {
                "reverted to the desired value"
            }
            (Some(_), LocalChangePolicy::Flag) => "kept and flagged for an administrator",
        };
        decision.history.push(change_event(
            event(&device.mac, now, EventKind::LocalChange, reason, &format!("source phone; {verdict}")),
            &key,
            old,
            Some(&change.value),
        ));
        match (managed, policy) {
            (Some(value), _) if value == change.value => {}
            (Some(_), LocalChangePolicy::Accept) => {
                let entry = DesiredEntry {
                    scope: Scope::Device(device.mac.clone()),
                    key: key.clone(),
                    value: change.value.clone(),
                };
                desired.insert(key.clone(), (change.value.clone(), entry.scope.clone()));
                decision.desired_set.push(entry);
            }
            (Some(desired_value), LocalChangePolicy::Flag) => {
                device.flagged.retain(|f| f.key != key);
                device.flagged.push(FlaggedChange {
                    key: key.clone(),
                    phone_value: change.value.clone(),
                    desired_value,
                    at: now,
                });
                decision.history.push(event(
                    &device.mac,
                    now,
                    EventKind::Flagged,
                    reason,
                    &format!("{key} flagged"),
                ));
            }
            _ => {}
        }
        device.reported.insert(key, change);
    }
}

/// The items to write: desired values the phone does not have, minus flagged items and values
/// the phone already refused, split into messages (guide p. 69-71).
pub(super) fn plan_writes(
    device: &mut DeviceRecord,
    desired: &EffectiveDesired,
    failures: &[WriteFailure],
    max_items: Option<i64>,
    settings: &EngineSettings,
) -> Result<Vec<Vec<ReportedItem>>, opendls_wpi::fragment::SplitError> {
    // A flag resolves itself once the phone and the desired value agree again.
    let mut flagged = std::mem::take(&mut device.flagged);
    flagged.retain(|f| {
        desired.get(&f.key).is_some_and(|(value, _)| device.reported_value(&f.key) != Some(value))
    });
    device.flagged = flagged;
    let items: Vec<Item> = desired
        .iter()
        // The rules every preview applies too (crate::preview).
        .filter(|(key, (value, _))| needs_write(device, key, value))
        .filter(|(key, (value, _))| held_back(device, key, value, failures).is_none())
        .map(|(key, (value, _))| Item { index: key.index, ..Item::new(key.name.clone(), value.clone()) })
        .collect();
    if items.is_empty() {
        return Ok(Vec::new());
    }
    let limits = SplitLimits {
        max_items: max_items.filter(|n| *n > 0).and_then(|n| usize::try_from(n).ok()),
        max_bytes: settings.max_message_bytes,
        ..SplitLimits::default()
    };
    let parts = split_items(&Action::WriteItems, items, limits)?;
    Ok(parts.into_iter().map(|part| part.iter().map(ReportedItem::from).collect()).collect())
}

/// Records the phone's answer to one `WriteItems`: per-item statuses are failures, the rest
/// was stored (guide p. 77-83).
pub(super) fn record_write_results(
    device: &mut DeviceRecord,
    sent: &[ReportedItem],
    input: &Input,
    reason: &str,
    decision: &mut Decision,
) {
    let (now, reply_items) = (input.now, &input.message.items);
    for written in sent {
        let refusal = reply_items.iter().find(|item| {
            item.name == written.key.name && item.index == written.key.index && item.status.is_some()
        });
        match refusal {
            Some(item) => {
                let status = item.status.clone().unwrap_or(ItemStatus::UndefinedStatus).to_string();
                decision.history.push(change_event(
                    event(&device.mac, now, EventKind::WriteFailed, reason, &status),
                    &written.key,
                    None,
                    Some(&written.value),
                ));
                decision.failures_added.push(WriteFailure {
                    key: written.key.clone(),
                    value: written.value.clone(),
                    status,
                    at: now,
                });
            }
            None => {
                let old = device.reported.get(&written.key).map(|r| r.value.clone());
                decision.history.push(change_event(
                    event(&device.mac, now, EventKind::ItemWritten, reason, ""),
                    &written.key,
                    old,
                    Some(&written.value),
                ));
                // Only refusals on record need clearing (each clearing is a database statement).
                if input.failures.iter().any(|f| f.key == written.key) {
                    decision.failures_cleared.push(written.key.clone());
                }
                device.reported.insert(written.key.clone(), ReportedItem { status: None, ..written.clone() });
            }
        }
    }
    update_identity(device);
}

pub(super) fn write_message(nonce: &str, items: &[ReportedItem]) -> DlsMessage {
    DlsMessage::with_items(nonce, Action::WriteItems, items.iter().map(to_wpi_item).collect())
}

pub(super) fn to_wpi_item(item: &ReportedItem) -> Item {
    Item {
        name: item.key.name.clone(),
        index: item.key.index,
        item_type: None,
        status: item.status.as_deref().map(ItemStatus::from_wire),
        value: item.value.clone(),
    }
}

/// Copies the identity items into the record's searchable fields.
pub(super) fn update_identity(device: &mut DeviceRecord) {
    let value = |name: &str| device.reported_value(&ItemKey::new(name, None)).map(str::to_owned);
    let (e164, device_type, software_version, contact_me_uri) =
        (value("e164"), value("device-type"), value("software-version"), value("contact-me-uri"));
    device.e164 = e164.or(device.e164.take());
    device.device_type = device_type.or(device.device_type.take());
    device.software_version = software_version.or(device.software_version.take());
    device.contact_me_uri = contact_me_uri.or(device.contact_me_uri.take());
}
