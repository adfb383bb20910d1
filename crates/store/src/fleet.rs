//! The fleet as an administrator browses it: devices by filter and page, groups, policies, and
//! removing what is no longer there.

use std::future::Future;

use opendls_engine::{LocalChangePolicy, Timestamp};
use serde::{Deserialize, Serialize};

use crate::{DeviceSummary, StoreResult};

/// Which devices a listing shows. Patterns match in any case; `*` and `?` are wildcards.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceFilter {
    /// Model (`device-type`) pattern, e.g. `OpenStage 6*`.
    #[serde(default)]
    pub model: Option<String>,
    /// Firmware (`software-version`) pattern, e.g. `V3 R5*`.
    #[serde(default)]
    pub firmware: Option<String>,
    /// Exact group name; `-` for devices in no group.
    #[serde(default)]
    pub group: Option<String>,
    /// Secure Mode state (`default`, `bootstrapping`, `awaiting-tan`, `secure`, `locked`).
    #[serde(default)]
    pub state: Option<String>,
    /// Approval state (`approved`, `pending`, `rejected`).
    #[serde(default)]
    pub approval: Option<String>,
    /// Only devices whose latest contact is at or after this time.
    #[serde(default)]
    pub seen_since: Option<Timestamp>,
}

/// One page of a device listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DevicePage {
    /// The devices of the page, by MAC.
    pub devices: Vec<DeviceSummary>,
    /// How many devices match the filter in all.
    pub total: u64,
}

/// A group: it exists while a device, a value, a policy, a mode or a PIN names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupSummary {
    /// Its name.
    pub name: String,
    /// Devices in it.
    pub devices: u64,
    /// Desired values set for it.
    pub values: u64,
    /// Its local-change policy, if it has its own.
    pub policy: Option<String>,
    /// Its security mode, if it has its own.
    pub security_mode: Option<String>,
    /// Whether it has a default PIN.
    pub has_pin: bool,
}

/// A stored local-change policy: global (`group` none) or a group's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyEntry {
    /// The group, or none for the global policy.
    pub group: Option<String>,
    /// The policy.
    pub policy: LocalChangePolicy,
}

/// What removing a group or a device did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Removal {
    /// Whether there was anything by that name.
    pub found: bool,
    /// Devices taken out of the group (group removal).
    pub devices_ungrouped: u64,
    /// Desired values removed.
    pub values_removed: u64,
    /// Unfinished job targets cancelled (device removal).
    pub targets_cancelled: u64,
}

/// The fleet's storage for browsing and clean-up.
pub trait FleetStore: Send + Sync + 'static {
    /// One page of the devices `filter` selects, by MAC.
    fn find_devices(
        &self,
        filter: &DeviceFilter,
        offset: u32,
        limit: u32,
    ) -> impl Future<Output = StoreResult<DevicePage>> + Send;
    /// Every group, by name.
    fn groups(&self) -> impl Future<Output = StoreResult<Vec<GroupSummary>>> + Send;
    /// Removes a group: its values, policy, mode and PIN; its devices leave it (one whose first group it was moves up its next).
    fn remove_group(&self, name: &str) -> impl Future<Output = StoreResult<Removal>> + Send;
    /// The stored local-change policies, global first.
    fn policies(&self) -> impl Future<Output = StoreResult<Vec<PolicyEntry>>> + Send;
    /// Forgets a device: its record, history, refused values, device-scope values, schedule,
    /// interactions and PIN; its unfinished job targets are cancelled. A device that calls in
    /// again registers anew.
    fn remove_device(&self, mac: &str, now: Timestamp) -> impl Future<Output = StoreResult<Removal>> + Send;
}
