//! The admin API's documents for plug & play: devices prepared before the phone exists, and
//! approving devices that called in unknown.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One device to prepare.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProvisionEntry {
    /// Its MAC, if known: the phone is bound by it.
    #[serde(default)]
    pub mac: Option<String>,
    /// Its E.164 number: configured on the phone, and what it is bound by without a MAC.
    #[serde(default)]
    pub e164: Option<String>,
    /// The group the phone joins (its first group, which wins).
    #[serde(default)]
    pub group: Option<String>,
    /// Further groups it joins, in precedence order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub other_groups: Vec<String>,
    /// Its variables (device scope once bound).
    #[serde(default)]
    pub variables: BTreeMap<String, String>,
    /// Its secret variables (SIP passwords): sealed at rest, masked wherever shown.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub secret_variables: BTreeMap<String, String>,
}

impl std::fmt::Debug for ProvisionEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Variable values may be secrets: names only.
        let names: Vec<&String> = self.variables.keys().chain(self.secret_variables.keys()).collect();
        f.debug_struct("ProvisionEntry")
            .field("mac", &self.mac)
            .field("e164", &self.e164)
            .field("group", &self.group)
            .field("other_groups", &self.other_groups)
            .field("variables", &names)
            .finish()
    }
}

/// Body of `POST /api/provisioned`: devices prepared together, all or none.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProvisionRequest {
    /// The devices.
    pub devices: Vec<ProvisionEntry>,
    /// Check everything, store nothing.
    #[serde(default)]
    pub dry_run: bool,
}

/// A refused entry of a [`ProvisionRequest`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProvisionRefusal {
    /// Its position in the request, from 0.
    pub index: usize,
    /// Why.
    pub reason: String,
    /// For an entry naming a MAC or number given before in the request: that entry.
    #[serde(default)]
    pub same_as: Option<usize>,
}

/// Answer to `POST /api/provisioned` (422 with the refusals when any entry is refused: nothing
/// is then stored).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProvisionResult {
    /// Whether anything was stored (false for a dry run or a refusal).
    pub applied: bool,
    /// The numbers of the prepared devices, in the order given (empty unless applied).
    pub ids: Vec<i64>,
    /// How many entries were accepted.
    pub accepted: usize,
    /// The refused entries.
    pub refused: Vec<ProvisionRefusal>,
}

/// Body of `POST /api/devices/approve`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalRequest {
    /// These devices (pending or rejected).
    #[serde(default)]
    pub macs: Vec<String>,
    /// Every pending device (rejected ones are approved only by MAC).
    #[serde(default)]
    pub all_pending: bool,
}

/// Answer to `POST /api/devices/approve`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalResult {
    /// The devices approved.
    pub approved: Vec<String>,
    /// Devices named that were not waiting for approval (unknown, or approved already).
    #[serde(default)]
    pub not_waiting: Vec<String>,
}

/// A prepared device in `GET /api/provisioned`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProvisionedView {
    /// Its number.
    pub id: i64,
    /// Its MAC, if given.
    pub mac: Option<String>,
    /// Its E.164 number, if given.
    pub e164: Option<String>,
    /// Its group (its first group).
    pub group: Option<String>,
    /// Further groups, in precedence order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub other_groups: Vec<String>,
    /// Its variables' names.
    pub variables: Vec<String>,
    /// Its variables' values by name (secret ones masked).
    #[serde(default)]
    pub values: BTreeMap<String, String>,
    /// When it was prepared (Unix seconds).
    pub created_at: i64,
    /// The phone bound to it, and when.
    pub bound: Option<(String, i64)>,
    /// The last claim of a phone on it that was refused, if any.
    pub conflict: Option<String>,
}
