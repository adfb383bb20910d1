//! Previews of what phones will be sent: `GET /api/config/diff` and the per-device changes of a
//! `config set --dry-run`. Computed by the engine's `preview` module, whose rules the phone
//! endpoint applies too.

use serde::{Deserialize, Serialize};

/// One item a device lacks, as `GET /api/config/diff` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NextWriteView {
    /// Item name.
    pub name: String,
    /// Index, for multi-instance items.
    #[serde(default)]
    pub index: Option<u32>,
    /// What the phone reported (masked for secret items), if anything.
    #[serde(default)]
    pub reported: Option<String>,
    /// The value it is sent (masked for secret items and secret variables); the template when
    /// it cannot be rendered.
    pub value: String,
    /// The scope the value comes from.
    pub scope: String,
    /// The template it is rendered from, if any (masked for secret items).
    #[serde(default)]
    pub template: Option<String>,
    /// Why it is not sent at the next contact, if it is not.
    #[serde(default)]
    pub held: Option<String>,
}

/// One device of a diff: what it gets at its next contact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceDiff {
    /// The device.
    pub mac: String,
    /// Its model, if reported.
    #[serde(default)]
    pub model: Option<String>,
    /// The items it lacks, sent and held back.
    pub writes: Vec<NextWriteView>,
}

/// `GET /api/config/diff`: what each selected device would be sent at its next contact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigDiff {
    /// Devices looked at.
    pub devices_checked: usize,
    /// Devices that would be sent at least one value.
    pub devices_to_write: usize,
    /// Values that would be sent, over every device.
    pub writes_total: usize,
    /// Values held back (refused before, flagged, unrenderable, awaiting approval).
    pub held_total: usize,
    /// The devices with something to write or held back, in MAC order (up to `limit`).
    pub devices: Vec<DeviceDiff>,
    /// Whether more devices have something than are listed.
    pub devices_more: bool,
}

/// One item of one device that a configuration change moves (`config set --dry-run`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValueChangeView {
    /// `name` or `name[index]`.
    pub item: String,
    /// Before the change (masked where secret); `None`: no value.
    #[serde(default)]
    pub before: Option<String>,
    /// After the change; `None`: no value.
    #[serde(default)]
    pub after: Option<String>,
    /// Why the value after the change cannot be sent, if so.
    #[serde(default)]
    pub held: Option<String>,
}

/// One device's part of a configuration change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceChangeView {
    /// The device.
    pub mac: String,
    /// Its items that change.
    pub changes: Vec<ValueChangeView>,
}
