//! What follows in an interaction once a step is done: writes first, then the device's jobs,
//! then `CleanUp`.

use opendls_wpi::{Action, DlsMessage, Item};

use super::inventory::{plan_writes, write_message};
use super::records::{Ledger, record_plan_error};
use super::{Decision, EngineSettings, Input, InteractionChange};
use crate::desired::EffectiveDesired;
use crate::jobs::{DeviceTask, JobId, JobKind, ReadResult, TargetState};
use crate::model::{DeviceRecord, InteractionState, Step};

/// Chooses what follows in an interaction: what differs is written first (one message now, the
/// rest after each reply), then the device's jobs run, then `CleanUp` (already in the decision).
pub(super) struct Next<'a> {
    /// The decision being collected.
    pub decision: &'a mut Decision,
    /// The device's record, as it stands after this message.
    pub device: &'a mut DeviceRecord,
    /// The device's unfinished tasks.
    pub tasks: &'a mut Vec<DeviceTask>,
    /// The message being decided about.
    pub input: &'a Input,
    /// What the device should have.
    pub desired: &'a EffectiveDesired,
    /// The engine's tunables.
    pub settings: &'a EngineSettings,
}

/// How a task's work in this interaction ended.
pub(super) struct TaskEnd {
    /// Its final state.
    pub state: TargetState,
    /// What happened, for the job's listing.
    pub detail: String,
    /// A read's result, for `read-items`.
    pub read: Option<ReadResult>,
}

impl TaskEnd {
    /// The work is done.
    pub(super) fn done(detail: impl Into<String>) -> TaskEnd {
        TaskEnd { state: TargetState::Done, detail: detail.into(), read: None }
    }

    /// The work failed.
    pub(super) fn failed(detail: impl Into<String>) -> TaskEnd {
        TaskEnd { state: TargetState::Failed, detail: detail.into(), read: None }
    }
}

impl Next<'_> {
    pub(super) fn ledger(&mut self) -> Ledger<'_> {
        Ledger { decision: self.decision, tasks: self.tasks, mac: &self.device.mac, now: self.input.now }
    }

    /// Sends `reply` and keeps the interaction going in `state`.
    pub(super) fn send(&mut self, reply: DlsMessage, state: InteractionState, starts: bool) {
        self.decision.reply = reply;
        self.decision.interaction =
            if starts { InteractionChange::Start(state) } else { InteractionChange::Continue(state) };
    }

    /// The first thing to do: write what differs. `starts` says whether this request opened
    /// the interaction.
    pub(super) fn action(&mut self, mut state: InteractionState, starts: bool) {
        let planned =
            plan_writes(self.device, self.desired, &self.input.failures, state.max_items, self.settings);
        match planned {
            Ok(mut parts) if !parts.is_empty() => {
                let first = parts.remove(0);
                let reply = write_message(&self.input.message.nonce, &first);
                state.step = Step::Writing { sent: first, remaining: parts };
                for task in self.configuration_tasks() {
                    if task.state != TargetState::Running {
                        self.ledger().set(&task, TargetState::Running, "writing the configuration");
                    }
                }
                self.send(reply, state, starts);
            }
            Ok(_) => self.after_writes(state, starts),
            Err(problem) => {
                let detail = format!("desired configuration cannot be sent: {problem}");
                let jobs: Vec<JobId> = self.configuration_tasks().iter().map(|t| t.job_id).collect();
                self.ledger().fail(&jobs, &detail);
                record_plan_error(self.decision, &self.device.mac, self.input.now, &state.reason, problem);
            }
        }
    }

    /// The configuration is written: configuration jobs are done; `ReadItems` jobs run next,
    /// then certificate deployments, then a file or firmware deployment or a restart or factory
    /// reset, which ends the interaction (guide p. 50-57).
    pub(super) fn after_writes(&mut self, state: InteractionState, starts: bool) {
        self.verify_file_sets();
        let detail = match self.refused_values() {
            0 => "configuration applied".to_owned(),
            n => format!(
                "configuration applied; {} refused by the phone (see the device's history)",
                crate::model::plural(n, "value")
            ),
        };
        for task in self.configuration_tasks() {
            self.ledger().set(&task, TargetState::Done, &detail);
        }
        if let Some(task) = self.tasks.iter().find(|t| matches!(t.kind, JobKind::ReadItems { .. })).cloned() {
            return self.read_items(&task, state, starts);
        }
        if let Some(task) = self.tasks.iter().find(|t| t.kind == JobKind::DeployWbmCertificate).cloned() {
            return self.deploy_wbm_certificate(&task, state, starts);
        }
        if self.deploy(state, starts) {
            return;
        }
        if let Some(task) = self.tasks.iter().find(|t| t.kind.reboots()).cloned() {
            self.decision.reply = restart_message(&self.input.message.nonce, &task.kind);
            let detail = format!("{} sent; waiting for the phone to start up again", task.kind.name());
            self.ledger().set_phase(&task, crate::jobs::Phase::Rebooting, &detail).claims = true;
            // The guide's flow ends with the Restart (p. 50-51): no reply follows.
        }
    }

    /// Desired values the phone refused, earlier or in this interaction.
    fn refused_values(&self) -> usize {
        let failures = self.input.failures.iter().chain(&self.decision.failures_added);
        let failures: Vec<_> = failures.collect();
        self.desired
            .iter()
            .filter(|(key, (value, _))| failures.iter().any(|f| &f.key == *key && &f.value == value))
            .count()
    }

    /// guide p. 43-45: the wanted items are listed empty.
    fn read_items(&mut self, task: &DeviceTask, mut state: InteractionState, starts: bool) {
        let JobKind::ReadItems { items } = &task.kind else { return };
        let wanted =
            items.iter().map(|key| Item { index: key.index, ..Item::new(key.name.clone(), "") }).collect();
        let detail = format!("reading {}", crate::model::plural(items.len(), "item"));
        self.ledger().set(task, TargetState::Running, &detail).claims = true;
        state.step = Step::ReadingItems { job_id: task.job_id, items: Vec::new(), fragments: 0 };
        self.send(
            DlsMessage::with_items(&self.input.message.nonce, Action::ReadItems, wanted),
            state,
            starts,
        );
    }

    /// guide p. 60 step 1: the base64 PKCS#12 in `wbm-server-certificate`. Without one in the
    /// input, the decision asks for it ([`super::Need::WbmCertificate`]).
    fn deploy_wbm_certificate(&mut self, task: &DeviceTask, mut state: InteractionState, starts: bool) {
        let value = match &self.input.security.wbm_certificate {
            None => {
                self.decision.needs = Some(super::Need::WbmCertificate);
                return;
            }
            Some(Err(problem)) => {
                let detail = format!("no certificate could be made: {problem}");
                self.ledger().set(task, TargetState::Failed, &detail);
                // Whatever follows (a restart) still runs.
                return self.after_writes(state, starts);
            }
            Some(Ok(value)) => value.clone(),
        };
        let item = Item::new("wbm-server-certificate", value);
        self.ledger().set(task, TargetState::Running, "certificate sent").claims = true;
        state.step = Step::DeployingWbmCertificate { job_id: task.job_id };
        self.send(
            DlsMessage::with_items(&self.input.message.nonce, Action::WriteItems, vec![item]),
            state,
            starts,
        );
    }

    /// A job's work in this interaction is finished: record it, then go on with what follows.
    pub(super) fn finish_task(&mut self, job_id: JobId, end: TaskEnd, state: InteractionState) {
        if let Some(task) = self.tasks.iter().find(|t| t.job_id == job_id).cloned() {
            self.ledger().set(&task, end.state, &end.detail).read = end.read;
        }
        self.action(state, false);
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
