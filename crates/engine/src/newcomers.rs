//! Devices calling in for the first time: bound to a provisioned (virtual) device prepared for
//! them, or admitted by the unknown-device policy (accept, quarantine, reject).

use serde::{Deserialize, Serialize};

use crate::model::{DesiredEntry, DeviceRecord, ItemKey, Scope};
use crate::template::Variable;

/// Whether the service configures a device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Approval {
    /// Configured as usual.
    #[default]
    Approved,
    /// Registered and read, but nothing is written and no job runs until an administrator
    /// approves it (`quarantine` policy).
    Pending,
    /// Answered with `CleanUp` and a reason at every contact (`reject` policy) until approved.
    Rejected,
}

impl Approval {
    /// The state's name, as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Approval::Approved => "approved",
            Approval::Pending => "pending",
            Approval::Rejected => "rejected",
        }
    }
}

impl std::str::FromStr for Approval {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "approved" => Ok(Approval::Approved),
            "pending" => Ok(Approval::Pending),
            "rejected" => Ok(Approval::Rejected),
            other => Err(format!("unknown approval state {other:?} (approved, pending, rejected)")),
        }
    }
}

/// What happens to a device that calls in unknown and matches no provisioned device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum UnknownDevicePolicy {
    /// Registered and configured (into the default group, if one is set).
    #[default]
    Accept,
    /// Registered and read; nothing is written until approved.
    Quarantine,
    /// Answered with `CleanUp` and a reason; recorded, so it can be approved later.
    Reject,
}

impl std::str::FromStr for UnknownDevicePolicy {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "accept" => Ok(UnknownDevicePolicy::Accept),
            "quarantine" => Ok(UnknownDevicePolicy::Quarantine),
            "reject" => Ok(UnknownDevicePolicy::Reject),
            other => Err(format!("unknown unknown-device policy {other:?} (accept, quarantine, reject)")),
        }
    }
}

impl UnknownDevicePolicy {
    /// The approval a device it admits gets.
    pub fn approval(self) -> Approval {
        match self {
            UnknownDevicePolicy::Accept => Approval::Approved,
            UnknownDevicePolicy::Quarantine => Approval::Pending,
            UnknownDevicePolicy::Reject => Approval::Rejected,
        }
    }
}

impl std::fmt::Display for UnknownDevicePolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            UnknownDevicePolicy::Accept => "accept",
            UnknownDevicePolicy::Quarantine => "quarantine",
            UnknownDevicePolicy::Reject => "reject",
        })
    }
}

/// How unknown devices are admitted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Newcomers {
    /// The policy for devices no provisioned device is prepared for.
    pub policy: UnknownDevicePolicy,
    /// The group such devices are put in, if any.
    pub default_group: Option<String>,
}

/// A device prepared before the phone exists (`opendls device add`).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Provisioned {
    /// Its number.
    pub id: i64,
    /// The MAC it is bound by, if known in advance.
    pub mac: Option<String>,
    /// The E.164 number it is bound by (when no MAC is given) and given to the phone.
    pub e164: Option<String>,
    /// The group the phone joins (its first group).
    pub group: Option<String>,
    /// Further groups it joins, in precedence order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub other_groups: Vec<String>,
    /// Device-scope variables the phone gets.
    pub variables: Vec<Variable>,
    /// The phone it is bound to, once bound.
    pub bound_mac: Option<String>,
    /// The Secure Mode its phone gets (the device's own, else its first group's, else the
    /// global one), looked up with it: the phone is bootstrapped at the very contact that binds
    /// it, before its record and group are stored.
    #[serde(default, skip)]
    pub security_mode: Option<crate::security::SecurityMode>,
}

impl Provisioned {
    /// Whether the phone `mac` may be bound to it: it is bound to no phone yet, or to this one.
    pub fn bindable_by(&self, mac: &str) -> bool {
        self.bound_mac.as_deref().is_none_or(|bound| bound == mac)
    }
}

impl std::fmt::Debug for Provisioned {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Variables may be secret: their Debug masks them.
        f.debug_struct("Provisioned")
            .field("id", &self.id)
            .field("mac", &self.mac)
            .field("e164", &self.e164)
            .field("group", &self.group)
            .field("other_groups", &self.other_groups)
            .field("variables", &self.variables)
            .field("bound_mac", &self.bound_mac)
            .field("security_mode", &self.security_mode)
            .finish()
    }
}

/// A binding the decision makes: the store binds the provisioned device to the phone in the
/// decision's transaction, or refuses the decision when another phone was bound to it meanwhile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    /// The provisioned device.
    pub provisioned_id: i64,
    /// The phone.
    pub mac: String,
    /// Its variables, set at device scope where the device has none of that name yet.
    pub variables: Vec<Variable>,
}

/// A phone claimed a provisioned device bound to another phone: recorded, never guessed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindingConflict {
    /// The provisioned device.
    pub provisioned_id: i64,
    /// What happened, for the administrator.
    pub detail: String,
}

/// What admitting a first contact decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Admission {
    /// The binding to store, if the phone matched a provisioned device.
    pub binding: Option<Binding>,
    /// The conflict to record, if it claimed one bound elsewhere.
    pub conflict: Option<BindingConflict>,
    /// The E.164 to configure on the phone (its provisioned number), at device scope.
    pub e164: Option<DesiredEntry>,
    /// A line for the device's history.
    pub note: String,
}

/// The approval a message's device has, or will have once admitted: what it may be sent.
pub fn approval_of(
    device: Option<&DeviceRecord>,
    mac: Option<&str>,
    provisioned: Option<&Provisioned>,
    newcomers: &Newcomers,
) -> Approval {
    if let Some(device) = device {
        return device.approval;
    }
    match provisioned.zip(mac).is_some_and(|(p, mac)| p.bindable_by(mac)) {
        true => Approval::Approved,
        false => newcomers.policy.approval(),
    }
}

/// The Secure Mode a phone seen for the first time gets from the prepared device it is bound to
/// at this contact, if it is bound and the store looked the mode up.
pub(crate) fn binding_security_mode(
    input: &crate::engine::Input,
    mac: Option<&str>,
) -> Option<crate::security::SecurityMode> {
    let provisioned = input.provisioned.as_ref()?;
    mac.filter(|mac| provisioned.bindable_by(mac))?;
    provisioned.security_mode
}

/// Admits a device seen for the first time: binds it to its provisioned device (group,
/// variables, E.164), or applies the unknown-device policy.
pub(crate) fn admit(
    device: &mut DeviceRecord,
    provisioned: Option<&Provisioned>,
    newcomers: &Newcomers,
) -> Admission {
    let mut admission = Admission { binding: None, conflict: None, e164: None, note: String::new() };
    if let Some(p) = provisioned.filter(|p| p.bindable_by(&device.mac)) {
        let by = if p.mac.as_deref() == Some(device.mac.as_str()) { "MAC" } else { "E.164" };
        device.group = p.group.clone();
        device.other_groups = p.other_groups.clone();
        device.approval = Approval::Approved;
        admission.binding = Some(Binding {
            provisioned_id: p.id,
            mac: device.mac.clone(),
            variables: p
                .variables
                .iter()
                .map(|v| Variable { scope: Scope::Device(device.mac.clone()), ..v.clone() })
                .collect(),
        });
        admission.e164 = p.e164.clone().map(|number| DesiredEntry {
            scope: Scope::Device(device.mac.clone()),
            key: ItemKey::new("e164", None),
            value: number,
        });
        admission.note = format!("bound to provisioned device {} by {by}", p.id);
        return admission;
    }
    if let Some(p) = provisioned {
        let (number, other) = (p.e164.as_deref().unwrap_or("?"), p.bound_mac.as_deref().unwrap_or("?"));
        let detail = format!(
            "{} claims provisioned device {} (E.164 {number}), which is bound to {other}: not bound",
            device.mac, p.id
        );
        admission.note = format!("{detail}; ");
        admission.conflict = Some(BindingConflict { provisioned_id: p.id, detail });
    }
    device.approval = newcomers.policy.approval();
    if newcomers.policy != UnknownDevicePolicy::Reject {
        device.group = newcomers.default_group.clone();
    }
    let state = match device.approval {
        Approval::Approved => "accepted",
        Approval::Pending => "quarantined: nothing is written until approved (opendls device approve)",
        Approval::Rejected => "rejected by the unknown-device policy (opendls device approve admits it)",
    };
    admission.note.push_str(&format!("unknown device {state}"));
    admission
}

/// The `cleanup-reason` a rejected device is answered with.
pub const REJECTED_REASON: &str = "unknown device rejected by policy";
