//! Plug & play: devices prepared before the phone exists, and approving devices that called in
//! unknown.

use std::future::Future;

use opendls_engine::{Timestamp, Variable};
use serde::{Deserialize, Serialize};

use crate::StoreResult;

/// A device to prepare.
#[derive(Clone, PartialEq, Eq)]
pub struct NewProvisioned {
    /// The MAC, if known.
    pub mac: Option<String>,
    /// The E.164 number (required without a MAC).
    pub e164: Option<String>,
    /// The group the phone joins (its first group).
    pub group: Option<String>,
    /// Further groups it joins, in precedence order.
    pub other_groups: Vec<String>,
    /// Its variables (device scope once bound).
    pub variables: Vec<Variable>,
}

impl std::fmt::Debug for NewProvisioned {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewProvisioned")
            .field("mac", &self.mac)
            .field("e164", &self.e164)
            .field("group", &self.group)
            .field("other_groups", &self.other_groups)
            .field("variables", &self.variables)
            .finish()
    }
}

/// A prepared device as listed.
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
    pub values: std::collections::BTreeMap<String, String>,
    /// When it was prepared.
    pub created_at: Timestamp,
    /// The phone bound to it, and when.
    pub bound: Option<(String, Timestamp)>,
    /// The last claim of a phone on it that was refused, if any.
    pub conflict: Option<String>,
}

/// Why a device could not be prepared: nothing of the request was stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProvisioningRefusal {
    /// Index of the refused entry in the request.
    pub index: usize,
    /// Why.
    pub reason: String,
}

/// Storage of prepared devices and approvals.
pub trait ProvisioningStore: Send + Sync + 'static {
    /// Prepares devices, all or none: a MAC or E.164 already prepared, or a MAC of a device
    /// already known, refuses the whole request (every refusal listed).
    fn add_provisioned(
        &self,
        devices: &[NewProvisioned],
        now: Timestamp,
    ) -> impl Future<Output = StoreResult<Result<Vec<i64>, Vec<ProvisioningRefusal>>>> + Send;
    /// What [`ProvisioningStore::add_provisioned`] would refuse, storing nothing.
    fn check_provisioned(
        &self,
        devices: &[NewProvisioned],
    ) -> impl Future<Output = StoreResult<Vec<ProvisioningRefusal>>> + Send;
    /// Every prepared device, by number.
    fn provisioned_devices(&self) -> impl Future<Output = StoreResult<Vec<ProvisionedView>>> + Send;
    /// Removes a prepared device (a bound phone keeps what it got); false when there was none.
    fn remove_provisioned(&self, id: i64) -> impl Future<Output = StoreResult<bool>> + Send;
    /// Approves devices (`None`: every pending one; rejected ones only by MAC); returns the MACs
    /// approved.
    fn approve(&self, macs: Option<&[String]>) -> impl Future<Output = StoreResult<Vec<String>>> + Send;
}
