//! The interaction engine: one phone message in, one decision out.

use opendls_wpi::fragment::AssemblyLimits;
use opendls_wpi::{Action, DlsMessage, Reason, WorkpointMessage};

use crate::jobs::{DeviceTask, TaskUpdate};
use crate::model::{
    DesiredEntry, DeviceRecord, HistoryEvent, InteractionState, ItemKey, LocalChangePolicy, Timestamp,
    WriteFailure,
};

pub use opendls_wpi::catalog::BASIC_ITEMS;

mod certificate;
mod contact;
mod deploy;
mod inventory;
mod next;
mod read_result;
mod reading;
mod records;
mod reply;
mod secure_flow;
mod size_limits;

use contact::{on_contact, on_phone_clean_up, on_status};
use records::{end_with_error, event, protocol_error};
use reply::on_reply;

pub use size_limits::inventory_bytes;

/// Tunables of the engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EngineSettings {
    /// A known, unchanged phone is read in full again when its inventory is older than this.
    pub inventory_max_age_secs: i64,
    /// Bounds on a fragmented phone reply.
    pub assembly_limits: AssemblyLimits,
    /// Largest service message in bytes (guide p. 69).
    pub max_message_bytes: usize,
    /// Most bytes of reported items one device may hold ([`inventory_bytes`]); a message that
    /// would make it hold more is refused and nothing of it is stored.
    pub max_inventory_bytes: usize,
    /// A deployment the phone has not answered this long after it was sent (no `status` for a
    /// file, no start-up after firmware, files still missing) ends with the reason.
    pub deployment_timeout_secs: i64,
}

/// Default for [`EngineSettings::max_inventory_bytes`]: as much as the largest reassembled reply.
pub const DEFAULT_MAX_INVENTORY_BYTES: usize = opendls_wpi::fragment::DEFAULT_MAX_REPLY_BYTES;

impl Default for EngineSettings {
    fn default() -> Self {
        EngineSettings {
            inventory_max_age_secs: 24 * 3600,
            assembly_limits: AssemblyLimits::default(),
            max_message_bytes: opendls_wpi::MAX_MESSAGE_BYTES,
            max_inventory_bytes: DEFAULT_MAX_INVENTORY_BYTES,
            deployment_timeout_secs: 30 * 60,
        }
    }
}

/// Everything the engine needs to decide about one phone message.
#[derive(Debug, Clone)]
pub struct Input {
    /// The current time.
    pub now: Timestamp,
    /// Where the request came from.
    pub remote_addr: String,
    /// A fresh, unguessable session id, used if this message starts an interaction.
    pub new_session_id: String,
    /// The parsed phone message.
    pub message: WorkpointMessage,
    /// The device's record, if the device is known.
    pub device: Option<DeviceRecord>,
    /// The interaction this message belongs to, if it is a `reply-to` and one was found.
    pub interaction: Option<InteractionState>,
    /// Desired entries for this device: global, every model scope (the engine matches them), its
    /// group's and its own.
    pub desired: Vec<DesiredEntry>,
    /// Variables its templates may use: global, its group's and its own.
    pub variables: Vec<crate::template::Variable>,
    /// Values the phone refused earlier.
    pub failures: Vec<WriteFailure>,
    /// The local-change policy in force for the device.
    pub policy: LocalChangePolicy,
    /// The device's unfinished job work, oldest job first.
    pub tasks: Vec<DeviceTask>,
    /// The channel the message came on and the device's Secure Mode state.
    pub security: crate::security::SecurityInput,
    /// For a device not yet known: the provisioned device prepared for its MAC or its reported
    /// E.164, if any.
    pub provisioned: Option<crate::newcomers::Provisioned>,
    /// How devices not yet known are admitted.
    pub newcomers: crate::newcomers::Newcomers,
    /// Where the phone fetches the files of its deployment jobs, once asked for
    /// ([`Need::Downloads`]; `Err` when they cannot be served).
    pub downloads: Option<Result<Vec<Download>, String>>,
}

/// Where a phone fetches one stored file: the items that tell it (`file-https-base-url`, or the
/// FTP server's items; guide p. 53, 57).
#[derive(Clone, PartialEq, Eq)]
pub struct Download {
    /// The stored file.
    pub file_id: i64,
    /// The items naming the source, without `index` (the deployment adds it).
    pub source: Vec<opendls_wpi::Item>,
}

impl std::fmt::Debug for Download {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // A URL carries a token and FTP items a password: only the names are shown.
        let names: Vec<&str> = self.source.iter().map(|item| item.name.as_str()).collect();
        f.debug_struct("Download").field("file_id", &self.file_id).field("source", &names).finish()
    }
}

/// What happens to the interaction state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InteractionChange {
    /// A new interaction starts: save it, set its cookie.
    Start(InteractionState),
    /// The interaction goes on: save its new state.
    Continue(InteractionState),
    /// The interaction is over: delete it (if it was stored).
    End(Option<String>),
}

/// The engine's answer: the reply, and the changes to persist together.
#[derive(Debug, Clone)]
pub struct Decision {
    /// The message to send back.
    pub reply: DlsMessage,
    /// The device's new record, to store (None when no device could be identified).
    pub device: Option<DeviceRecord>,
    /// Set when a phone-initiated contact starts a new flow: every earlier interaction of this
    /// device is stale and must be dropped (guide p. 33: a new connection starts a new flow).
    pub supersedes_interactions_of: Option<String>,
    /// What happens to the interaction state.
    pub interaction: InteractionChange,
    /// History entries to append.
    pub history: Vec<HistoryEvent>,
    /// Refused values to remember.
    pub failures_added: Vec<WriteFailure>,
    /// Items whose earlier refusals are cleared (the phone accepted a value since).
    pub failures_cleared: Vec<ItemKey>,
    /// Device-scope desired values to set (accepted local changes, a provisioned E.164).
    pub desired_set: Vec<DesiredEntry>,
    /// A provisioned device to bind to this phone.
    pub binding: Option<crate::newcomers::Binding>,
    /// A phone's claim on a provisioned device bound to another one, to record.
    pub binding_conflict: Option<crate::newcomers::BindingConflict>,
    /// Job targets whose state changes.
    pub task_updates: Vec<TaskUpdate>,
    /// The device's new Secure Mode record, when it changed.
    pub security: Option<crate::security::DeviceSecurity>,
    /// Client certificates issued, activated, revoked or superseded.
    pub certificates: Vec<crate::security::CertificateChange>,
    /// A security event to log (a refused channel or certificate, a wrong TAN, ...).
    pub security_event: Option<String>,
    /// Outside work this decision found it needs ([`decide`] turns it into [`Outcome::Needs`]).
    needs: Option<Need>,
    /// Why the interaction ended abnormally, for the log (never contains item values).
    pub error: Option<String>,
}

impl Decision {
    fn new(reply: DlsMessage) -> Self {
        Decision {
            reply,
            device: None,
            supersedes_interactions_of: None,
            interaction: InteractionChange::End(None),
            history: Vec::new(),
            failures_added: Vec::new(),
            failures_cleared: Vec::new(),
            desired_set: Vec::new(),
            binding: None,
            binding_conflict: None,
            task_updates: Vec::new(),
            security: None,
            certificates: Vec::new(),
            security_event: None,
            needs: None,
            error: None,
        }
    }

    /// The action of the reply, for logs.
    pub fn action(&self) -> &Action {
        &self.reply.action
    }
}

/// Normalises a MAC address to upper case with colons; `None` if it is not one. Accepted: six
/// pairs separated by `:` or `-` (`00:1A:E8:00:00:01`, `00-1a-e8-00-00-01`), three groups of
/// four separated by `.` (`001A.E800.0001`, as switches print them) and twelve plain hex digits.
pub fn normalize_mac(text: &str) -> Option<String> {
    let text = text.trim();
    let pairs: Vec<&str> = text.split([':', '-']).collect();
    let groups: Vec<&str> = text.split('.').collect();
    let digits: String = match (pairs.len(), groups.len()) {
        (6, 1) if pairs.iter().all(|p| p.len() == 2) => pairs.concat(),
        (1, 3) if groups.iter().all(|g| g.len() == 4) => groups.concat(),
        (1, 1) if text.len() == 12 => text.to_owned(),
        _ => return None,
    };
    if !digits.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    let upper = digits.to_ascii_uppercase();
    let pairs: Vec<&str> = (0..6).map(|n| &upper[2 * n..2 * n + 2]).collect();
    Some(pairs.join(":"))
}

/// The MAC of the device a message concerns: the interaction's, else the message's `mac-addr`.
pub fn device_mac(message: &WorkpointMessage, interaction: Option<&InteractionState>) -> Option<String> {
    device_mac_of(&message.reason.reason, message.value("mac-addr"), interaction)
}

/// [`device_mac`] from the message's reason and reported `mac-addr` alone (for callers that
/// must not hold the whole message).
pub fn device_mac_of(
    reason: &Reason,
    reported_mac: Option<&str>,
    interaction: Option<&InteractionState>,
) -> Option<String> {
    match (reason, interaction) {
        (Reason::ReplyTo, Some(state)) => Some(state.mac.clone()),
        _ => reported_mac.and_then(normalize_mac),
    }
}

/// Outside work the engine cannot do itself (it does no I/O and holds no keys): the caller
/// does it, puts the result into the [`Input`], and decides again. Nothing of the decision that
/// asked is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Key material for a Secure Mode bootstrap, with or without PIN: fill
    /// [`crate::SecurityInput::material`] (`Err` when it cannot be made).
    BootstrapMaterial {
        /// Whether the bootstrap is the PIN variant (guide p. 66-68).
        with_pin: bool,
    },
    /// A certificate for a web-interface certificate deployment job: fill
    /// [`crate::SecurityInput::wbm_certificate`] (`Err` when it cannot be made).
    WbmCertificate,
    /// Download sources for the files of the device's deployment jobs: fill [`Input::downloads`].
    Downloads,
}

/// What the engine makes of one phone message: a decision, or the outside work it needs first.
#[must_use]
#[derive(Debug, Clone)]
pub enum Outcome {
    /// The decision: the reply and the changes to persist together.
    Decided(Box<Decision>),
    /// Do this, then decide again with its result in the input.
    Needs(Need),
}

impl Outcome {
    /// The decision, when there is one.
    pub fn decision(self) -> Option<Decision> {
        match self {
            Outcome::Decided(decision) => Some(*decision),
            Outcome::Needs(_) => None,
        }
    }
}

/// Decides how to answer one phone message, or says what it needs first.
pub fn decide(input: &Input, settings: &EngineSettings) -> Outcome {
    let mac = device_mac(&input.message, input.interaction.as_ref());
    let approval = crate::newcomers::approval_of(
        input.device.as_ref(),
        mac.as_deref(),
        input.provisioned.as_ref(),
        &input.newcomers,
    );
    let (unconfigured, binding);
    let input = match approval {
        // Bound at this contact: the Secure Mode of its prepared group applies already.
        crate::newcomers::Approval::Approved if input.device.is_none() => {
            match crate::newcomers::binding_security_mode(input, mac.as_deref()) {
                Some(desired) => {
                    binding = Input {
                        security: crate::security::SecurityInput { desired, ..input.security.clone() },
                        ..input.clone()
                    };
                    &binding
                }
                None => input,
            }
        }
        crate::newcomers::Approval::Approved => input,
        // Quarantined or rejected: read, never written, no job, no bootstrap.
        _ => {
            unconfigured = Input {
                desired: Vec::new(),
                variables: Vec::new(),
                tasks: Vec::new(),
                security: crate::security::SecurityInput {
                    desired: crate::security::SecurityMode::Default,
                    ..input.security.clone()
                },
                ..input.clone()
            };
            &unconfigured
        }
    };
    let bootstrap =
        crate::security::bootstrap_wanted(&input.message.reason.reason, &input.security, input.now);
    if let Some(with_pin) = bootstrap
        && input.security.material.is_none()
    {
        return Outcome::Needs(Need::BootstrapMaterial { with_pin });
    }
    let decision = decide_now(input, settings);
    match decision.needs {
        Some(need) => Outcome::Needs(need),
        None => Outcome::Decided(Box::new(decision)),
    }
}

fn decide_now(input: &Input, settings: &EngineSettings) -> Decision {
    if let Some(refused) = secure_flow::refusal(input) {
        return refused;
    }
    if let Some(refused) = size_limits::refuse_oversized_value(input, settings) {
        return refused;
    }
    let request = size_limits::Request::of(input);
    let decision = match input.message.reason.reason.clone() {
        Reason::ReplyTo => on_reply(input, settings),
        Reason::StartUp | Reason::Solicited | Reason::LocalChanges | Reason::InventoryChanges => {
            on_contact(input, settings)
        }
        Reason::Status => on_status(input, settings),
        Reason::CleanUp => on_phone_clean_up(input),
        Reason::Other(reason) => protocol_error(input, format!("unsupported reason for contact {reason:?}")),
    };
    size_limits::bound_inventory(&request, decision, settings)
}
