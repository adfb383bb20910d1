//! One simulated phone: its identity, its items and how it answers each action, as the guide
//! describes (§3.5-3.8). Pure: messages in, messages out; the network is elsewhere.

use std::collections::BTreeMap;

use opendls_wpi::bootstrap::BOOTSTRAP_ITEMS;
use opendls_wpi::catalog::Access;
use opendls_wpi::{
    Action, Catalog, DlsMessage, Fragment, Item, ItemStatus, MAX_MESSAGE_BYTES, Reason, ReasonForContact,
    ReplyStatus, WorkpointMessage, write_workpoint_message,
};

use opendls_wpi::models::{Family, PhoneModel};

use crate::items::{basic_item_names, realistic_items};

mod files;
mod secure_mode;
use files::file_jobs;
pub use files::{FileJob, dotted_to_software_version};
use secure_mode::wbm_certificate_info;
pub use secure_mode::{PinOrder, PinOutcome, SecureModeOrder};

/// Who a simulated phone is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhoneProfile {
    /// MAC address, e.g. `00:1A:E8:00:00:01`.
    pub mac: String,
    /// `device-type`, e.g. `OpenStage 60` (guide p. 35).
    pub model: String,
    /// `software-version`, e.g. `V3 R5.12.0`.
    pub firmware: String,
    /// E.164 number.
    pub e164: String,
    /// Where this phone's contact-me listener is (guide p. 27); loopback in tests.
    pub contact_me_uri: String,
    /// `maxItems` announced to the service (`-1`: no limit, p. 28).
    pub max_items: i64,
    /// Items per fragment of the phone's own long replies (the guide's phone splits at 50 kB or
    /// at its threshold, p. 69); `None` splits only at 50 kB.
    pub fragment_items: Option<usize>,
    /// `part-number`, the hardware variant (p. 33).
    pub part_number: String,
    /// Whether a `ReadItems` reply leaves out items the phone does not know, instead of
    /// returning them with `status="unknown item"` (both are seen; docs/interop.md).
    pub omits_unknown_items: bool,
}

impl PhoneProfile {
    /// A profile numbered `n` within a fleet: MACs in the Unify OUI `00:1A:E8`, models and
    /// firmware cycled over the common ones.
    pub fn numbered(n: u32) -> PhoneProfile {
        const MODELS: [&str; 5] =
            ["OpenStage 15", "OpenStage 20", "OpenStage 40", "OpenStage 60", "OpenStage 80"];
        const FIRMWARE: [&str; 3] = ["V3 R5.12.0", "V3 R4.42.0", "V3 R3.32.0"];
        let bytes = n.to_be_bytes();
        PhoneProfile {
            mac: format!("00:1A:E8:{:02X}:{:02X}:{:02X}", bytes[1], bytes[2], bytes[3]),
            model: MODELS[n as usize % MODELS.len()].to_owned(),
            firmware: FIRMWARE[n as usize % FIRMWARE.len()].to_owned(),
            e164: format!("4989722{:05}", n % 100_000),
            contact_me_uri: "http://127.0.0.1:8085/contact_dls.html/ContactDLS".to_owned(),
            max_items: -1,
            fragment_items: None,
            part_number: "S30817-S7403-A101-015".to_owned(),
            omits_unknown_items: false,
        }
    }

    /// A profile numbered `n` of one model, with firmware of its family's line. The CP firmware
    /// versions and part number are illustrative (no capture of them is in the repository).
    pub fn of_model(n: u32, model: &PhoneModel) -> PhoneProfile {
        const CP_FIRMWARE: [&str; 2] = ["V1 R6.7.0", "V1 R5.15.0"];
        let mut profile = PhoneProfile::numbered(n);
        profile.model = model.device_type();
        if model.family == Family::DeskPhoneCp {
            profile.firmware = CP_FIRMWARE[n as usize % CP_FIRMWARE.len()].to_owned();
            profile.part_number = "L30250-F600-C435".to_owned();
        }
        profile
    }
}

/// What the phone does after a service message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// Send this message (a `reply-to`).
    Reply(WorkpointMessage),
    /// The interaction is over; `send_solicited` asks the phone to call back when idle (p. 76).
    Done {
        /// Whether the `CleanUp` carried `send-solicited`.
        send_solicited: bool,
        /// The `cleanup-reason`, if any.
        reason: Option<String>,
    },
    /// The phone reboots (and later sends `start-up`, p. 50-51).
    Reboot {
        /// Whether it was a factory reset (p. 51).
        factory_reset: bool,
    },
    /// The phone fetches (or deletes) files (p. 52-57); the driver downloads them and calls
    /// [`SimPhone::files_done`].
    Files(Vec<FileJob>),
}

/// A simulated phone.
#[derive(Debug, Clone)]
pub struct SimPhone {
    /// Identity.
    pub profile: PhoneProfile,
    /// Current values, by (name, index).
    items: BTreeMap<(String, Option<u32>), String>,
    /// In a call: `WriteItems` is answered `busy` (p. 46, 76).
    pub in_call: bool,
    /// Whether the configuration changed since the last exchange (`configuration-changed-flag`).
    pub configuration_changed: bool,
    /// Fragments of a long reply still to send (p. 69-70).
    pending_fragments: Vec<Vec<Item>>,
    /// The action the pending fragments answer.
    fragment_action: Option<Action>,
    /// The nonce of the message the phone sent last; the service must echo it (p. 28).
    pub last_nonce: String,
    /// Bootstrap data received in this interaction, applied when it ends with `CleanUp` (p. 64).
    pending_secure_mode: Option<SecureModeOrder>,
    /// Secure Mode, once bootstrapped: every later request uses mutual TLS on its port (p. 65).
    pub secure_mode: Option<SecureModeOrder>,
    /// A PIN bootstrap received in this interaction, waiting for `CleanUp`.
    pending_pin_order: Option<PinOrder>,
    /// A PIN bootstrap waiting for the user's PIN.
    pub pin_order: Option<PinOrder>,
}

impl SimPhone {
    /// A phone with a realistic item set (several hundred catalog items) for its profile.
    pub fn new(profile: PhoneProfile) -> SimPhone {
        let items =
            realistic_items(&profile).into_iter().map(|item| ((item.name, item.index), item.value)).collect();
        SimPhone {
            profile,
            items,
            in_call: false,
            configuration_changed: false,
            pending_fragments: Vec::new(),
            fragment_action: None,
            last_nonce: String::new(),
            pending_secure_mode: None,
            secure_mode: None,
            pending_pin_order: None,
            pin_order: None,
        }
    }

    /// How many items the phone holds.
    pub fn item_count(&self) -> usize {
        self.items.len()
    }

    /// The current value of an item.
    pub fn value(&self, name: &str, index: Option<u32>) -> Option<&str> {
        self.items.get(&(name.to_owned(), index)).map(String::as_str)
    }

    /// Plugs in a key module: the inventory items change and the phone reports
    /// `inventory-changes` with the new values (p. 28; \[Sim\] sends `key-modules` and the module
    /// counts).
    pub fn attach_key_module(&mut self) -> Vec<Item> {
        let count = self.value("km15-modules", None).and_then(|v| v.parse::<u32>().ok()).unwrap_or(0) + 1;
        let changed = vec![
            Item::new("key-modules", format!("KM15 x{count}")),
            Item::new("km15-modules", count.to_string()),
        ];
        for item in &changed {
            self.items.insert((item.name.clone(), None), item.value.clone());
        }
        changed
    }

    /// Sets an item without it counting as a configuration change (the phone's own state, such
    /// as its address).
    pub fn change_item(&mut self, name: &str, index: Option<u32>, value: &str) {
        self.items.insert((name.to_owned(), index), value.to_owned());
    }

    /// Changes an item as a user would in the phone's menu (a local change, p. 37).
    pub fn change_locally(&mut self, name: &str, index: Option<u32>, value: &str) {
        self.items.insert((name.to_owned(), index), value.to_owned());
        self.configuration_changed = true;
    }

    /// The first message of a phone-initiated interaction: the basic items (p. 33, 35), then
    /// `attached`: for `local-changes` from V2R2 firmware the changed items (p. 40), for
    /// `inventory-changes` the changed inventory items.
    pub fn contact(&mut self, reason: Reason, attached: &[Item]) -> WorkpointMessage {
        let mut items = self.basic_items();
        for item in &mut items {
            if item.name == "configuration-changed-flag" {
                item.value = self.configuration_changed.to_string();
            }
        }
        if reason == Reason::LocalChanges && !attached.is_empty() {
            items.push(Item::new("configuration-attached-flag", "true"));
            items.push(Item::new("configuration-attached-number", attached.len().to_string()));
        }
        items.extend(attached.iter().cloned());
        self.message(ReasonForContact::new(reason), None, items)
    }

    /// The basic items with this phone's current values.
    fn basic_items(&self) -> Vec<Item> {
        basic_item_names()
            .filter_map(|name| self.value(name, None).map(|value| Item::new(name, value)))
            .collect()
    }

    /// Answers a service message. A nonce other than the one the phone sent is refused with
    /// `clean-up`, as a phone guarding against replays would (p. 28).
    pub fn answer(&mut self, message: &DlsMessage) -> Next {
        if message.nonce != self.last_nonce {
            let reason = format!("nonce mismatch: sent {}, got {}", self.last_nonce, message.nonce);
            let items = vec![Item::new("cleanup-reason", reason)];
            return Next::Reply(self.message(ReasonForContact::new(Reason::CleanUp), None, items));
        }
        match &message.action {
            Action::ReadAllItems => {
                self.configuration_changed = false;
                let all: Vec<Item> = self
                    .items
                    .iter()
                    .map(|((name, index), value)| Item {
                        index: *index,
                        ..Item::new(name.clone(), value.clone())
                    })
                    .collect();
                self.start_reply(Action::ReadAllItems, all)
            }
            Action::ReadItems => {
                let found = message
                    .items
                    .iter()
                    .filter_map(|wanted| match self.value(&wanted.name, wanted.index) {
                        Some(value) => {
                            Some(Item { index: wanted.index, ..Item::new(wanted.name.clone(), value) })
                        }
                        None if self.profile.omits_unknown_items => None,
                        None => Some(Item { status: Some(ItemStatus::UnknownItem), ..wanted.clone() }),
                    })
                    .collect();
                self.start_reply(Action::ReadItems, found)
            }
            Action::GetNextFragment => match self.fragment_action.clone() {
                Some(action) if !self.pending_fragments.is_empty() => {
                    let part = self.pending_fragments.remove(0);
                    let fragment =
                        if self.pending_fragments.is_empty() { Fragment::Final } else { Fragment::Next };
                    self.reply(action, ReplyStatus::Accepted, Some(fragment), part)
                }
                _ => self.reply(
                    Action::GetNextFragment,
                    ReplyStatus::Failed,
                    Some(Fragment::Final),
                    Vec::new(),
                ),
            },
            Action::WriteItems => {
                if self.in_call {
                    // p. 76: busy, nothing written, no ItemList.
                    return self.reply(
                        Action::WriteItems,
                        ReplyStatus::Busy,
                        Some(Fragment::Final),
                        Vec::new(),
                    );
                }
                let refused = self.write(&message.items);
                self.reply(Action::WriteItems, ReplyStatus::Accepted, Some(Fragment::Final), refused)
            }
            Action::CleanUp => {
                // p. 64 step 4-5: the bootstrap takes effect once the interaction has ended.
                if let Some(order) = self.pending_secure_mode.take() {
                    self.secure_mode = Some(order);
                }
                if let Some(order) = self.pending_pin_order.take() {
                    self.pin_order = Some(order);
                }
                let value =
                    |name: &str| message.items.iter().find(|i| i.name == name).map(|i| i.value.clone());
                Next::Done {
                    send_solicited: value("send-solicited").as_deref() == Some("true"),
                    reason: value("cleanup-reason"),
                }
            }
            Action::Restart => {
                let value =
                    |name: &str| message.items.iter().find(|i| i.name == name).map(|i| i.value.as_str());
                // p. 51: a factory reset needs the fixed password.
                let factory_reset = value("restart-type") == Some("FactoryReset")
                    && value("restart-password") == Some("124816");
                if factory_reset {
                    // Delivery state: the Secure Mode certificates go too.
                    self.secure_mode = None;
                    self.pin_order = None;
                    self.items = realistic_items(&self.profile)
                        .into_iter()
                        .map(|i| ((i.name, i.index), i.value))
                        .collect();
                }
                Next::Reboot { factory_reset }
            }
            Action::FileDeployment | Action::SoftwareDeployment => {
                let firmware = message.action == Action::SoftwareDeployment;
                let priority =
                    message.items.iter().find(|i| i.name == "file-priority").map(|i| i.value.as_str());
                if firmware && self.in_call && priority == Some("normal") {
                    // p. 56: a normal-priority deployment is refused during a call.
                    return self.reply(
                        message.action.clone(),
                        ReplyStatus::Busy,
                        Some(Fragment::Final),
                        Vec::new(),
                    );
                }
                Next::Files(file_jobs(&message.items, firmware))
            }
            other => self.reply(other.clone(), ReplyStatus::Failed, Some(Fragment::Final), Vec::new()),
        }
    }

    /// Applies written items; returns the refused ones with their status (p. 77-83).
    fn write(&mut self, items: &[Item]) -> Vec<Item> {
        let catalog = Catalog::builtin();
        let mut refused = Vec::new();
        let items = match items.iter().find(|i| i.name == "goto-secure-mode") {
            Some(mode) => {
                refused.extend(self.bootstrap(&mode.value, items));
                items.iter().filter(|i| !BOOTSTRAP_ITEMS.contains(&i.name.as_str())).cloned().collect()
            }
            None => items.to_vec(),
        };
        for item in &items {
            let status = match catalog.get(&item.name) {
                None if !self.items.contains_key(&(item.name.clone(), item.index)) => {
                    Some(ItemStatus::UnknownItem)
                }
                Some(entry) if entry.access == Access::ReadOnly => Some(ItemStatus::ReadOnly),
                _ if catalog.check(&item.name, item.index, &item.value).is_refused() => {
                    Some(ItemStatus::Failed)
                }
                _ => None,
            };
            match status {
                Some(status) => {
                    refused.push(Item { status: Some(status), value: String::new(), ..item.clone() })
                }
                None if item.name == "wbm-server-certificate" => match wbm_certificate_info(&item.value) {
                    // p. 59-61: the phone installs the container; the service reads the summary back.
                    Some(info) => {
                        self.items.insert(("wbm-server-certificate-info".into(), None), info);
                    }
                    None => refused.push(Item {
                        status: Some(ItemStatus::InvalidData),
                        value: String::new(),
                        ..item.clone()
                    }),
                },
                None => {
                    self.items.insert((item.name.clone(), item.index), item.value.clone());
                }
            }
        }
        refused
    }

    /// Starts a reply that may need fragments (p. 69): by the phone's item threshold, or by the
    /// 50 kB limit.
    fn start_reply(&mut self, action: Action, items: Vec<Item>) -> Next {
        let mut parts = self.fragments(items);
        let first = parts.remove(0);
        self.pending_fragments = parts;
        self.fragment_action = Some(action.clone());
        let fragment = if self.pending_fragments.is_empty() { Fragment::Final } else { Fragment::Next };
        self.reply(action, ReplyStatus::Accepted, Some(fragment), first)
    }

    fn fragments(&self, items: Vec<Item>) -> Vec<Vec<Item>> {
        let per_part = self.profile.fragment_items.unwrap_or(usize::MAX).max(1);
        // Leave room for the envelope and basic attributes within 50 kB.
        let budget = MAX_MESSAGE_BYTES - 1024;
        let mut parts = vec![Vec::new()];
        let mut bytes = 0;
        for item in items {
            let size = item.name.len() + item.value.len() + 48;
            let current = parts.last_mut().expect("never empty");
            if !current.is_empty() && (current.len() >= per_part || bytes + size > budget) {
                parts.push(Vec::new());
                bytes = 0;
            }
            bytes += size;
            parts.last_mut().expect("never empty").push(item);
        }
        parts
    }

    fn reply(
        &mut self,
        action: Action,
        status: ReplyStatus,
        fragment: Option<Fragment>,
        items: Vec<Item>,
    ) -> Next {
        Next::Reply(self.message(ReasonForContact::reply_to(action, status), fragment, items))
    }

    fn message(
        &mut self,
        reason: ReasonForContact,
        fragment: Option<Fragment>,
        items: Vec<Item>,
    ) -> WorkpointMessage {
        // Newer firmware sends a fresh 32-hex nonce with every message (docs/wpi-protocol.md §5).
        let mut bytes = [0u8; 16];
        getrandom::fill(&mut bytes).expect("the operating system's random source is available");
        self.last_nonce = hex::encode_upper(bytes);
        WorkpointMessage {
            nonce: self.last_nonce.clone(),
            max_items: Some(self.profile.max_items),
            fragment,
            reason,
            items,
        }
    }
}

/// Serializes a phone message for the wire.
pub fn to_wire(message: &WorkpointMessage) -> Vec<u8> {
    write_workpoint_message(message).into_bytes()
}

#[cfg(test)]
mod tests;
