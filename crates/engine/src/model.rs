//! The data the engine reads and decides about. Everything here is plain data (serde) so the
//! store can persist it as it is.

use std::collections::BTreeMap;

use opendls_wpi::Item;
use serde::{Deserialize, Serialize};

/// Seconds since the Unix epoch, UTC. The engine never reads a clock; time comes in.
pub type Timestamp = i64;

/// A timestamp as every opendls output writes it: RFC 3339 in UTC, `2026-12-02T12:26:06Z`
/// (the number itself if it is outside the years 0 to 9999).
pub fn utc_text(at: Timestamp) -> String {
    time::OffsetDateTime::from_unix_timestamp(at)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_else(|| at.to_string())
}

/// Identifies one item instance: its name and, for multi-instance items, its index.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ItemKey {
    /// The item name (case-sensitive).
    pub name: String,
    /// The index of a multi-instance item.
    pub index: Option<u32>,
}

impl ItemKey {
    /// A key from a name and optional index.
    pub fn new(name: impl Into<String>, index: Option<u32>) -> Self {
        ItemKey { name: name.into(), index }
    }
}

impl std::fmt::Display for ItemKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.index {
            Some(index) => write!(f, "{}[{index}]", self.name),
            None => f.write_str(&self.name),
        }
    }
}

/// One item as the phone last reported it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportedItem {
    /// Which item.
    #[serde(flatten)]
    pub key: ItemKey,
    /// Its value.
    pub value: String,
    /// The phone's per-item status, when it reported one (e.g. `failed` for `user-pwd-unicode`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
}

impl From<&Item> for ReportedItem {
    fn from(item: &Item) -> Self {
        ReportedItem {
            key: ItemKey::new(item.name.clone(), item.index),
            value: item.value.clone(),
            status: item.status.as_ref().map(|s| s.as_wire().to_owned()),
        }
    }
}

/// A phone's local change that policy said to keep for an administrator to decide on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlaggedChange {
    /// Which item.
    pub key: ItemKey,
    /// The value the phone now has.
    pub phone_value: String,
    /// The value the desired configuration asks for.
    pub desired_value: String,
    /// When it was flagged.
    pub at: Timestamp,
}

/// Everything known about one phone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceRecord {
    /// The MAC address, upper-case and colon-separated: the device's identity (guide p. 27).
    pub mac: String,
    /// The E.164 number (p. 27).
    pub e164: Option<String>,
    /// `device-type`, e.g. `OpenStage 60` (p. 35).
    pub device_type: Option<String>,
    /// `software-version`, e.g. `V3 R5.12.0` (p. 35).
    pub software_version: Option<String>,
    /// Where contact-me goes (p. 27).
    pub contact_me_uri: Option<String>,
    /// The group the device belongs to, if an admin assigned one: its first group, which beats
    /// the others and alone decides the group settings that are not item values (local-change
    /// policy, Secure Mode, PIN, firmware pin).
    pub group: Option<String>,
    /// Further groups, in precedence order after [`DeviceRecord::group`]: their values and
    /// variables apply where no earlier group sets the item (docs/provisioning.md).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub other_groups: Vec<String>,
    /// First contact.
    pub first_seen: Timestamp,
    /// Latest contact.
    pub last_contact: Timestamp,
    /// Reason of the latest phone-initiated contact.
    pub last_reason: String,
    /// Address the phone last connected from.
    pub remote_addr: Option<String>,
    /// When the full item set was last read (`ReadAllItems`), if ever.
    pub inventory_read_at: Option<Timestamp>,
    /// The reported state: every item the phone reported, by key.
    #[serde(with = "reported_as_list")]
    pub reported: BTreeMap<ItemKey, ReportedItem>,
    /// Local changes waiting for an administrator.
    pub flagged: Vec<FlaggedChange>,
    /// What the phone's TLS client last offered (versions, whether only legacy suites), so an
    /// administrator sees which phones still need legacy TLS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_offer: Option<String>,
    /// Whether the service configures it: a device that called in unknown under the
    /// `quarantine` or `reject` policy waits for an administrator's approval.
    #[serde(default)]
    pub approval: crate::newcomers::Approval,
}

impl DeviceRecord {
    /// A record for a phone seen for the first time.
    pub fn new(mac: String, now: Timestamp) -> Self {
        DeviceRecord {
            mac,
            e164: None,
            device_type: None,
            software_version: None,
            contact_me_uri: None,
            group: None,
            other_groups: Vec::new(),
            first_seen: now,
            last_contact: now,
            last_reason: String::new(),
            remote_addr: None,
            inventory_read_at: None,
            reported: BTreeMap::new(),
            flagged: Vec::new(),
            tls_offer: None,
            approval: crate::newcomers::Approval::Approved,
        }
    }

    /// The reported value of an item, when the phone reported one without an error status.
    pub fn reported_value(&self, key: &ItemKey) -> Option<&str> {
        self.reported.get(key).filter(|item| item.status.is_none()).map(|item| item.value.as_str())
    }
}

/// Where a desired value is configured. Device beats group beats model beats global.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(tag = "scope", content = "key", rename_all = "lowercase")]
pub enum Scope {
    /// Every device.
    Global,
    /// Devices whose reported `device-type` matches the pattern (`*` and `?` wildcards, any
    /// case; stored in full form, `OpenScape Desk Phone CP210` for `CP210`). Where several match,
    /// the most specific wins ([`crate::desired::model_specificity`]).
    Model(String),
    /// Devices assigned to the named group.
    Group(String),
    /// One device, by MAC.
    Device(String),
}

impl Scope {
    /// Precedence: higher wins.
    pub fn precedence(&self) -> u8 {
        match self {
            Scope::Global => 0,
            Scope::Model(_) => 1,
            Scope::Group(_) => 2,
            Scope::Device(_) => 3,
        }
    }
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Scope::Global => f.write_str("global"),
            Scope::Model(pattern) => write!(f, "model {pattern}"),
            Scope::Group(name) => write!(f, "group {name}"),
            Scope::Device(mac) => write!(f, "device {mac}"),
        }
    }
}

/// One configured value at one scope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DesiredEntry {
    /// Where it is configured.
    pub scope: Scope,
    /// Which item.
    pub key: ItemKey,
    /// The value to write.
    pub value: String,
}

/// What happens to a change made on the phone itself (menu or WBM, guide p. 37-40).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LocalChangePolicy {
    /// Accept changes to items no desired configuration manages; revert managed ones.
    #[default]
    AcceptUnmanaged,
    /// Accept every change: it becomes the device's desired value.
    Accept,
    /// Revert every managed item to its desired value.
    Revert,
    /// Keep the phone's value and flag it for an administrator.
    Flag,
}

impl std::str::FromStr for LocalChangePolicy {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "accept-unmanaged" | "default" => Ok(LocalChangePolicy::AcceptUnmanaged),
            "accept" => Ok(LocalChangePolicy::Accept),
            "revert" => Ok(LocalChangePolicy::Revert),
            "flag" => Ok(LocalChangePolicy::Flag),
            other => {
                Err(format!("unknown local-change policy {other:?} (accept-unmanaged, accept, revert, flag)"))
            }
        }
    }
}

impl std::fmt::Display for LocalChangePolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            LocalChangePolicy::AcceptUnmanaged => "accept-unmanaged",
            LocalChangePolicy::Accept => "accept",
            LocalChangePolicy::Revert => "revert",
            LocalChangePolicy::Flag => "flag",
        })
    }
}

/// An item the phone refused to store, with the value it refused (guide p. 77-83).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WriteFailure {
    /// Which item.
    pub key: ItemKey,
    /// The value that was refused; the same value is not sent again until it changes.
    pub value: String,
    /// The phone's status (`unknown item`, `read only`, `failed`, ...).
    pub status: String,
    /// When.
    pub at: Timestamp,
}

/// What a history entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EventKind {
    /// A device was seen for the first time.
    Registered,
    /// A reported value changed.
    ItemChanged,
    /// The phone accepted a written value.
    ItemWritten,
    /// The phone refused a written value.
    WriteFailed,
    /// The phone reported a local change; the detail says what policy decided.
    LocalChange,
    /// A local change was kept and flagged for an administrator.
    Flagged,
    /// The phone was busy; work is pending until it calls back (guide p. 72-76).
    Busy,
    /// The phone reported the result of a file transfer (guide p. 54).
    FileStatus,
    /// The phone ended the interaction itself (guide p. 83).
    PhoneCleanUp,
    /// Something went wrong in the protocol; the interaction was ended.
    ProtocolError,
    /// Work of a job was sent, finished or refused; the detail names the job.
    Job,
    /// Secure Mode: a bootstrap, a certificate activated or revoked, a refused request (a
    /// security event: the Default port used by a secure device, a foreign certificate, ...).
    Security,
}

/// One entry of a device's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEvent {
    /// The device.
    pub mac: String,
    /// When.
    pub at: Timestamp,
    /// What happened.
    pub kind: EventKind,
    /// The reason for contact of the interaction it happened in.
    pub reason: String,
    /// The item concerned, if any.
    pub key: Option<ItemKey>,
    /// The value before (masked for secret items).
    pub old_value: Option<String>,
    /// The value after (masked for secret items).
    pub new_value: Option<String>,
    /// Free text.
    pub detail: String,
}

/// Where an interaction stands between two requests. Persisted, never kept in a connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InteractionState {
    /// The session cookie value that identifies it.
    pub session_id: String,
    /// The device it belongs to.
    pub mac: String,
    /// The reason for contact that started it.
    pub reason: String,
    /// Address the interaction was started from (fallback lookup for phones without cookies).
    pub remote_addr: String,
    /// When it started.
    pub started_at: Timestamp,
    /// Last request.
    pub updated_at: Timestamp,
    /// The phone's `maxItems` from its first message (guide p. 28).
    pub max_items: Option<i64>,
    /// Whether the read in progress answers an old-firmware local change (flag only, p. 37-38).
    pub local_change_read: bool,
    /// What the service sent last and now waits for.
    pub step: Step,
    /// Whether the interaction runs on the secure port (its replies must come there too).
    #[serde(default)]
    pub secure: bool,
}

/// What the service waits for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "kebab-case")]
pub enum Step {
    /// `ReadAllItems` was sent; fragments gathered so far (guide p. 69-70).
    Reading {
        /// Items of the fragments received so far.
        items: Vec<ReportedItem>,
        /// Fragments received so far.
        fragments: usize,
    },
    /// `ReadItems` was sent for a job; fragments gathered so far (guide p. 42-45, 69-70).
    ReadingItems {
        /// The job that asked.
        job_id: crate::jobs::JobId,
        /// Items of the fragments received so far.
        items: Vec<ReportedItem>,
        /// Fragments received so far.
        fragments: usize,
    },
    /// A Secure Mode bootstrap `WriteItems` was sent (guide p. 64-67), or a certificate renewal.
    Bootstrapping {
        /// The serial of the certificate it carries.
        serial: String,
        /// Whether it renews the certificate of a device already in Secure Mode.
        renewal: bool,
    },
    /// `ReadItems` `bootstrapping-tan` was sent after a PIN bootstrap (guide p. 68).
    CheckingTan,
    /// `WriteItems` `wbm-server-certificate` was sent for a job (guide p. 60 step 1).
    DeployingWbmCertificate {
        /// The job.
        job_id: crate::jobs::JobId,
    },
    /// `ReadItems` `wbm-server-certificate-info` was sent to verify it (p. 60 step 3).
    VerifyingWbmCertificate {
        /// The job.
        job_id: crate::jobs::JobId,
    },
    /// `SoftwareDeployment` was sent for a job (guide p. 56-57): the phone fetches the image and
    /// reboots; a reply, if any, says busy or failed.
    DeployingFirmware {
        /// The job.
        job_id: crate::jobs::JobId,
    },
    /// A single-file `FileDeployment` was sent (p. 52-54): the phone's `status` follows.
    DeployingFile {
        /// The job.
        job_id: crate::jobs::JobId,
    },
    /// A multiple-file `FileDeployment` was sent (p. 55): nothing follows.
    DeployingFiles {
        /// The job.
        job_id: crate::jobs::JobId,
    },
    /// `WriteItems` was sent with `sent`; `remaining` parts follow (guide p. 71).
    Writing {
        /// The items of the message awaiting its reply.
        sent: Vec<ReportedItem>,
        /// Further messages to send, in order.
        remaining: Vec<Vec<ReportedItem>>,
    },
}

impl Step {
    /// The action the phone's next reply must answer.
    pub fn awaited_action(&self) -> opendls_wpi::Action {
        match self {
            Step::Reading { .. } => opendls_wpi::Action::ReadAllItems,
            Step::ReadingItems { .. } | Step::CheckingTan | Step::VerifyingWbmCertificate { .. } => {
                opendls_wpi::Action::ReadItems
            }
            Step::Writing { .. } | Step::Bootstrapping { .. } | Step::DeployingWbmCertificate { .. } => {
                opendls_wpi::Action::WriteItems
            }
            Step::DeployingFirmware { .. } => opendls_wpi::Action::SoftwareDeployment,
            Step::DeployingFile { .. } | Step::DeployingFiles { .. } => opendls_wpi::Action::FileDeployment,
        }
    }
}

/// JSON maps need string keys; the reported state travels as a plain list instead.
mod reported_as_list {
    use std::collections::BTreeMap;

    use serde::{Deserialize, Deserializer, Serializer};

    use super::{ItemKey, ReportedItem};

    pub fn serialize<S: Serializer>(
        map: &BTreeMap<ItemKey, ReportedItem>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(map.values())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<BTreeMap<ItemKey, ReportedItem>, D::Error> {
        let items = Vec::<ReportedItem>::deserialize(deserializer)?;
        Ok(items.into_iter().map(|item| (item.key.clone(), item)).collect())
    }
}

/// `1 item`, `2 items`: a count with its noun (nouns of opendls' messages take an `s`).
pub fn plural(n: usize, noun: &str) -> String {
    match n {
        1 => format!("1 {noun}"),
        n => format!("{n} {noun}s"),
    }
}

/// The longest group name.
pub const MAX_GROUP_NAME_CHARS: usize = 64;

/// Checks a group name: 1 to [`MAX_GROUP_NAME_CHARS`] letters, digits, `-`, `_`, `.` or inner
/// spaces, starting with a letter or digit, so names survive shells, URLs and CSV files intact.
/// Returns the name trimmed, or why it is refused.
pub fn check_group_name(text: &str) -> Result<&str, String> {
    let name = text.trim();
    let allowed = |c: char| c.is_alphanumeric() || matches!(c, '-' | '_' | '.' | ' ');
    match name.chars().next() {
        None => Err("the group name is empty".into()),
        Some(first) if !first.is_alphanumeric() => {
            Err(format!("group name {name:?} must start with a letter or digit"))
        }
        _ if name.chars().count() > MAX_GROUP_NAME_CHARS => {
            Err(format!("group name {name:?} is longer than {MAX_GROUP_NAME_CHARS} characters"))
        }
        _ if !name.chars().all(allowed) => {
            Err(format!("group name {name:?} may hold only letters, digits, spaces and - _ ."))
        }
        _ => Ok(name),
    }
}

#[cfg(test)]
mod group_name_tests {
    use super::*;

    #[test]
    fn timestamps_are_rfc3339_utc() {
        assert_eq!(utc_text(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc_text(1_795_708_800), "2026-11-26T16:00:00Z");
        assert_eq!(utc_text(i64::MAX), i64::MAX.to_string());
    }

    #[test]
    fn group_names() {
        assert_eq!(check_group_name(" sales "), Ok("sales"));
        assert_eq!(check_group_name("Branch Office 2.b"), Ok("Branch Office 2.b"));
        for bad in ["", "  ", "-x", "a/b", "a\nb", "x;drop", &"a".repeat(65)] {
            assert!(check_group_name(bad).is_err(), "{bad:?}");
        }
    }
}
