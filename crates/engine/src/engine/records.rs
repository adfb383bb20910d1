//! What a decision records besides its reply: job target changes, history entries, and the
//! endings of an interaction that went wrong.

use opendls_wpi::DlsMessage;
use opendls_wpi::secrets::displayable_value;

use super::{Decision, Input, InteractionChange, device_mac};
use crate::jobs::{DeviceTask, JobId, JobKind, TargetState, TaskUpdate};
use crate::model::{DeviceRecord, EventKind, HistoryEvent, ItemKey, Step, Timestamp};

/// The jobs whose work the interaction's current step carries.
pub(super) fn jobs_of_step(step: &Step, tasks: &[DeviceTask]) -> Vec<JobId> {
    match step {
        Step::Reading { .. } | Step::Bootstrapping { .. } | Step::CheckingTan => Vec::new(),
        Step::DeployingWbmCertificate { job_id }
        | Step::VerifyingWbmCertificate { job_id }
        | Step::DeployingFirmware { job_id }
        | Step::DeployingFile { job_id }
        | Step::DeployingFiles { job_id } => vec![*job_id],
        Step::ReadingItems { job_id, .. } => vec![*job_id],
        Step::Writing { .. } => {
            tasks.iter().filter(|t| t.kind == JobKind::ApplyConfiguration).map(|t| t.job_id).collect()
        }
    }
}

/// The job targets a decision changes: each change goes to the decision (for the store), to the
/// device's history, and to the interaction's list of unfinished tasks.
pub(super) struct Ledger<'a> {
    /// The decision collecting the changes.
    pub decision: &'a mut Decision,
    /// The device's unfinished tasks; a task leaves the list when it reaches a final state.
    pub tasks: &'a mut Vec<DeviceTask>,
    /// The device.
    pub mac: &'a str,
    /// The time of the message being decided.
    pub now: Timestamp,
}

impl Ledger<'_> {
    /// Records a job target's new state; the returned update can be marked as claiming the
    /// work the reply carries, or given a read's result.
    pub(super) fn set(&mut self, task: &DeviceTask, state: TargetState, detail: &str) -> &mut TaskUpdate {
        let text = format!("job {} ({}): {state}: {detail}", task.job_id, task.kind.name());
        self.decision.history.push(event(self.mac, self.now, EventKind::Job, "job", &text));
        if state.is_final() {
            self.tasks.retain(|t| t.job_id != task.job_id);
        } else if let Some(kept) = self.tasks.iter_mut().find(|t| t.job_id == task.job_id) {
            kept.state = state;
            kept.phase = None;
            kept.updated_at = self.now;
        }
        self.decision.task_updates.push(TaskUpdate {
            job_id: task.job_id,
            mac: self.mac.to_owned(),
            state,
            detail: detail.to_owned(),
            claims: false,
            read: None,
            phase: None,
        });
        self.decision.task_updates.last_mut().expect("just pushed")
    }

    /// Records a running target's new phase with its state.
    pub(super) fn set_phase(
        &mut self,
        task: &DeviceTask,
        phase: crate::jobs::Phase,
        detail: &str,
    ) -> &mut TaskUpdate {
        self.set(task, TargetState::Running, detail).phase = Some(phase);
        if let Some(kept) = self.tasks.iter_mut().find(|t| t.job_id == task.job_id) {
            kept.phase = Some(phase);
        }
        self.decision.task_updates.last_mut().expect("just pushed")
    }

    /// The phone refused the work of these jobs.
    pub(super) fn fail(&mut self, jobs: &[JobId], problem: &str) {
        for task in self.tasks.clone().iter().filter(|t| jobs.contains(&t.job_id)) {
            self.set(task, TargetState::Failed, problem);
        }
    }
}

/// A message that cannot be processed: answer `CleanUp` with a reason (never an HTTP error).
pub(super) fn protocol_error(input: &Input, problem: String) -> Decision {
    let mut decision = Decision::new(DlsMessage::clean_up_because(&input.message.nonce, &problem));
    decision.interaction = InteractionChange::End(input.interaction.as_ref().map(|s| s.session_id.clone()));
    if let Some(mac) = device_mac(&input.message, input.interaction.as_ref()) {
        let reason = input.message.reason.reason.to_string();
        decision.history.push(event(&mac, input.now, EventKind::ProtocolError, &reason, &problem));
        if let Some(mut device) = input.device.clone() {
            device.last_contact = input.now;
            decision.device = Some(device);
        }
    }
    decision.error = Some(problem);
    decision
}

pub(super) fn end_with_error(
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

pub(super) fn record_plan_error(
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

pub(super) fn event(mac: &str, at: Timestamp, kind: EventKind, reason: &str, detail: &str) -> HistoryEvent {
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

/// A history entry about one item's value; values of secret items are masked here, so secrets
/// never reach the history.
pub(super) fn change_event(
    base: HistoryEvent,
    key: &ItemKey,
    old: Option<String>,
    new: Option<&str>,
) -> HistoryEvent {
    let mask = |value: &str| displayable_value(&key.name, value).to_owned();
    HistoryEvent {
        key: Some(key.clone()),
        old_value: old.as_deref().map(mask),
        new_value: new.map(mask),
        ..base
    }
}
