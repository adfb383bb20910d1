//! `reply-to`: the phone answers the service's last action. The answer is checked once here;
//! each step of the interaction then has its handler (`reading`, `certificate`, and the small
//! ones below).

use opendls_wpi::{Action, DlsMessage, ReplyStatus};

use super::next::{Next, TaskEnd};
use super::records::{Ledger, end_with_error, event, jobs_of_step, protocol_error};
use super::{Decision, EngineSettings, Input, InteractionChange, certificate, reading, secure_flow};
use crate::desired::{EffectiveDesired, effective_desired};
use crate::jobs::{DeviceTask, JobId, TargetState};
use crate::model::{DeviceRecord, EventKind, InteractionState, ReportedItem, Step, Timestamp};

/// One reply being answered: what came in, and the decision collected so far.
pub(super) struct Turn<'i> {
    /// The message and its context.
    pub input: &'i Input,
    /// The engine's tunables.
    pub settings: &'i EngineSettings,
    /// The decision; its reply is `CleanUp` until a handler chooses otherwise.
    pub decision: Decision,
    /// The device's record, as it stands after this message.
    pub device: DeviceRecord,
    /// The device's unfinished tasks.
    pub tasks: Vec<DeviceTask>,
    /// Why the interaction started (for the history).
    pub reason: String,
    /// The message's time.
    pub now: Timestamp,
}

impl<'i> Turn<'i> {
    fn new(input: &'i Input, settings: &'i EngineSettings, state: &InteractionState) -> Turn<'i> {
        let now = input.now;
        let mut decision = Decision::new(DlsMessage::new(&input.message.nonce, Action::CleanUp));
        decision.interaction = InteractionChange::End(Some(state.session_id.clone()));
        let mut device = input.device.clone().unwrap_or_else(|| DeviceRecord::new(state.mac.clone(), now));
        device.last_contact = now;
        device.remote_addr = Some(input.remote_addr.clone());
        let tasks = input.tasks.clone();
        Turn { input, settings, decision, device, tasks, reason: state.reason.clone(), now }
    }

    /// The ledger of job targets for this decision.
    pub(super) fn ledger(&mut self) -> Ledger<'_> {
        Ledger { decision: &mut self.decision, tasks: &mut self.tasks, mac: &self.device.mac, now: self.now }
    }

    /// What follows once this step is done.
    pub(super) fn next<'t>(&'t mut self, desired: &'t EffectiveDesired) -> Next<'t> {
        Next {
            decision: &mut self.decision,
            device: &mut self.device,
            tasks: &mut self.tasks,
            input: self.input,
            desired,
            settings: self.settings,
        }
    }

    /// Records a reported item in the device's inventory.
    pub(super) fn merge(&mut self, item: ReportedItem) {
        super::inventory::merge_reported(
            &mut self.device,
            item,
            self.now,
            &self.reason,
            &mut self.decision.history,
        );
    }

    /// The work of `jobs` failed: the interaction ends with a `CleanUp` that says why.
    pub(super) fn fail(mut self, jobs: &[JobId], problem: String) -> Decision {
        self.ledger().fail(jobs, &problem);
        end_with_error(self.decision, self.device, &self.reason, self.now, problem)
    }

    /// Sends `reply` and keeps the interaction going in `state`.
    pub(super) fn go_on(mut self, reply: DlsMessage, state: InteractionState) -> Decision {
        self.decision.reply = reply;
        self.decision.interaction = InteractionChange::Continue(state);
        self.done()
    }

    /// The decision, with the device's record.
    pub(super) fn done(mut self) -> Decision {
        self.decision.device = Some(self.device);
        self.decision
    }

    /// Ends the turn unless the phone accepted the awaited action: another action answered,
    /// `busy` (the work waits, guide p. 72-76), or `failed`.
    fn refused_answer(mut self, state: &InteractionState) -> Result<Turn<'i>, Box<Decision>> {
        let step_jobs = jobs_of_step(&state.step, &self.tasks);
        let awaited = state.step.awaited_action();
        let answered = self.input.message.reason.action.clone().unwrap_or(awaited.clone());
        if answered != awaited {
            let problem = format!("expected a reply to {awaited}, got a reply to {answered}");
            return Err(Box::new(self.fail(&step_jobs, problem)));
        }
        match self.input.message.reason.effective_status() {
            ReplyStatus::Accepted => Ok(self),
            ReplyStatus::Busy => {
                let note = format!("busy, {awaited} postponed");
                self.decision.history.push(event(
                    &self.device.mac,
                    self.now,
                    EventKind::Busy,
                    &self.reason,
                    &note,
                ));
                let detail = format!("phone busy ({awaited} refused); waiting for it to call back");
                for task in self.tasks.clone().iter().filter(|t| t.state != TargetState::WaitingBusy) {
                    self.ledger().set(task, TargetState::WaitingBusy, &detail);
                }
                self.decision.reply = DlsMessage::clean_up_send_solicited(&self.input.message.nonce);
                Err(Box::new(self.done()))
            }
            other => Err(Box::new(self.fail(&step_jobs, format!("phone answered {other} to {awaited}")))),
        }
    }
}

/// A `reply-to`: continue the interaction it belongs to.
pub(super) fn on_reply(input: &Input, settings: &EngineSettings) -> Decision {
    let Some(mut state) = input.interaction.clone() else {
        return protocol_error(input, "reply-to without an interaction in progress".into());
    };
    state.updated_at = input.now;
    let turn = match Turn::new(input, settings, &state).refused_answer(&state) {
        Ok(turn) => turn,
        Err(ended) => return *ended,
    };
    let desired = effective_desired(&input.desired, &input.variables, &turn.device);
    let step = std::mem::replace(&mut state.step, Step::Reading { items: Vec::new(), fragments: 0 });
    match step {
        Step::Reading { items, fragments } => reading::inventory(turn, state, items, fragments, desired),
        Step::ReadingItems { job_id, items, fragments } => {
            reading::requested(turn, state, reading::Progress { job_id, items, fragments }, &desired)
        }
        Step::DeployingWbmCertificate { job_id } => certificate::deployed(turn, state, job_id),
        Step::VerifyingWbmCertificate { job_id } => certificate::verified(turn, state, job_id, &desired),
        Step::Bootstrapping { serial, renewal } => {
            let mut turn = turn;
            let mac = turn.device.mac.clone();
            secure_flow::on_bootstrap_reply(input, &mut turn.decision, &mac, &turn.reason, &serial, renewal);
            turn.done()
        }
        Step::CheckingTan => tan_checked(turn, state, &desired),
        // The guide shows no reply to a deployment (p. 52-57); one that accepts it changes
        // nothing: the status, the start-up or the read-back says how it went.
        Step::DeployingFirmware { .. } | Step::DeployingFile { .. } | Step::DeployingFiles { .. } => {
            turn.done()
        }
        Step::Writing { sent, remaining } => written(turn, state, sent, remaining, &desired),
    }
}

/// The phone answered the TAN question (guide p. 68): on success, read it if its inventory is
/// stale, else go on.
fn tan_checked(mut turn: Turn<'_>, state: InteractionState, desired: &EffectiveDesired) -> Decision {
    let mac = turn.device.mac.clone();
    if !secure_flow::on_tan(turn.input, &mut turn.decision, &mac, &turn.reason) {
        return turn.done();
    }
    let max_age = turn.settings.inventory_max_age_secs;
    if turn.device.inventory_read_at.is_none_or(|at| turn.now - at > max_age) {
        let reply = DlsMessage::new(&turn.input.message.nonce, Action::ReadAllItems);
        return turn.go_on(reply, state);
    }
    turn.next(desired).action(state, false);
    turn.done()
}

/// One `WriteItems` was answered: record each item's result, then send the next part or go on.
fn written(
    mut turn: Turn<'_>,
    mut state: InteractionState,
    sent: Vec<ReportedItem>,
    mut remaining: Vec<Vec<ReportedItem>>,
    desired: &EffectiveDesired,
) -> Decision {
    let reason = turn.reason.clone();
    super::inventory::record_write_results(&mut turn.device, &sent, turn.input, &reason, &mut turn.decision);
    if remaining.is_empty() {
        // Everything planned was sent; jobs come next, or the end.
        turn.next(desired).after_writes(state, false);
        return turn.done();
    }
    let next = remaining.remove(0);
    let reply = super::inventory::write_message(&turn.input.message.nonce, &next);
    state.step = Step::Writing { sent: next, remaining };
    turn.go_on(reply, state)
}

/// A task finished in this turn; what follows comes next.
pub(super) fn finish(
    mut turn: Turn<'_>,
    job_id: JobId,
    end: TaskEnd,
    state: InteractionState,
    desired: &EffectiveDesired,
) -> Decision {
    turn.next(desired).finish_task(job_id, end, state);
    turn.done()
}
