//! The admin API's JSON documents, shared by the server and the `opendls` command-line client.
//! Values of secret items are masked before they leave the server.

use serde::{Deserialize, Serialize};

mod layouts;
mod preview;
mod provisioning;
mod site;
mod templates;
pub use layouts::*;
pub use preview::*;
pub use provisioning::*;
pub use site::*;
pub use templates::*;

/// A device in `GET /api/devices`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceListEntry {
    /// MAC address.
    pub mac: String,
    /// E.164 number.
    pub e164: Option<String>,
    /// Model.
    pub device_type: Option<String>,
    /// Firmware.
    pub software_version: Option<String>,
    /// Its first group: it wins over the others.
    pub group: Option<String>,
    /// Its further groups, in precedence order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub other_groups: Vec<String>,
    /// Latest contact (Unix seconds).
    pub last_contact: i64,
    /// Reason of the latest contact.
    pub last_reason: String,
    /// Address of the latest contact.
    pub remote_addr: Option<String>,
    /// Secure Mode state (`default`, `bootstrapping`, `awaiting-tan`, `secure`, `locked`).
    #[serde(default)]
    pub security_state: Option<String>,
    /// What the phone's TLS client last offered (`... legacy only` when only legacy TLS).
    #[serde(default)]
    pub tls_offer: Option<String>,
    /// `approved`, or `pending` / `rejected` while it waits for an administrator's approval.
    #[serde(default)]
    pub approval: Option<String>,
}

impl From<opendls_store::DeviceSummary> for DeviceListEntry {
    fn from(d: opendls_store::DeviceSummary) -> Self {
        DeviceListEntry {
            mac: d.mac,
            e164: d.e164,
            device_type: d.device_type,
            software_version: d.software_version,
            group: d.group,
            other_groups: d.other_groups,
            last_contact: d.last_contact,
            last_reason: d.last_reason,
            remote_addr: d.remote_addr,
            security_state: Some(d.security_state),
            tls_offer: d.tls_offer,
            approval: Some(d.approval),
        }
    }
}

/// One check of `GET /api/ready`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadyCheck {
    /// `database`, `listeners` or `disk`.
    pub name: String,
    /// Whether it passes.
    pub ok: bool,
    /// What was found.
    pub detail: String,
}

/// `GET /api/ready` (HTTP 200 when ready, 503 when not).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadyReport {
    /// Whether every check passes.
    pub ready: bool,
    /// Each check.
    pub checks: Vec<ReadyCheck>,
}

/// One item value in a device view.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemView {
    /// Item name.
    pub name: String,
    /// Index, for multi-instance items.
    pub index: Option<u32>,
    /// Value (masked for secret items).
    pub value: String,
    /// The phone's per-item status, if any.
    pub status: Option<String>,
}

/// A desired value the phone does not have yet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingChange {
    /// Item name.
    pub name: String,
    /// Index.
    pub index: Option<u32>,
    /// The desired value (masked for secret items).
    pub desired: String,
    /// What the phone reported (masked for secret items).
    pub reported: Option<String>,
    /// The scope the desired value comes from.
    pub scope: String,
    /// Why it is not being written, if it is held back (refused by the phone, flagged).
    pub held: Option<String>,
}

/// One history entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryView {
    /// When (Unix seconds).
    pub at: i64,
    /// What happened.
    pub kind: String,
    /// The reason for contact of the interaction.
    pub reason: String,
    /// The item, as `name` or `name[index]`.
    pub item: Option<String>,
    /// Value before (masked for secrets).
    pub old_value: Option<String>,
    /// Value after (masked for secrets).
    pub new_value: Option<String>,
    /// Free text.
    pub detail: String,
}

/// `GET /api/devices/{mac}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceView {
    /// Identity and last contact.
    pub device: DeviceListEntry,
    /// First contact (Unix seconds).
    pub first_seen: i64,
    /// When the full inventory was last read.
    pub inventory_read_at: Option<i64>,
    /// Where contact-me goes.
    pub contact_me_uri: Option<String>,
    /// What the phone's TLS client last offered (`... legacy only` when only legacy TLS).
    #[serde(default)]
    pub tls_offer: Option<String>,
    /// The device's Secure Mode state (`default`, `bootstrapping`, `secure`, ...).
    #[serde(default)]
    pub security_state: Option<String>,
    /// The reported items of this page (`items_offset`, `items` in the query), in item order.
    pub reported: Vec<ItemView>,
    /// How many items the device reported in all.
    #[serde(default)]
    pub reported_total: usize,
    /// Desired values not yet on the phone.
    pub pending: Vec<PendingChange>,
    /// History entries of this page (`history_offset`, `history` in the query), newest first.
    pub history: Vec<HistoryView>,
    /// Whether older history entries exist beyond this page.
    #[serde(default)]
    pub history_more: bool,
}

/// The most history entries one `GET /api/devices/{mac}` answers with.
pub const MAX_HISTORY_PAGE: u32 = 1000;
/// The most reported items one `GET /api/devices/{mac}` answers with.
pub const MAX_ITEMS_PAGE: usize = 5000;

/// A desired value, in `GET /api/config` and as the body of `PUT` / `DELETE /api/config`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigEntry {
    /// `global`, `model`, `group` or `device`.
    pub scope: String,
    /// The group name or MAC; absent for global.
    #[serde(default)]
    pub target: Option<String>,
    /// Item name.
    pub name: String,
    /// Index, for multi-instance items.
    #[serde(default)]
    pub index: Option<u32>,
    /// Value (ignored by `DELETE`; masked for secret items in listings).
    #[serde(default)]
    pub value: String,
}

/// One value of a [`ConfigChange`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigValue {
    /// Item name (exact: names are case-sensitive on the phone).
    pub name: String,
    /// Index, for multi-instance items.
    #[serde(default)]
    pub index: Option<u32>,
    /// The value.
    pub value: String,
}

/// Body of `PUT /api/config`: values set at one scope together, all of them or none.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigChange {
    /// `global`, `model`, `group` or `device`.
    pub scope: String,
    /// The model pattern, group name or MAC; absent for global.
    #[serde(default)]
    pub target: Option<String>,
    /// The values.
    pub values: Vec<ConfigValue>,
    /// Store names the catalog does not know (new firmware); refused otherwise.
    #[serde(default)]
    pub allow_unknown: bool,
    /// Check everything and count the devices it would touch, but store nothing.
    #[serde(default)]
    pub dry_run: bool,
}

/// What `PUT /api/config` accepts: a [`ConfigChange`], or one [`ConfigEntry`] (a change of one
/// value, unknown names refused).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ConfigWrite {
    /// Several values.
    Change(ConfigChange),
    /// One value.
    One(ConfigEntry),
}

/// Answer to `PUT /api/config`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigChangeResult {
    /// Whether the values were stored (false for a dry run).
    pub applied: bool,
    /// Known devices whose effective value of at least one item changes (those in the scope
    /// that no narrower scope overrides, and whose value differs, templates rendered).
    pub devices_affected: usize,
    /// Templates among the values that cannot be rendered for a device (the first ones).
    #[serde(default)]
    pub cannot_render: Vec<RenderProblem>,
    /// How many (device, item) pairs of the change cannot be rendered, in all.
    #[serde(default)]
    pub cannot_render_total: usize,
    /// Per value, in the order given.
    pub values: Vec<ConfigValueResult>,
    /// What changes for each touched device (the first 100 devices, in MAC order).
    #[serde(default)]
    pub changes: Vec<DeviceChangeView>,
}

/// One value's part of a [`ConfigChangeResult`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigValueResult {
    /// `name` or `name[index]`.
    pub item: String,
    /// Whether the item is in the catalog.
    pub known_item: bool,
    /// Things worth knowing that did not refuse the value.
    pub warnings: Vec<String>,
}

/// `GET /api/groups/{name}`: the group, its devices (up to 10,000) and its values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupView {
    /// Counts, policy, mode.
    pub summary: opendls_store::GroupSummary,
    /// Its devices, by MAC.
    pub devices: Vec<DeviceListEntry>,
    /// Its desired values (secrets masked).
    pub values: Vec<ConfigEntry>,
}

/// Body of `PUT /api/devices/{mac}/group`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupAssignment {
    /// The group, or none to remove the device from every group. It wins over the others.
    pub group: Option<String>,
    /// Further groups, in precedence order (only with `group`).
    #[serde(default)]
    pub other_groups: Vec<String>,
}

/// Body of `PUT /api/policy`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicySetting {
    /// The group, or none for the global policy.
    pub group: Option<String>,
    /// `accept-unmanaged`, `accept`, `revert` or `flag`.
    pub policy: String,
}

/// Every error answer of the API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiError {
    /// What went wrong, for a human.
    pub error: String,
    /// Every single problem, when there were several (each refused value of a change).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
}

/// Body of `POST /api/jobs`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobRequest {
    /// `apply-configuration`, `read-items`, `restart`, `factory-reset`, `deploy-wbm-certificate`,
    /// `deploy-firmware`, `deploy-file`, `deploy-files` or `delete-files`.
    pub kind: String,
    /// For `read-items`: the items, as `name` or `name[index]`.
    #[serde(default)]
    pub items: Vec<String>,
    /// Which devices.
    pub targets: opendls_store::TargetSelector,
    /// Contact the phones now (default) or wait for their next contact.
    #[serde(default = "default_true")]
    pub contact_me: bool,
    /// Unfinished targets time out after this long (default: the service's `jobs.give_up_after_secs`).
    #[serde(default)]
    pub give_up_after_secs: Option<u64>,
    /// A factory reset erases the phones' configuration: it must be confirmed.
    #[serde(default)]
    pub confirm_factory_reset: bool,
    /// For `read-items`: read names the catalog does not know (refused otherwise).
    #[serde(default)]
    pub allow_unknown: bool,
    /// For deployments: the stored files (by number); for `delete-files` also `TYPE:NAME` of a
    /// file on the phones that opendls does not store.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<String>,
    /// For `deploy-firmware`: install on phones that run a newer version too.
    #[serde(default)]
    pub allow_downgrade: bool,
    /// For `deploy-firmware`: install during a call (`file-priority` `immediate`, guide p. 56).
    #[serde(default)]
    pub immediate: bool,
    /// Staged rollout: the first wave, `5` phones or `10%`; the rest waits until it is finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary: Option<String>,
    /// Staged rollout: phones per wave after the canary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_size: Option<u32>,
    /// Staged rollout: pause when more than `N` targets failed, or more than `P%` of those finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_failures: Option<String>,
}

impl JobRequest {
    /// A request for `kind` on `targets`, contacting the phones, with nothing else set.
    pub fn new(kind: &str, targets: opendls_store::TargetSelector) -> JobRequest {
        JobRequest {
            kind: kind.to_owned(),
            items: Vec::new(),
            targets,
            contact_me: true,
            give_up_after_secs: None,
            confirm_factory_reset: false,
            allow_unknown: false,
            files: Vec::new(),
            allow_downgrade: false,
            immediate: false,
            canary: None,
            batch_size: None,
            max_failures: None,
        }
    }
}

fn default_true() -> bool {
    true
}

/// Body of `PUT /api/behind-nat`: phones behind NAT poll the DCMP listener (guide p. 15, 24).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BehindNat {
    /// `global`, `group` or `device`.
    pub scope: String,
    /// The group name or MAC; absent for global.
    #[serde(default)]
    pub target: Option<String>,
    /// Poll (true) or stop polling (false).
    pub enabled: bool,
    /// Poll interval in seconds (default: the service's `jobs.dcmp_poll_interval_secs`).
    #[serde(default)]
    pub interval_secs: Option<u64>,
}

/// Body of `PUT /api/security/mode`, and an entry of `GET /api/security/modes`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModeSetting {
    /// `global`, `group` or `device`.
    pub scope: String,
    /// The group name or MAC; absent for global.
    #[serde(default)]
    pub target: Option<String>,
    /// `default`, `secure` (no PIN, guide p. 64) or `secure-pin` (p. 65-68); absent to unset.
    #[serde(default)]
    pub mode: Option<String>,
}

/// Optional body of revoke and reset.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecurityAction {
    /// Why, for the record.
    #[serde(default)]
    pub reason: Option<String>,
}

/// A PIN, shown once when made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GeneratedPin {
    /// The PIN; its last three characters are the TAN (guide p. 68).
    pub pin: String,
}

/// A group's default PIN: the body of `PUT` (absent `pin`: generate one) and the answer of `GET`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupPin {
    /// The PIN.
    #[serde(default)]
    pub pin: Option<String>,
    /// When it was set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set_at: Option<i64>,
}
