//! The admin API's documents for templates: variables, a device's effective configuration and
//! the check of every template against every device.

use serde::{Deserialize, Serialize};

/// A variable, in `GET /api/variables`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VariableView {
    /// `global`, `group` or `device`.
    pub scope: String,
    /// The group name or MAC; absent for global.
    #[serde(default)]
    pub target: Option<String>,
    /// Its name.
    pub name: String,
    /// Its value (masked when secret).
    pub value: String,
    /// Whether it is secret.
    #[serde(default)]
    pub secret: bool,
}

/// One variable of a [`VariableChange`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VariableValue {
    /// Its name: letters, digits, `_` and `-`.
    pub name: String,
    /// Its value.
    pub value: String,
}

/// Body of `PUT /api/variables`: variables set at one scope together, all or none.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VariableChange {
    /// `global`, `group` or `device`.
    pub scope: String,
    /// The group name or MAC; absent for global.
    #[serde(default)]
    pub target: Option<String>,
    /// The variables.
    pub values: Vec<VariableValue>,
    /// Whether they are secret (sealed at rest, masked everywhere).
    #[serde(default)]
    pub secret: bool,
    /// Check and count the devices they change, but store nothing.
    #[serde(default)]
    pub dry_run: bool,
}

/// Body of `DELETE /api/variables`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VariableRemoval {
    /// `global`, `group` or `device`.
    pub scope: String,
    /// The group name or MAC; absent for global.
    #[serde(default)]
    pub target: Option<String>,
    /// Its name.
    pub name: String,
}

/// Answer to `PUT` and `DELETE /api/variables`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VariableChangeResult {
    /// Whether anything was stored (false for a dry run).
    pub applied: bool,
    /// Known devices whose rendered values change.
    pub devices_affected: usize,
    /// Templates that cannot be rendered after the change, per device (the first ones).
    pub cannot_render: Vec<RenderProblem>,
    /// How many (device, item) pairs cannot be rendered after the change, in all.
    pub cannot_render_total: usize,
}

/// A template that cannot be rendered for a device: nothing is written for that item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RenderProblem {
    /// The device.
    pub mac: String,
    /// `name` or `name[index]`.
    pub item: String,
    /// The scope whose entry is the template (`global`, `model OpenStage 60`, `group sales`, …).
    pub scope: String,
    /// The template (masked for secret items).
    pub template: String,
    /// Why it cannot be rendered.
    pub reason: String,
}

/// One item of `GET /api/config/effective/{mac}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EffectiveItem {
    /// Item name.
    pub name: String,
    /// Index, for multi-instance items.
    #[serde(default)]
    pub index: Option<u32>,
    /// The value the device is sent (masked for secret items and secret variables).
    pub value: String,
    /// The scope it comes from (`global`, `model …`, `group …`, `device …`).
    pub scope: String,
    /// The template it was rendered from (masked for secret items), if any.
    #[serde(default)]
    pub template: Option<String>,
    /// Each variable the template used and where it was set: `device.var.name from device …`.
    #[serde(default)]
    pub variables: Vec<String>,
    /// What the phone reported (masked for secret items).
    #[serde(default)]
    pub reported: Option<String>,
    /// Whether the phone reports exactly this value.
    pub in_sync: bool,
}

/// `GET /api/config/effective/{mac}`: every value the device should have, and where each
/// came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EffectiveView {
    /// The device.
    pub mac: String,
    /// Its values, by item.
    pub items: Vec<EffectiveItem>,
    /// Templates that cannot be rendered for it.
    pub cannot_render: Vec<RenderProblem>,
}

/// `GET /api/config/check`: every template checked against every known device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigCheckReport {
    /// Devices checked.
    pub devices_checked: usize,
    /// Desired entries that are templates.
    pub templates: usize,
    /// The problems, by device and item (up to the `limit` asked for).
    pub problems: Vec<RenderProblem>,
    /// How many problems there are in all.
    pub problems_total: usize,
}
