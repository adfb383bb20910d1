//! Messages a phone starts an interaction with (`start-up`, `solicited`, `local-changes`,
//! `inventory-changes`), and the phone's own `status` and `clean-up`.

use opendls_wpi::{Action, DlsMessage, Reason};

use super::deploy;
use super::inventory::{apply_local_changes, merge_reported, update_identity};
use super::next::Next;
use super::records::{Ledger, event, protocol_error};
use super::{
    BASIC_ITEMS, Decision, EngineSettings, Input, InteractionChange, device_mac, normalize_mac, secure_flow,
};
use crate::desired::effective_desired;
use crate::jobs::{DeviceTask, FileOnPhone, JobKind, TargetState};
use crate::model::{DeviceRecord, EventKind, InteractionState, ReportedItem, Step, Timestamp};
use crate::newcomers::{self, Approval, REJECTED_REASON};

/// A phone-initiated contact: register, merge what it sent, then read or write.
pub(super) fn on_contact(input: &Input, settings: &EngineSettings) -> Decision {
    let Some(mac) = input.message.value("mac-addr").and_then(normalize_mac) else {
        return protocol_error(input, "message has no valid mac-addr".into());
    };
    let now = input.now;
    let reason = input.message.reason.reason.to_string();
    let mut decision = Decision::new(DlsMessage::new(&input.message.nonce, Action::CleanUp));
    decision.supersedes_interactions_of = Some(mac.clone());

    let mut device = match input.device.clone() {
        Some(device) => device,
        None => {
            let mut device = DeviceRecord::new(mac.clone(), now);
            let admission = newcomers::admit(&mut device, input.provisioned.as_ref(), &input.newcomers);
            let note = format!("first contact; {}", admission.note);
            decision.history.push(event(&mac, now, EventKind::Registered, &reason, &note));
            decision.binding = admission.binding;
            decision.binding_conflict = admission.conflict;
            decision.desired_set.extend(admission.e164);
            device
        }
    };
    device.last_contact = now;
    device.last_reason = reason.clone();
    device.remote_addr = Some(input.remote_addr.clone());

    if device.approval == Approval::Rejected {
        // Recorded (last contact, address), so an administrator sees it and can approve it.
        merge_basic_items(input, &mut device, &mut decision, false);
        decision.reply = DlsMessage::clean_up_because(&input.message.nonce, REJECTED_REASON);
        decision.device = Some(device);
        return decision;
    }
    let attached_changes = input.message.reason.reason == Reason::LocalChanges
        && input.message.value("configuration-attached-flag") == Some("true");
    let local_changes = merge_basic_items(input, &mut device, &mut decision, attached_changes);
    let mut tasks = input.tasks.clone();
    let start_up = input.message.reason.reason == Reason::StartUp;
    if start_up {
        settle_reboots(&mut decision, &mut tasks, &mut device, now);
    }
    for task in tasks.clone() {
        if let Some(end) =
            deploy::settled_by_contact(&task, &device, start_up, now, settings.deployment_timeout_secs)
        {
            Ledger { decision: &mut decision, tasks: &mut tasks, mac: &device.mac, now }.set(
                &task,
                end.state,
                &end.detail,
            );
        }
    }

    let mut desired = effective_desired(&input.desired, &input.variables, &device);
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
    // Files deployed several at a time are verified by reading the inventory (guide p. 55).
    let stale = device.inventory_read_at.is_none_or(|at| now - at > settings.inventory_max_age_secs)
        || tasks.iter().any(deploy::awaits_read_back);
    let mut state = new_interaction(input, &mac, now);
    state.local_change_read = old_firmware_local_change;
    if secure_flow::on_contact(input, &mut decision, &mut device, state.clone()) {
        decision.device = Some(device);
        return decision;
    }
    if stale || changed_flag || old_firmware_local_change {
        // guide p. 34: read everything when the phone is new or its configuration changed.
        decision.reply = DlsMessage::new(&input.message.nonce, Action::ReadAllItems);
        decision.interaction = InteractionChange::Start(state);
    } else {
        let mut next = Next {
            decision: &mut decision,
            device: &mut device,
            tasks: &mut tasks,
            input,
            desired: &desired,
            settings,
        };
        next.action(state, true);
    }
    decision.device = Some(device);
    decision
}

/// Merges the message's items into the device's inventory, except, in a V2R2+ `local-changes`
/// message with attached changes, the changed items (guide p. 40): those are returned, for the
/// local-change policy to judge.
fn merge_basic_items(
    input: &Input,
    device: &mut DeviceRecord,
    decision: &mut Decision,
    attached_changes: bool,
) -> Vec<ReportedItem> {
    let reason = input.message.reason.reason.to_string();
    let mut local_changes = Vec::new();
    for item in &input.message.items {
        if attached_changes && !BASIC_ITEMS.contains(&item.name.as_str()) {
            local_changes.push(ReportedItem::from(item));
        } else {
            merge_reported(device, ReportedItem::from(item), input.now, &reason, &mut decision.history);
        }
    }
    update_identity(device);
    local_changes
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
        Ledger { decision: &mut *decision, tasks: &mut *tasks, mac: &device.mac, now }.set(
            &task,
            TargetState::Done,
            detail,
        );
    }
}

/// RFC `status` after a file transfer (guide p. 52-54): record it, finish the deployment it
/// reports, then go on with the device's other work (or `CleanUp`). It may continue the
/// interaction that sent the file or arrive on its own (the guide does not say).
pub(super) fn on_status(input: &Input, settings: &EngineSettings) -> Decision {
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
    device.remote_addr = Some(input.remote_addr.clone());
    for item in &input.message.items {
        merge_reported(&mut device, ReportedItem::from(item), now, "status", &mut decision.history);
    }
    update_identity(&mut device);
    let field = |name: &str| input.message.value(name).unwrap_or("?").to_owned();
    let reported =
        FileOnPhone { name: field("file-deployment-name"), file_type: field("file-deployment-type") };
    let status = field("file-deployment-status");
    let date = format!("{} {}", field("file-deployment-date"), field("file-deployment-time"));
    let detail = format!("file {reported} {status}");
    decision.history.push(event(&mac, now, EventKind::FileStatus, "status", &detail));
    let mut tasks = input.tasks.clone();
    if let Some((task, end)) = deploy::settled_by_status(&tasks, &reported, &status, &date) {
        Ledger { decision: &mut decision, tasks: &mut tasks, mac: &mac, now }.set(
            &task,
            end.state,
            &end.detail,
        );
    }
    let state = match input.interaction.clone() {
        Some(mut state) => {
            state.updated_at = now;
            state
        }
        None => new_interaction(input, &mac, now),
    };
    let starts = input.interaction.is_none();
    let desired = effective_desired(&input.desired, &input.variables, &device);
    Next {
        decision: &mut decision,
        device: &mut device,
        tasks: &mut tasks,
        input,
        desired: &desired,
        settings,
    }
    .action(state, starts);
    decision.device = Some(device);
    decision
}

/// A new interaction for a phone message that starts one.
fn new_interaction(input: &Input, mac: &str, now: Timestamp) -> InteractionState {
    InteractionState {
        session_id: input.new_session_id.clone(),
        mac: mac.to_owned(),
        reason: input.message.reason.reason.to_string(),
        remote_addr: input.remote_addr.clone(),
        started_at: now,
        updated_at: now,
        max_items: input.message.max_items,
        local_change_read: false,
        step: Step::Reading { items: Vec::new(), fragments: 0 },
        secure: input.security.channel.is_secure(),
    }
}

/// RFC `clean-up`: the phone ends the interaction itself (guide p. 83).
pub(super) fn on_phone_clean_up(input: &Input) -> Decision {
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
        secure_flow::on_phone_clean_up(input, &mut decision, &mac, &why);
        decision.device = Some(device);
    }
    decision
}
