//! The interaction engine: one phone message in, one decision out.

use std::collections::BTreeMap;

use opendls_wpi::catalog::Access;
use opendls_wpi::fragment::{AssemblyLimits, AssemblyProgress, FragmentAssembly, SplitLimits, split_items};
use opendls_wpi::secrets::displayable_value;
use opendls_wpi::{Action, Catalog, DlsMessage, Item, ItemStatus, Reason, ReplyStatus, WorkpointMessage};

use crate::desired::{EffectiveDesired, effective_desired};
use crate::jobs::{DeviceTask, JobId, JobKind, TargetState, TaskUpdate};
use crate::model::{
    DesiredEntry, DeviceRecord, EventKind, FlaggedChange, HistoryEvent, InteractionState, ItemKey,
    LocalChangePolicy, ReportedItem, Scope, Step, Timestamp, WriteFailure,
};

pub use opendls_wpi::catalog::BASIC_ITEMS;

mod read_result;
mod secure_flow;
mod size_limits;

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
    /// Desired entries for this device: global, its group's and its own.
    pub desired: Vec<DesiredEntry>,
    /// Values the phone refused earlier.
    pub failures: Vec<WriteFailure>,
    /// The local-change policy in force for the device.
    pub policy: LocalChangePolicy,
    /// The device's unfinished job work, oldest job first.
    pub tasks: Vec<DeviceTask>,
    /// The channel the message came on and the device's Secure Mode state.
    pub security: crate::security::SecurityInput,
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
    /// Device-scope desired values to set (accepted local changes).
    pub desired_set: Vec<DesiredEntry>,
    /// Job targets whose state changes.
    pub task_updates: Vec<TaskUpdate>,
    /// The device's new Secure Mode record, when it changed.
    pub security: Option<crate::security::DeviceSecurity>,
    /// Client certificates issued, activated, revoked or superseded.
    pub certificates: Vec<crate::security::CertificateChange>,
    /// A security event to log (a refused channel or certificate, a wrong TAN, ...).
    pub security_event: Option<String>,
    /// A certificate deployment job is due but the input has no certificate: make one
    /// (`SecurityInput::wbm_certificate`) and decide again. Nothing of this decision is kept.
    pub wants_wbm_certificate: bool,
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
            task_updates: Vec::new(),
            security: None,
            certificates: Vec::new(),
            security_event: None,
            wants_wbm_certificate: false,
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

/// Decides how to answer one phone message.
pub fn handle(input: Input, settings: &EngineSettings) -> Decision {
    if let Some(refused) = secure_flow::refusal(&input) {
        return refused;
    }
    if let Some(refused) = size_limits::refuse_oversized_value(&input, settings) {
        return refused;
    }
    let request = size_limits::Request::of(&input);
    let decision = match input.message.reason.reason.clone() {
        Reason::ReplyTo => on_reply(input, settings),
        Reason::StartUp | Reason::Solicited | Reason::LocalChanges | Reason::InventoryChanges => {
            on_contact(input, settings)
        }
        Reason::Status => on_status(input),
        Reason::CleanUp => on_phone_clean_up(input),
        Reason::Other(reason) => protocol_error(input, format!("unsupported reason for contact {reason:?}")),
    };
    size_limits::bound_inventory(&request, decision, settings)
}

/// A phone-initiated contact: register, merge what it sent, then read or write.
fn on_contact(input: Input, settings: &EngineSettings) -> Decision {
    let Some(mac) = input.message.value("mac-addr").and_then(normalize_mac) else {
        return protocol_error(input, "message has no valid mac-addr".into());
    };
    let now = input.now;
    let reason = input.message.reason.reason.to_string();
    let mut decision = Decision::new(DlsMessage::new(&input.message.nonce, Action::CleanUp));
    decision.supersedes_interactions_of = Some(mac.clone());

    let mut device = input.device.clone().unwrap_or_else(|| {
        decision.history.push(event(&mac, now, EventKind::Registered, &reason, "first contact"));
        DeviceRecord::new(mac.clone(), now)
    });
    device.last_contact = now;
    device.last_reason = reason.clone();
    device.remote_addr = Some(input.remote_addr.clone());

    let attached_changes = input.message.reason.reason == Reason::LocalChanges
        && input.message.value("configuration-attached-flag") == Some("true");
    let mut local_changes = Vec::new();
    for item in &input.message.items {
        if attached_changes && !BASIC_ITEMS.contains(&item.name.as_str()) {
            local_changes.push(ReportedItem::from(item));
        } else {
            merge_reported(&mut device, ReportedItem::from(item), now, &reason, &mut decision.history);
        }
    }
    update_identity(&mut device);
    let mut tasks = input.tasks.clone();
    if input.message.reason.reason == Reason::StartUp {
        settle_reboots(&mut decision, &mut tasks, &mut device, now);
    }

    let mut desired = effective_desired(&input.desired, &device.mac, device.group.as_deref());
    if !local_changes.is_empty() {
        apply_local_changes(
            &mut device,
            local_changes,
            &mut desired,
            input.policy,
            now,
            &reason,
            &mut decision,
        );
    }

    let old_firmware_local_change = input.message.reason.reason == Reason::LocalChanges && !attached_changes;
    let changed_flag = input.message.value("configuration-changed-flag") == Some("true");
    let stale = device.inventory_read_at.is_none_or(|at| now - at > settings.inventory_max_age_secs);
    let state = InteractionState {
        session_id: input.new_session_id.clone(),
        mac: mac.clone(),
        reason: reason.clone(),
        remote_addr: input.remote_addr.clone(),
        started_at: now,
        updated_at: now,
        max_items: input.message.max_items,
        local_change_read: old_firmware_local_change,
        step: Step::Reading { items: Vec::new(), fragments: 0 },
        secure: input.security.channel.is_secure(),
    };
    if secure_flow::on_contact(&input, &mut decision, &mut device, state.clone()) {
        decision.device = Some(device);
        return decision;
    }
    if stale || changed_flag || old_firmware_local_change {
        // guide p. 34: read everything when the phone is new or its configuration changed.
        decision.reply = DlsMessage::new(&input.message.nonce, Action::ReadAllItems);
        decision.interaction = InteractionChange::Start(state);
    } else {
        let mut next =
            Next { decision: &mut decision, device: &mut device, tasks: &mut tasks, input: &input };
        next.action(state, &desired, settings, true);
    }
    decision.device = Some(device);
    decision
}

/// A `start-up` finishes restarts and factory resets sent earlier (guide p. 50-51: the phone
/// reboots and registers again). A restart not yet sent is also satisfied: the phone has just
/// rebooted after the job was created. A factory reset not yet sent is not: only a reset resets.
fn settle_reboots(
    decision: &mut Decision,
    tasks: &mut Vec<DeviceTask>,
    device: &mut DeviceRecord,
    now: Timestamp,
) {
    for task in tasks.clone() {
        let detail = match (&task.kind, task.state) {
            (JobKind::Restart | JobKind::FactoryReset, TargetState::Running) => "the phone started up again",
            (JobKind::Restart, _) => "the phone restarted by itself after the job was created",
            _ => continue,
        };
        if task.kind == JobKind::FactoryReset {
            // The phone is back in delivery state: everything it reports must be read again.
            device.inventory_read_at = None;
        }
        let mac = device.mac.clone();
        update_task(decision, tasks, &mac, now, &task, TargetState::Done, detail, false);
    }
}

/// A `reply-to`: continue the interaction it belongs to.
fn on_reply(input: Input, settings: &EngineSettings) -> Decision {
    let Some(mut state) = input.interaction.clone() else {
        return protocol_error(input, "reply-to without an interaction in progress".into());
    };
    let now = input.now;
    let nonce = input.message.nonce.clone();
    let reason = state.reason.clone();
    let mut decision = Decision::new(DlsMessage::new(&nonce, Action::CleanUp));
    decision.interaction = InteractionChange::End(Some(state.session_id.clone()));
    let mut device = input.device.clone().unwrap_or_else(|| DeviceRecord::new(state.mac.clone(), now));
    device.last_contact = now;
    device.remote_addr = Some(input.remote_addr.clone());
    state.updated_at = now;
    let mut tasks = input.tasks.clone();
    let step_jobs = jobs_of_step(&state.step, &tasks);

    let awaited = state.step.awaited_action();
    let answered = input.message.reason.action.clone().unwrap_or(awaited.clone());
    if answered != awaited {
        let problem = format!("expected a reply to {awaited}, got a reply to {answered}");
        fail_tasks(&mut decision, &mut tasks, &device.mac, now, &step_jobs, &problem);
        return end_with_error(decision, device, &reason, now, problem);
    }
    match input.message.reason.effective_status() {
        ReplyStatus::Accepted => {}
        ReplyStatus::Busy => {
            // guide p. 72-76: the phone calls back when idle; the pending work stays.
            decision.history.push(event(
                &device.mac,
                now,
                EventKind::Busy,
                &reason,
                &format!("busy, {awaited} postponed"),
            ));
            for task in tasks.clone().iter().filter(|t| t.state != TargetState::WaitingBusy) {
                let detail = format!("phone busy ({awaited} refused); waiting for it to call back");
                update_task(
                    &mut decision,
                    &mut tasks,
                    &device.mac,
                    now,
                    task,
                    TargetState::WaitingBusy,
                    &detail,
                    false,
                );
            }
            decision.reply = DlsMessage::clean_up_send_solicited(&nonce);
            decision.device = Some(device);
            return decision;
        }
        other => {
            let problem = format!("phone answered {other} to {awaited}");
            fail_tasks(&mut decision, &mut tasks, &device.mac, now, &step_jobs, &problem);
            return end_with_error(decision, device, &reason, now, problem);
        }
    }

    let desired = effective_desired(&input.desired, &device.mac, device.group.as_deref());
    let step = std::mem::replace(&mut state.step, Step::Reading { items: Vec::new(), fragments: 0 });
    match step {
        Step::Reading { items, fragments } => {
            let mut assembly = FragmentAssembly {
                action: Some(Action::ReadAllItems),
                items: items.iter().map(to_wpi_item).collect(),
                fragments,
            };
            match assembly.push(input.message.clone(), settings.assembly_limits) {
                Err(problem) if size_limits::is_size_bound(&problem) => {
                    return size_limits::refusal(&size_limits::Request::of(&input), problem.to_string());
                }
                Err(problem) => return end_with_error(decision, device, &reason, now, problem.to_string()),
                Ok(AssemblyProgress::NeedNext) => {
                    // guide p. 70: acknowledge each fragment with GetNextFragment.
                    state.step = Step::Reading {
                        items: assembly.items.iter().map(ReportedItem::from).collect(),
                        fragments: assembly.fragments,
                    };
                    decision.reply = DlsMessage::new(&nonce, Action::GetNextFragment);
                    decision.interaction = InteractionChange::Continue(state);
                }
                Ok(AssemblyProgress::Complete(items)) => {
                    let mut desired = desired;
                    apply_full_read(&mut device, &items, &mut desired, &input, &state, &mut decision);
                    let mut next = Next {
                        decision: &mut decision,
                        device: &mut device,
                        tasks: &mut tasks,
                        input: &input,
                    };
                    next.action(state, &desired, settings, false);
                }
            }
        }
        Step::ReadingItems { job_id, items, fragments } => {
            let mut assembly = FragmentAssembly {
                action: Some(Action::ReadItems),
                items: items.iter().map(to_wpi_item).collect(),
                fragments,
            };
            match assembly.push(input.message.clone(), settings.assembly_limits) {
                Err(problem) if size_limits::is_size_bound(&problem) => {
                    let problem = problem.to_string();
                    let mut refused =
                        size_limits::refusal(&size_limits::Request::of(&input), problem.clone());
                    fail_tasks(&mut refused, &mut tasks, &device.mac, now, &[job_id], &problem);
                    return refused;
                }
                Err(problem) => {
                    let problem = problem.to_string();
                    fail_tasks(&mut decision, &mut tasks, &device.mac, now, &[job_id], &problem);
                    return end_with_error(decision, device, &reason, now, problem);
                }
                Ok(AssemblyProgress::NeedNext) => {
                    state.step = Step::ReadingItems {
                        job_id,
                        items: assembly.items.iter().map(ReportedItem::from).collect(),
                        fragments: assembly.fragments,
                    };
                    decision.reply = DlsMessage::new(&nonce, Action::GetNextFragment);
                    decision.interaction = InteractionChange::Continue(state);
                }
                Ok(AssemblyProgress::Complete(items)) => {
                    let requested = tasks.iter().find(|t| t.job_id == job_id).and_then(|t| match &t.kind {
                        JobKind::ReadItems { items } => Some(items.clone()),
                        _ => None,
                    });
                    let result = read_result::read_result(requested.as_deref().unwrap_or_default(), &items);
                    for item in &items {
                        merge_reported(
                            &mut device,
                            ReportedItem::from(item),
                            now,
                            &reason,
                            &mut decision.history,
                        );
                    }
                    update_identity(&mut device);
                    let (target_state, detail) = read_result::read_outcome(&result);
                    let mut next = Next {
                        decision: &mut decision,
                        device: &mut device,
                        tasks: &mut tasks,
                        input: &input,
                    };
                    next.finish_task_as(
                        job_id,
                        target_state,
                        &detail,
                        Some(result),
                        state,
                        &desired,
                        settings,
                    );
                }
            }
        }
        Step::DeployingWbmCertificate { job_id } => {
            let refused = input.message.items.iter().find(|item| item.status.is_some());
            if let Some(item) = refused {
                let status = item.status.as_ref().map(|s| s.as_wire()).unwrap_or("?");
                let problem = format!("the phone refused the certificate ({status})");
                fail_tasks(&mut decision, &mut tasks, &device.mac, now, &[job_id], &problem);
                return end_with_error(decision, device, &reason, now, problem);
            }
            // guide p. 60 step 3: read the certificate information back to verify.
            let wanted = vec![Item::new("wbm-server-certificate-info", "")];
            decision.reply = DlsMessage::with_items(&nonce, Action::ReadItems, wanted);
            state.step = Step::VerifyingWbmCertificate { job_id };
            decision.interaction = InteractionChange::Continue(state);
        }
        Step::VerifyingWbmCertificate { job_id } => {
            let info = input.message.items.iter().find(|i| i.name == "wbm-server-certificate-info");
            match info {
                Some(info) if info.status.is_none() && !info.value.is_empty() => {
                    merge_reported(
                        &mut device,
                        ReportedItem::from(info),
                        now,
                        &reason,
                        &mut decision.history,
                    );
                    let detail = format!("installed: {}", info.value);
                    let mut next = Next {
                        decision: &mut decision,
                        device: &mut device,
                        tasks: &mut tasks,
                        input: &input,
                    };
                    next.finish_task(job_id, &detail, state, &desired, settings);
                }
                _ => {
                    let problem = "the phone did not report the installed certificate".to_owned();
                    fail_tasks(&mut decision, &mut tasks, &device.mac, now, &[job_id], &problem);
                    return end_with_error(decision, device, &reason, now, problem);
                }
            }
        }
        Step::Bootstrapping { serial, renewal } => {
            secure_flow::on_bootstrap_reply(&input, &mut decision, &device.mac, &reason, &serial, renewal);
        }
        Step::CheckingTan => {
            if secure_flow::on_tan(&input, &mut decision, &device.mac, &reason) {
                let stale =
                    device.inventory_read_at.is_none_or(|at| now - at > settings.inventory_max_age_secs);
                if stale {
                    decision.reply = DlsMessage::new(&nonce, Action::ReadAllItems);
                    decision.interaction = InteractionChange::Continue(state);
                } else {
                    let mut next = Next {
                        decision: &mut decision,
                        device: &mut device,
                        tasks: &mut tasks,
                        input: &input,
                    };
                    next.action(state, &desired, settings, false);
                }
            }
        }
        Step::Writing { sent, remaining } => {
            record_write_results(&mut device, &sent, &input, &reason, &mut decision);
            if remaining.is_empty() {
                // Everything planned was sent; jobs come next, or the end.
                let mut next =
                    Next { decision: &mut decision, device: &mut device, tasks: &mut tasks, input: &input };
                next.after_writes(state, &desired, false);
            } else {
                let mut remaining = remaining;
                let next = remaining.remove(0);
                decision.reply = write_message(&nonce, &next);
                state.step = Step::Writing { sent: next, remaining };
                decision.interaction = InteractionChange::Continue(state);
            }
        }
    }
    decision.device = Some(device);
    decision
}

/// Chooses what follows in an interaction: what differs is written first (one message now, the
/// rest after each reply), then the device's jobs run, then `CleanUp` (already in the decision).
struct Next<'a> {
    decision: &'a mut Decision,
    device: &'a mut DeviceRecord,
    tasks: &'a mut Vec<DeviceTask>,
    input: &'a Input,
}

impl Next<'_> {
    /// `starts` says whether this request opened the interaction.
    fn action(
        &mut self,
        mut state: InteractionState,
        desired: &EffectiveDesired,
        settings: &EngineSettings,
        starts: bool,
    ) {
        let (now, mac) = (self.input.now, self.device.mac.clone());
        match plan_writes(self.device, desired, &self.input.failures, state.max_items, settings) {
            Ok(mut parts) if !parts.is_empty() => {
                let first = parts.remove(0);
                self.decision.reply = write_message(&self.input.message.nonce, &first);
                state.step = Step::Writing { sent: first, remaining: parts };
                for task in self.configuration_tasks() {
                    if task.state != TargetState::Running {
                        let detail = "writing the configuration";
                        update_task(
                            self.decision,
                            self.tasks,
                            &mac,
                            now,
                            &task,
                            TargetState::Running,
                            detail,
                            false,
                        );
                    }
                }
                self.decision.interaction =
                    if starts { InteractionChange::Start(state) } else { InteractionChange::Continue(state) };
            }
            Ok(_) => self.after_writes(state, desired, starts),
            Err(problem) => {
                let detail = format!("desired configuration cannot be sent: {problem}");
                let jobs: Vec<JobId> = self.configuration_tasks().iter().map(|t| t.job_id).collect();
                fail_tasks(self.decision, self.tasks, &mac, now, &jobs, &detail);
                record_plan_error(self.decision, &mac, now, &state.reason, problem);
            }
        }
    }

    /// The configuration is written: configuration jobs are done; `ReadItems` jobs run next,
    /// then a restart or factory reset, which ends the interaction (guide p. 50).
    fn after_writes(&mut self, mut state: InteractionState, desired: &EffectiveDesired, starts: bool) {
        let (now, mac) = (self.input.now, self.device.mac.clone());
        let refused = desired
            .iter()
            .filter(|(key, (value, _))| {
                self.input
                    .failures
                    .iter()
                    .chain(&self.decision.failures_added)
                    .any(|f| &f.key == *key && &f.value == value)
            })
            .count();
        let detail = match refused {
            0 => "configuration applied".to_owned(),
            n => format!(
                "configuration applied; {} refused by the phone (see the device's history)",
                crate::model::plural(n, "value")
            ),
        };
        for task in self.configuration_tasks() {
            update_task(self.decision, self.tasks, &mac, now, &task, TargetState::Done, &detail, false);
        }
        let nonce = self.input.message.nonce.clone();
        let read = self.tasks.iter().find(|t| matches!(t.kind, JobKind::ReadItems { .. })).cloned();
        if let Some(task) = read {
            let JobKind::ReadItems { items } = &task.kind else { return };
            // guide p. 43-45: the wanted items are listed empty.
            let wanted = items
                .iter()
                .map(|key| Item { index: key.index, ..Item::new(key.name.clone(), "") })
                .collect();
            self.decision.reply = DlsMessage::with_items(&nonce, Action::ReadItems, wanted);
            let detail = format!("reading {}", crate::model::plural(items.len(), "item"));
            update_task(self.decision, self.tasks, &mac, now, &task, TargetState::Running, &detail, true);
            state.step = Step::ReadingItems { job_id: task.job_id, items: Vec::new(), fragments: 0 };
            self.decision.interaction =
                if starts { InteractionChange::Start(state) } else { InteractionChange::Continue(state) };
            return;
        }
        let wbm = self.tasks.iter().find(|t| t.kind == JobKind::DeployWbmCertificate).cloned();
        if let Some(task) = wbm {
            let value = match &self.input.security.wbm_certificate {
                None => {
                    self.decision.wants_wbm_certificate = true;
                    return;
                }
                Some(Err(problem)) => {
                    let detail = format!("no certificate could be made: {problem}");
                    update_task(
                        self.decision,
                        self.tasks,
                        &mac,
                        now,
                        &task,
                        TargetState::Failed,
                        &detail,
                        false,
                    );
                    // Whatever follows (a restart) still runs.
                    return self.after_writes(state, desired, starts);
                }
                Some(Ok(value)) => value,
            };
            // guide p. 60 step 1: the base64 PKCS#12 in `wbm-server-certificate`.
            let item = Item::new("wbm-server-certificate", value.clone());
            self.decision.reply = DlsMessage::with_items(&nonce, Action::WriteItems, vec![item]);
            let detail = "certificate sent";
            update_task(self.decision, self.tasks, &mac, now, &task, TargetState::Running, detail, true);
            state.step = Step::DeployingWbmCertificate { job_id: task.job_id };
            self.decision.interaction =
                if starts { InteractionChange::Start(state) } else { InteractionChange::Continue(state) };
            return;
        }
        let reboot = self.tasks.iter().find(|t| t.kind.reboots()).cloned();
        if let Some(task) = reboot {
            self.decision.reply = restart_message(&nonce, &task.kind);
            let detail = format!("{} sent; waiting for the phone to start up again", task.kind.name());
            update_task(self.decision, self.tasks, &mac, now, &task, TargetState::Running, &detail, true);
            // The guide's flow ends with the Restart (p. 50-51): no reply follows.
        }
    }

    /// A job's work in this interaction is finished: record it, then go on with what follows.
    fn finish_task(
        &mut self,
        job_id: JobId,
        detail: &str,
        state: InteractionState,
        desired: &EffectiveDesired,
        settings: &EngineSettings,
    ) {
        self.finish_task_as(job_id, TargetState::Done, detail, None, state, desired, settings);
    }

    /// Ends a task in a final state (with a read's result) and goes on with the next action.
    #[allow(clippy::too_many_arguments)]
    fn finish_task_as(
        &mut self,
        job_id: JobId,
        outcome: TargetState,
        detail: &str,
        read: Option<crate::jobs::ReadResult>,
        state: InteractionState,
        desired: &EffectiveDesired,
        settings: &EngineSettings,
    ) {
        if let Some(task) = self.tasks.iter().find(|t| t.job_id == job_id).cloned() {
            let (mac, now) = (self.device.mac.clone(), self.input.now);
            update_task(self.decision, self.tasks, &mac, now, &task, outcome, detail, false);
            if let Some(update) = self.decision.task_updates.last_mut() {
                update.read = read;
            }
        }
        self.action(state, desired, settings, false);
    }

    fn configuration_tasks(&self) -> Vec<DeviceTask> {
        self.tasks.iter().filter(|t| t.kind == JobKind::ApplyConfiguration).cloned().collect()
    }
}

/// `Restart`, with the factory-reset items for a factory reset (guide p. 51).
fn restart_message(nonce: &str, kind: &JobKind) -> DlsMessage {
    match kind {
        JobKind::FactoryReset => DlsMessage::with_items(
            nonce,
            Action::Restart,
            vec![
                Item::new("restart-password", FACTORY_RESET_PASSWORD),
                Item::new("restart-type", "FactoryReset"),
            ],
        ),
        _ => DlsMessage::new(nonce, Action::Restart),
    }
}

/// The fixed password a factory reset needs on any interface (guide p. 51).
pub const FACTORY_RESET_PASSWORD: &str = "124816";

/// The jobs whose work the interaction's current step carries.
fn jobs_of_step(step: &Step, tasks: &[DeviceTask]) -> Vec<JobId> {
    match step {
        Step::Reading { .. } | Step::Bootstrapping { .. } | Step::CheckingTan => Vec::new(),
        Step::DeployingWbmCertificate { job_id } | Step::VerifyingWbmCertificate { job_id } => vec![*job_id],
        Step::ReadingItems { job_id, .. } => vec![*job_id],
        Step::Writing { .. } => {
            tasks.iter().filter(|t| t.kind == JobKind::ApplyConfiguration).map(|t| t.job_id).collect()
        }
    }
}

/// Records a job target's new state, in the decision and in the interaction's task list.
#[allow(clippy::too_many_arguments)]
fn update_task(
    decision: &mut Decision,
    tasks: &mut Vec<DeviceTask>,
    mac: &str,
    now: Timestamp,
    task: &DeviceTask,
    state: TargetState,
    detail: &str,
    claims: bool,
) {
    decision.task_updates.push(TaskUpdate {
        job_id: task.job_id,
        mac: mac.to_owned(),
        state,
        detail: detail.to_owned(),
        claims,
        read: None,
    });
    let text = format!("job {} ({}): {state}: {detail}", task.job_id, task.kind.name());
    decision.history.push(event(mac, now, EventKind::Job, "job", &text));
    if state.is_final() {
        tasks.retain(|t| t.job_id != task.job_id);
    } else if let Some(kept) = tasks.iter_mut().find(|t| t.job_id == task.job_id) {
        kept.state = state;
    }
}

/// The phone refused the work of these jobs.
fn fail_tasks(
    decision: &mut Decision,
    tasks: &mut Vec<DeviceTask>,
    mac: &str,
    now: Timestamp,
    jobs: &[JobId],
    problem: &str,
) {
    for task in tasks.clone().iter().filter(|t| jobs.contains(&t.job_id)) {
        update_task(decision, tasks, mac, now, task, TargetState::Failed, problem, false);
    }
}

/// RFC `status` after a file transfer (guide p. 52-54): record and end.
fn on_status(input: Input) -> Decision {
    let now = input.now;
    let mac = device_mac(&input.message, input.interaction.as_ref())
        .or_else(|| input.interaction.as_ref().map(|s| s.mac.clone()));
    let Some(mac) = mac else {
        return protocol_error(input, "status message has no valid mac-addr".into());
    };
    let mut decision = Decision::new(DlsMessage::new(&input.message.nonce, Action::CleanUp));
    decision.interaction = InteractionChange::End(input.interaction.as_ref().map(|s| s.session_id.clone()));
    let mut device = input.device.clone().unwrap_or_else(|| DeviceRecord::new(mac.clone(), now));
    device.last_contact = now;
    for item in &input.message.items {
        merge_reported(&mut device, ReportedItem::from(item), now, "status", &mut decision.history);
    }
    update_identity(&mut device);
    let field = |name: &str| input.message.value(name).unwrap_or("?").to_owned();
    let detail = format!(
        "file {} ({}) {}",
        field("file-deployment-name"),
        field("file-deployment-type"),
        field("file-deployment-status")
    );
    decision.history.push(event(&mac, now, EventKind::FileStatus, "status", &detail));
    decision.device = Some(device);
    decision
}

/// RFC `clean-up`: the phone ends the interaction itself (guide p. 83).
fn on_phone_clean_up(input: Input) -> Decision {
    let now = input.now;
    let mut decision = Decision::new(DlsMessage::new(&input.message.nonce, Action::CleanUp));
    decision.interaction = InteractionChange::End(input.interaction.as_ref().map(|s| s.session_id.clone()));
    let mac = input
        .interaction
        .as_ref()
        .map(|s| s.mac.clone())
        .or_else(|| input.message.value("mac-addr").and_then(normalize_mac));
    let why = input.message.value("cleanup-reason").unwrap_or("no reason given").to_owned();
    if let Some(mac) = mac {
        let mut device = input.device.clone().unwrap_or_else(|| DeviceRecord::new(mac.clone(), now));
        device.last_contact = now;
        decision.history.push(event(&mac, now, EventKind::PhoneCleanUp, "clean-up", &why));
        secure_flow::on_phone_clean_up(&input, &mut decision, &mac, &why);
        decision.device = Some(device);
    }
    decision
}

/// A message that cannot be processed: answer `CleanUp` with a reason (never an HTTP error).
fn protocol_error(input: Input, problem: String) -> Decision {
    let mut decision = Decision::new(DlsMessage::clean_up_because(&input.message.nonce, &problem));
    decision.interaction = InteractionChange::End(input.interaction.as_ref().map(|s| s.session_id.clone()));
    if let Some(mac) = device_mac(&input.message, input.interaction.as_ref()) {
        let reason = input.message.reason.reason.to_string();
        decision.history.push(event(&mac, input.now, EventKind::ProtocolError, &reason, &problem));
        if let Some(mut device) = input.device {
            device.last_contact = input.now;
            decision.device = Some(device);
        }
    }
    decision.error = Some(problem);
    decision
}

fn end_with_error(
    mut decision: Decision,
    device: DeviceRecord,
    reason: &str,
    now: Timestamp,
    problem: String,
) -> Decision {
    decision.reply = DlsMessage::clean_up_because(&decision.reply.nonce, &problem);
    decision.history.push(event(&device.mac, now, EventKind::ProtocolError, reason, &problem));
    decision.device = Some(device);
    decision.error = Some(problem);
    decision
}

fn record_plan_error(
    decision: &mut Decision,
    mac: &str,
    now: Timestamp,
    reason: &str,
    problem: opendls_wpi::fragment::SplitError,
) {
    let problem = format!("desired configuration cannot be sent: {problem}");
    decision.history.push(event(mac, now, EventKind::ProtocolError, reason, &problem));
    decision.error = Some(problem);
}

/// Updates one reported item, recording a change when a known value differs.
fn merge_reported(
    device: &mut DeviceRecord,
    item: ReportedItem,
    now: Timestamp,
    reason: &str,
    history: &mut Vec<HistoryEvent>,
) {
    let previous = device.reported.get(&item.key);
    if previous.is_some_and(|p| p.value != item.value || p.status != item.status) {
        let old = previous.map(|p| p.value.clone());
        history.push(change_event(
            &device.mac,
            now,
            EventKind::ItemChanged,
            reason,
            &item.key,
            old,
            Some(&item.value),
            "",
        ));
    }
    device.reported.insert(item.key.clone(), item);
}

/// Replaces the reported state with a complete `ReadAllItems` reply.
fn apply_full_read(
    device: &mut DeviceRecord,
    items: &[Item],
    desired: &mut EffectiveDesired,
    input: &Input,
    state: &InteractionState,
    decision: &mut Decision,
) {
    let now = input.now;
    let reason = state.reason.as_str();
    let catalog = Catalog::builtin();
    let first_read = device.inventory_read_at.is_none();
    let mut fresh: BTreeMap<ItemKey, ReportedItem> = items
        .iter()
        .map(|item| (ItemKey::new(item.name.clone(), item.index), ReportedItem::from(item)))
        .collect();
    let mut local_changes = Vec::new();
    for (key, old) in &device.reported {
        match fresh.get(key) {
            Some(new) if new.value == old.value && new.status == old.status => {}
            Some(new) if state.local_change_read && new.status.is_none() => local_changes.push(new.clone()),
            Some(new) => decision.history.push(change_event(
                &device.mac,
                now,
                EventKind::ItemChanged,
                reason,
                key,
                Some(old.value.clone()),
                Some(&new.value),
                "",
            )),
            // guide p. 30: ReadAllItems leaves out certificates, so items only we write stay.
            None if catalog.get(&key.name).is_some_and(|e| e.access == Access::WriteOnly) => {
                fresh.insert(key.clone(), old.clone());
            }
            None if first_read => {}
            None => decision.history.push(change_event(
                &device.mac,
                now,
                EventKind::ItemChanged,
                reason,
                key,
                Some(old.value.clone()),
                None,
                "no longer reported",
            )),
        }
    }
    if first_read {
        let detail = format!("inventory read: {}", crate::model::plural(fresh.len(), "item"));
        decision.history.push(event(&device.mac, now, EventKind::ItemChanged, reason, &detail));
    }
    device.reported = fresh;
    device.inventory_read_at = Some(now);
    update_identity(device);
    if !local_changes.is_empty() {
        apply_local_changes(device, local_changes, desired, input.policy, now, reason, decision);
    }
}

/// Applies the local-change policy to values the phone changed itself (guide p. 37-40).
fn apply_local_changes(
    device: &mut DeviceRecord,
    changes: Vec<ReportedItem>,
    desired: &mut EffectiveDesired,
    policy: LocalChangePolicy,
    now: Timestamp,
    reason: &str,
    decision: &mut Decision,
) {
    for change in changes {
        let key = change.key.clone();
        let old = device.reported.get(&key).map(|r| r.value.clone());
        let managed = desired.get(&key).map(|(value, _)| value.clone());
        let verdict = match (&managed, policy) {
            (Some(value), _) if *value == change.value => "matches the desired value",
            (None, _) => "accepted (unmanaged item)",
            (Some(_), LocalChangePolicy::Accept) => "accepted: now the device's desired value",
            (Some(_), LocalChangePolicy::AcceptUnmanaged | LocalChangePolicy::Revert) => {
                "reverted to the desired value"
            }
            (Some(_), LocalChangePolicy::Flag) => "kept and flagged for an administrator",
        };
        decision.history.push(change_event(
            &device.mac,
            now,
            EventKind::LocalChange,
            reason,
            &key,
            old,
            Some(&change.value),
            &format!("source phone; {verdict}"),
        ));
        match (managed, policy) {
            (Some(value), _) if value == change.value => {}
            (Some(_), LocalChangePolicy::Accept) => {
                let entry = DesiredEntry {
                    scope: Scope::Device(device.mac.clone()),
                    key: key.clone(),
                    value: change.value.clone(),
                };
                desired.insert(key.clone(), (change.value.clone(), entry.scope.clone()));
                decision.desired_set.push(entry);
            }
            (Some(desired_value), LocalChangePolicy::Flag) => {
                device.flagged.retain(|f| f.key != key);
                device.flagged.push(FlaggedChange {
                    key: key.clone(),
                    phone_value: change.value.clone(),
                    desired_value,
                    at: now,
                });
                decision.history.push(event(
                    &device.mac,
                    now,
                    EventKind::Flagged,
                    reason,
                    &format!("{key} flagged"),
                ));
            }
            _ => {}
        }
        device.reported.insert(key, change);
    }
}

/// The items to write: desired values the phone does not have, minus flagged items and values
/// the phone already refused, split into messages (guide p. 69-71).
fn plan_writes(
    device: &mut DeviceRecord,
    desired: &EffectiveDesired,
    failures: &[WriteFailure],
    max_items: Option<i64>,
    settings: &EngineSettings,
) -> Result<Vec<Vec<ReportedItem>>, opendls_wpi::fragment::SplitError> {
    // A flag resolves itself once the phone and the desired value agree again.
    let mut flagged = std::mem::take(&mut device.flagged);
    flagged.retain(|f| {
        desired.get(&f.key).is_some_and(|(value, _)| device.reported_value(&f.key) != Some(value))
    });
    device.flagged = flagged;
    let items: Vec<Item> = desired
        .iter()
        .filter(|(key, (value, _))| device.reported_value(key) != Some(value.as_str()))
        .filter(|(key, _)| !device.flagged.iter().any(|f| &f.key == *key))
        .filter(|(key, (value, _))| !failures.iter().any(|f| &f.key == *key && &f.value == value))
        .map(|(key, (value, _))| Item { index: key.index, ..Item::new(key.name.clone(), value.clone()) })
        .collect();
    if items.is_empty() {
        return Ok(Vec::new());
    }
    let limits = SplitLimits {
        max_items: max_items.filter(|n| *n > 0).and_then(|n| usize::try_from(n).ok()),
        max_bytes: settings.max_message_bytes,
        ..SplitLimits::default()
    };
    let parts = split_items(&Action::WriteItems, items, limits)?;
    Ok(parts.into_iter().map(|part| part.iter().map(ReportedItem::from).collect()).collect())
}

/// Records the phone's answer to one `WriteItems`: per-item statuses are failures, the rest
/// was stored (guide p. 77-83).
fn record_write_results(
    device: &mut DeviceRecord,
    sent: &[ReportedItem],
    input: &Input,
    reason: &str,
    decision: &mut Decision,
) {
    let (now, reply_items) = (input.now, &input.message.items);
    for written in sent {
        let refusal = reply_items.iter().find(|item| {
            item.name == written.key.name && item.index == written.key.index && item.status.is_some()
        });
        match refusal {
            Some(item) => {
                let status = item.status.clone().unwrap_or(ItemStatus::UndefinedStatus).to_string();
                decision.history.push(change_event(
                    &device.mac,
                    now,
                    EventKind::WriteFailed,
                    reason,
                    &written.key,
                    None,
                    Some(&written.value),
                    &status,
                ));
                decision.failures_added.push(WriteFailure {
                    key: written.key.clone(),
                    value: written.value.clone(),
                    status,
                    at: now,
                });
            }
            None => {
                let old = device.reported.get(&written.key).map(|r| r.value.clone());
                decision.history.push(change_event(
                    &device.mac,
                    now,
                    EventKind::ItemWritten,
                    reason,
                    &written.key,
                    old,
                    Some(&written.value),
                    "",
                ));
                // Only refusals on record need clearing (each clearing is a database statement).
                if input.failures.iter().any(|f| f.key == written.key) {
                    decision.failures_cleared.push(written.key.clone());
                }
                device.reported.insert(written.key.clone(), ReportedItem { status: None, ..written.clone() });
            }
        }
    }
    update_identity(device);
}

fn write_message(nonce: &str, items: &[ReportedItem]) -> DlsMessage {
    DlsMessage::with_items(nonce, Action::WriteItems, items.iter().map(to_wpi_item).collect())
}

fn to_wpi_item(item: &ReportedItem) -> Item {
    Item {
        name: item.key.name.clone(),
        index: item.key.index,
        item_type: None,
        status: item.status.as_deref().map(ItemStatus::from_wire),
        value: item.value.clone(),
    }
}

/// Copies the identity items into the record's searchable fields.
fn update_identity(device: &mut DeviceRecord) {
    let value = |name: &str| device.reported_value(&ItemKey::new(name, None)).map(str::to_owned);
    let (e164, device_type, software_version, contact_me_uri) =
        (value("e164"), value("device-type"), value("software-version"), value("contact-me-uri"));
    device.e164 = e164.or(device.e164.take());
    device.device_type = device_type.or(device.device_type.take());
    device.software_version = software_version.or(device.software_version.take());
    device.contact_me_uri = contact_me_uri.or(device.contact_me_uri.take());
}

fn event(mac: &str, at: Timestamp, kind: EventKind, reason: &str, detail: &str) -> HistoryEvent {
    HistoryEvent {
        mac: mac.to_owned(),
        at,
        kind,
        reason: reason.to_owned(),
        key: None,
        old_value: None,
        new_value: None,
        detail: detail.to_owned(),
    }
}

#[allow(clippy::too_many_arguments)]
fn change_event(
    mac: &str,
    at: Timestamp,
    kind: EventKind,
    reason: &str,
    key: &ItemKey,
    old: Option<String>,
    new: Option<&str>,
    detail: &str,
) -> HistoryEvent {
    // Secrets never reach the history: values of secret items are masked here.
    let mask = |value: &str| displayable_value(&key.name, value).to_owned();
    HistoryEvent {
        mac: mac.to_owned(),
        at,
        kind,
        reason: reason.to_owned(),
        key: Some(key.clone()),
        old_value: old.as_deref().map(mask),
        new_value: new.map(mask),
        detail: detail.to_owned(),
    }
}
