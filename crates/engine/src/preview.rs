//! What a device will be sent at its next contact, and what a change of configuration changes,
//! for administrators' previews (`config diff`, `config set --dry-run`, `device show`).
//!
//! [`needs_write`] and [`held_back`] are the rules the engine itself applies when it plans a
//! `WriteItems` (`engine/inventory.rs`), so a preview and what the phone receives cannot differ.

use std::collections::BTreeSet;

use crate::desired::{Configuration, Resolution, Resolved, Unrenderable};
use crate::model::{DeviceRecord, ItemKey, WriteFailure};
use crate::newcomers::Approval;
use crate::template::DeviceFacts;

/// Why a value the device should have is not sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hold {
    /// The phone refused this very value before (with its status); it is sent again once the
    /// value changes.
    RefusedByPhone(String),
    /// A local change on the phone is flagged for an administrator (policy `flag`).
    Flagged,
    /// The template cannot be rendered for the device.
    CannotRender(String),
    /// The device waits for approval (`quarantine` or `reject` policy): nothing is written.
    AwaitingApproval(Approval),
}

impl std::fmt::Display for Hold {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Hold::RefusedByPhone(status) => write!(f, "refused by the phone: {status}"),
            Hold::Flagged => f.write_str("local change flagged"),
            Hold::CannotRender(reason) => write!(f, "the template cannot be rendered: {reason}"),
            Hold::AwaitingApproval(approval) => {
                write!(f, "the device is {} (opendls device approve)", approval.as_str())
            }
        }
    }
}

/// Whether the phone lacks `value` for `key`: what it reported differs, or it reported none.
pub fn needs_write(device: &DeviceRecord, key: &ItemKey, value: &str) -> bool {
    device.reported_value(key) != Some(value)
}

/// Why `value` would not be written to `key` although the phone lacks it, if it would not.
pub fn held_back(
    device: &DeviceRecord,
    key: &ItemKey,
    value: &str,
    failures: &[WriteFailure],
) -> Option<Hold> {
    if let Some(failure) = failures.iter().find(|f| &f.key == key && f.value == value) {
        return Some(Hold::RefusedByPhone(failure.status.clone()));
    }
    device.flagged.iter().any(|f| &f.key == key).then_some(Hold::Flagged)
}

/// What the device should get for one item that it does not have yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Wanted {
    /// A value, with where it came from.
    Value(Resolved),
    /// A template that cannot be rendered for the device.
    Unrenderable(Unrenderable),
}

/// One item the phone does not have as it should.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NextWrite {
    /// The item.
    pub key: ItemKey,
    /// What the phone reported, if anything.
    pub reported: Option<String>,
    /// What it should have.
    pub wanted: Wanted,
    /// Why it is not sent, if it is not.
    pub hold: Option<Hold>,
}

impl NextWrite {
    /// Whether it is sent at the next contact.
    pub fn is_sent(&self) -> bool {
        self.hold.is_none()
    }
}

/// Every item the phone lacks under `resolution`, in item order: those sent at its next contact
/// and those held back with the reason.
pub fn next_writes(
    device: &DeviceRecord,
    resolution: &Resolution,
    failures: &[WriteFailure],
) -> Vec<NextWrite> {
    let reported = |key: &ItemKey| device.reported_value(key).map(str::to_owned);
    let gate = (device.approval != Approval::Approved).then_some(Hold::AwaitingApproval(device.approval));
    let mut writes: Vec<NextWrite> = resolution
        .values
        .iter()
        .filter(|(key, resolved)| needs_write(device, key, &resolved.value))
        .map(|(key, resolved)| NextWrite {
            key: key.clone(),
            reported: reported(key),
            hold: gate.clone().or_else(|| held_back(device, key, &resolved.value, failures)),
            wanted: Wanted::Value(resolved.clone()),
        })
        .collect();
    writes.extend(resolution.unrenderable.iter().map(|(key, problem)| NextWrite {
        key: key.clone(),
        reported: reported(key),
        hold: Some(Hold::CannotRender(problem.reason.clone())),
        wanted: Wanted::Unrenderable(problem.clone()),
    }));
    writes.sort_by(|a, b| a.key.cmp(&b.key));
    writes
}

/// How one item of a device resolves before and after a change of configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValueChange {
    /// The item.
    pub key: ItemKey,
    /// Before the change (`None`: no value).
    pub before: Option<Wanted>,
    /// After the change.
    pub after: Option<Wanted>,
}

/// The items whose value for `device` differs between `before` and `after`, looking only at
/// `keys` (`None`: every item). The scope a value comes from does not matter, only what the
/// device would be sent or held back.
pub fn changes(
    before: &Configuration,
    after: &Configuration,
    keys: Option<&[ItemKey]>,
    device: &DeviceFacts<'_>,
) -> Vec<ValueChange> {
    let wanted = |key: &ItemKey| keys.is_none_or(|keys| keys.contains(key));
    let (old, new) = (before.resolve_only(device, wanted), after.resolve_only(device, wanted));
    let items: BTreeSet<&ItemKey> =
        [&old, &new].iter().flat_map(|r| r.values.keys().chain(r.unrenderable.keys())).collect();
    items
        .into_iter()
        .filter_map(|key| {
            let (before, after) = (wanted_of(&old, key), wanted_of(&new, key));
            let same = match (&before, &after) {
                (Some(Wanted::Value(a)), Some(Wanted::Value(b))) => a.value == b.value,
                (Some(Wanted::Unrenderable(_)), Some(Wanted::Unrenderable(_))) | (None, None) => true,
                _ => false,
            };
            (!same).then(|| ValueChange { key: key.clone(), before, after })
        })
        .collect()
}

fn wanted_of(resolution: &Resolution, key: &ItemKey) -> Option<Wanted> {
    match (resolution.values.get(key), resolution.unrenderable.get(key)) {
        (Some(value), _) => Some(Wanted::Value(value.clone())),
        (None, Some(problem)) => Some(Wanted::Unrenderable(problem.clone())),
        (None, None) => None,
    }
}

#[cfg(test)]
#[path = "preview_tests.rs"]
mod tests;
