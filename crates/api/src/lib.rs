//! The admin API's JSON documents: what the server answers and what its clients send (the
//! `opendls` command, and the console to come). No I/O and no storage types: the server turns
//! its records into these documents, so that what it stores can change without changing what
//! it answers. Values of secret items are masked before they leave the server.

use serde::{Deserialize, Serialize};

mod accounts;
mod files;
mod jobs;
mod layouts;
mod preview;
mod provisioning;
mod security;
mod site;
mod templates;
pub use accounts::*;
pub use files::*;
pub use jobs::*;
pub use layouts::*;
pub use preview::*;
pub use provisioning::*;
pub use security::*;
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

/// A group in `GET /api/groups`: it exists while a device, a value, a policy, a mode or a PIN
/// names it.
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

/// `GET /api/groups/{name}`: the group, its devices (up to 10,000) and its values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupView {
    /// Counts, policy, mode.
    pub summary: GroupSummary,
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

/// A local-change policy in `GET /api/policy`: the global one (`group` none) or a group's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyView {
    /// The group, or none for the global policy.
    pub group: Option<String>,
    /// The policy.
    pub policy: opendls_engine::LocalChangePolicy,
}

/// What `DELETE /api/groups/{name}` or `DELETE /api/devices/{mac}` did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemovalView {
    /// Whether there was anything by that name.
    pub found: bool,
    /// Devices taken out of the group (group removal).
    pub devices_ungrouped: u64,
    /// Desired values removed.
    pub values_removed: u64,
    /// Unfinished job targets cancelled (device removal).
    pub targets_cancelled: u64,
}

/// Body of `PUT /api/policy`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicySetting {
    /// The group, or none for the global policy.
    pub group: Option<String>,
    /// `accept-unmanaged`, `accept`, `revert` or `flag`.
    pub policy: opendls_engine::LocalChangePolicy,
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
    pub targets: Targets,
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
    pub fn new(kind: &str, targets: Targets) -> JobRequest {
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

/// Which devices a job is for: `{"by": "devices", "macs": [...]}`, `{"by": "group", "name":
/// ...}`, `{"by": "query", "device_type": ..., "software_version": ...}` or `{"by": "all"}`.
/// Resolved once, when the job is created.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "by", rename_all = "kebab-case")]
pub enum Targets {
    /// These devices, by MAC.
    Devices {
        /// The MACs.
        macs: Vec<String>,
    },
    /// The devices of a group.
    Group {
        /// The group.
        name: String,
    },
    /// Devices whose inventory matches; `*` and `?` are wildcards, an absent field matches all.
    Query {
        /// Model (`device-type`), e.g. `OpenStage 60` or `OpenStage *`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        device_type: Option<String>,
        /// Firmware (`software-version`), e.g. `V3 R5*`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        software_version: Option<String>,
    },
    /// Every known device.
    All,
}

impl std::fmt::Display for Targets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Targets::Devices { macs } if macs.len() == 1 => write!(f, "device {}", macs[0]),
            Targets::Devices { macs } if macs.len() <= 3 => write!(f, "devices {}", macs.join(", ")),
            Targets::Devices { macs } => write!(f, "{} devices", macs.len()),
            Targets::Group { name } => write!(f, "group {name}"),
            Targets::Query { device_type, software_version } => {
                let mut parts = Vec::new();
                if let Some(model) = device_type {
                    parts.push(format!("model {model}"));
                }
                if let Some(firmware) = software_version {
                    parts.push(format!("firmware {firmware}"));
                }
                if parts.is_empty() { f.write_str("all devices") } else { f.write_str(&parts.join(", ")) }
            }
            Targets::All => f.write_str("all devices"),
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
    pub mode: Option<opendls_engine::SecurityMode>,
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The documents' JSON is what clients already send: a change here breaks every script.
    #[test]
    fn targets_read_as_clients_write_them() {
        let cases = [
            (
                r#"{"by":"devices","macs":["00:1A:E8:00:00:01"]}"#,
                Targets::Devices { macs: vec!["00:1A:E8:00:00:01".into()] },
            ),
            (r#"{"by":"group","name":"sales"}"#, Targets::Group { name: "sales".into() }),
            (
                r#"{"by":"query","device_type":"OpenStage *"}"#,
                Targets::Query { device_type: Some("OpenStage *".into()), software_version: None },
            ),
            (r#"{"by":"all"}"#, Targets::All),
        ];
        for (json, targets) in cases {
            assert_eq!(serde_json::from_str::<Targets>(json).unwrap(), targets, "{json}");
            assert_eq!(serde_json::to_string(&targets).unwrap(), json);
        }
        assert!(serde_json::from_str::<Targets>(r#"{"by":"everyone"}"#).is_err());
    }

    /// A job's counts are an object keyed by state, in the states' order; a state this build
    /// does not know (a newer server's) is left out, not refused.
    #[test]
    fn job_counts_are_an_object_in_state_order() {
        use opendls_engine::{TargetCounts, TargetState};
        let counts = TargetCounts::new(vec![
            (TargetState::Done, 2),
            (TargetState::Queued, 3),
            (TargetState::Failed, 0),
        ]);
        assert_eq!(serde_json::to_string(&counts).unwrap(), r#"{"queued":3,"done":2}"#);
        assert_eq!((counts.total(), counts.count(TargetState::Done), counts.is_finished()), (5, 2, false));
        let read: TargetCounts = serde_json::from_str(r#"{"done":2,"queued":3,"rewound":1}"#).unwrap();
        assert_eq!(read, counts);
        assert!(TargetCounts::new(vec![(TargetState::Done, 1), (TargetState::Failed, 1)]).is_finished());
    }
}
