//! Deployments (guide p. 52-57): a firmware image with `SoftwareDeployment`, finished when the
//! phone starts up with its version; one file with `FileDeployment`, finished by the phone's
//! `status`; several files or deletions, verified with `ReadAllItems` (p. 55, 245).

use opendls_wpi::firmware::FirmwareVersion;
use opendls_wpi::{Action, DlsMessage, Item};

use super::next::{Next, TaskEnd};
use super::{Download, Need};
use crate::jobs::{Deployable, DeviceTask, FileOnPhone, JobKind, Phase, TargetState};
use crate::model::{DeviceRecord, InteractionState, ItemKey, Step, Timestamp};

/// `file-sw-type` of the guide's example (p. 57).
const FIRMWARE_SOFTWARE_TYPE: &str = "Siemens SIP";

impl Next<'_> {
    /// Sends the first deployment waiting to be sent. False when there is none; true when one
    /// was sent, or when the decision asks for download sources first.
    pub(super) fn deploy(&mut self, state: InteractionState, starts: bool) -> bool {
        let waiting = self.tasks.iter().find(|t| t.kind.deploys() && t.state != TargetState::Running);
        let Some(task) = waiting.cloned() else { return false };
        let sources = match (&self.input.downloads, task.kind.downloads().is_empty()) {
            (_, true) => Vec::new(),
            (None, false) => {
                self.decision.needs = Some(Need::Downloads);
                return true;
            }
            (Some(Err(problem)), false) => {
                let detail = format!("the files cannot be served to the phone: {problem}");
                self.ledger().set(&task, TargetState::Failed, &detail);
                return self.deploy(state, starts);
            }
            (Some(Ok(sources)), false) => sources.clone(),
        };
        match self.deployment(&task, &sources) {
            Ok((reply, step, detail)) => {
                let phase = if matches!(step, Step::DeployingFiles { .. }) {
                    Phase::Verifying
                } else {
                    Phase::Downloading
                };
                self.ledger().set_phase(&task, phase, &detail).claims = true;
                let mut state = state;
                state.step = step;
                self.send(reply, state, starts);
                true
            }
            Err(end) => {
                self.ledger().set(&task, end.state, &end.detail);
                self.deploy(state, starts)
            }
        }
    }

    /// The message that carries a task's deployment, the step that awaits its answer and what
    /// the target's listing says; or why the task ends without one.
    fn deployment(
        &self,
        task: &DeviceTask,
        sources: &[Download],
    ) -> Result<(DlsMessage, Step, String), TaskEnd> {
        let nonce = &self.input.message.nonce;
        let job_id = task.job_id;
        for file in task.kind.downloads() {
            fits_model(file, self.device)?;
        }
        match &task.kind {
            JobKind::DeployFirmware { image, allow_downgrade, immediate } => {
                let version = firmware_check(image, self.device, *allow_downgrade)?;
                let mut items = source_of(sources, image)?;
                items.extend([
                    Item::new("file-type", "APP"),
                    Item::new("file-sw-type", FIRMWARE_SOFTWARE_TYPE),
                    Item::new("file-sw-version", version.dotted()),
                    Item::new("file-priority", if *immediate { "immediate" } else { "normal" }),
                ]);
                let message = DlsMessage::with_items(nonce, Action::SoftwareDeployment, items);
                let detail =
                    format!("{} ({version}) sent; the phone downloads it and reboots", image.on_phone.name);
                Ok((message, Step::DeployingFirmware { job_id }, detail))
            }
            JobKind::DeployFile { file } => {
                let mut items = source_of(sources, file)?;
                items.push(Item::new("file-type", &file.on_phone.file_type));
                let message = DlsMessage::with_items(nonce, Action::FileDeployment, items);
                let detail = format!("{} sent; waiting for the phone's status", file.on_phone);
                Ok((message, Step::DeployingFile { job_id }, detail))
            }
            JobKind::DeployFiles { files } => {
                let mut items = Vec::new();
                for (slot, file) in (1..).zip(files) {
                    let source = source_of(sources, file)?;
                    items.extend(indexed(source, slot));
                    items.extend(indexed(file_entry(&file.on_phone, "deploy"), slot));
                }
                let message = DlsMessage::with_items(nonce, Action::FileDeployment, items);
                let detail = format!(
                    "{} sent; the result is read back from the phone",
                    crate::model::plural(files.len(), "file")
                );
                Ok((message, Step::DeployingFiles { job_id }, detail))
            }
            JobKind::DeleteFiles { files } => {
                let mut items = Vec::new();
                for (slot, file) in (1..).zip(files) {
                    items.extend(indexed(file_entry(file, "delete"), slot));
                }
                let message = DlsMessage::with_items(nonce, Action::FileDeployment, items);
                let detail = format!(
                    "deletion of {} sent; the result is read back from the phone",
                    crate::model::plural(files.len(), "file")
                );
                Ok((message, Step::DeployingFiles { job_id }, detail))
            }
            other => Err(TaskEnd::failed(format!("{} is not a deployment", other.name()))),
        }
    }

    /// Multiple-file deployments sent earlier are checked against the inventory read in this
    /// interaction (p. 55: no status comes back; the `file-deployment-*` items say, p. 245).
    pub(super) fn verify_file_sets(&mut self) {
        if self.device.inventory_read_at != Some(self.input.now) {
            return;
        }
        let verifying: Vec<DeviceTask> = self.tasks.iter().filter(|t| awaits_read_back(t)).cloned().collect();
        for task in verifying {
            let overdue = self.input.now - task.updated_at >= self.settings.deployment_timeout_secs;
            // None: not all there yet and not overdue; the phone may still be downloading.
            if let Some(end) = read_back(&task.kind, self.device, overdue) {
                self.ledger().set(&task, end.state, &end.detail);
            }
        }
    }
}

/// Whether the task waits to be verified by reading the phone's inventory.
pub(super) fn awaits_read_back(task: &DeviceTask) -> bool {
    matches!(task.kind, JobKind::DeployFiles { .. } | JobKind::DeleteFiles { .. })
        && task.state == TargetState::Running
        && task.phase == Some(Phase::Verifying)
}

/// `file-name` and `file-type` identify a file on the phone (p. 55); `file-action` says what
/// to do with it.
fn file_entry(file: &FileOnPhone, action: &str) -> Vec<Item> {
    vec![
        Item::new("file-name", &file.name),
        Item::new("file-type", &file.file_type),
        Item::new("file-action", action),
    ]
}

fn indexed(items: Vec<Item>, slot: u32) -> impl Iterator<Item = Item> {
    items.into_iter().map(move |item| Item { index: Some(slot), ..item })
}

fn source_of(sources: &[Download], file: &Deployable) -> Result<Vec<Item>, TaskEnd> {
    sources
        .iter()
        .find(|source| source.file_id == file.file_id)
        .map(|source| source.source.clone())
        .ok_or_else(|| TaskEnd::failed(format!("no download source for stored file {}", file.file_id)))
}

fn fits_model(file: &Deployable, device: &DeviceRecord) -> Result<(), TaskEnd> {
    let model = device.device_type.as_deref().unwrap_or_default();
    if opendls_wpi::models::fits_model(&file.models, model) {
        return Ok(());
    }
    let model = if model.is_empty() { "of an unknown model" } else { model };
    Err(TaskEnd::failed(format!(
        "{} is for {}; this phone is {model}",
        file.on_phone.name,
        file.models.join(", ")
    )))
}

/// The image's version, when it should be installed: not the one the phone runs, and not an
/// older one unless a downgrade is allowed.
fn firmware_check(
    image: &Deployable,
    device: &DeviceRecord,
    allow_downgrade: bool,
) -> Result<FirmwareVersion, TaskEnd> {
    let Some(target) = image.version.as_deref().and_then(FirmwareVersion::parse) else {
        return Err(TaskEnd::failed(format!("{} has no firmware version", image.on_phone.name)));
    };
    let current = device.software_version.as_deref().and_then(FirmwareVersion::parse);
    match current {
        Some(current) if current == target => Err(TaskEnd::done(format!("the phone already runs {target}"))),
        Some(current) if current > target && !allow_downgrade => Err(TaskEnd::failed(format!(
            "the phone runs {current}, newer than {target}: a downgrade needs --allow-downgrade"
        ))),
        None if !allow_downgrade => Err(TaskEnd::failed(
            "the phone's firmware version (software-version) is unknown, so an upgrade cannot be told from a \
             downgrade; --allow-downgrade installs it anyway"
                .to_owned(),
        )),
        _ => Ok(target),
    }
}

/// The result of a multiple-file deployment as the phone's inventory shows it; `None` while
/// files are still missing and the deployment is not overdue.
fn read_back(kind: &JobKind, device: &DeviceRecord, overdue: bool) -> Option<TaskEnd> {
    let on_phone = files_on_phone(device);
    let status_of = |file: &FileOnPhone| {
        on_phone
            .iter()
            .find(|(name, file_type, _)| *name == file.name && *file_type == file.file_type)
            .map(|(.., s)| s.clone())
    };
    let mut problems = Vec::new();
    // Problems that may still go away: a file not there yet, a deleted one still listed.
    let mut pending = 0;
    let count = match kind {
        JobKind::DeployFiles { files } => {
            for file in files {
                match status_of(&file.on_phone).as_deref() {
                    Some("ok") => {}
                    None => {
                        pending += 1;
                        problems.push(format!("{} is not on the phone", file.on_phone));
                    }
                    Some(status) => {
                        problems.push(format!("{}: file-deployment-status {status}", file.on_phone))
                    }
                }
            }
            files.len()
        }
        JobKind::DeleteFiles { files } => {
            for file in files.iter().filter(|file| status_of(file).is_some()) {
                problems.push(format!("{file} is still on the phone"));
            }
            pending = problems.len();
            files.len()
        }
        _ => return None,
    };
    let files = crate::model::plural(count, "file");
    if problems.is_empty() {
        let verb = if matches!(kind, JobKind::DeleteFiles { .. }) { "deleted" } else { "on the phone" };
        return Some(TaskEnd::done(format!("{files} {verb}, read back with ReadAllItems")));
    }
    if pending == problems.len() && !overdue {
        return None;
    }
    Some(TaskEnd::failed(format!("{files} sent; {}", problems.join("; "))))
}

/// The phone's files as its `file-deployment-*` items list them (p. 245): name, type, status.
fn files_on_phone(device: &DeviceRecord) -> Vec<(String, String, String)> {
    let value = |name: &str, index| {
        device.reported.get(&ItemKey::new(name, index)).map(|item| item.value.clone()).unwrap_or_default()
    };
    device
        .reported
        .keys()
        .filter(|key| key.name == "file-deployment-name")
        .map(|key| {
            (
                value("file-deployment-name", key.index),
                value("file-deployment-type", key.index),
                value("file-deployment-status", key.index),
            )
        })
        .collect()
}

/// What a contact says about deployments sent earlier: firmware is installed when the phone
/// starts up with the image's version; a deployment the phone never answered ends once overdue.
pub(super) fn settled_by_contact(
    task: &DeviceTask,
    device: &DeviceRecord,
    start_up: bool,
    now: Timestamp,
    timeout_secs: i64,
) -> Option<TaskEnd> {
    if task.state != TargetState::Running {
        return None;
    }
    let overdue = now - task.updated_at >= timeout_secs;
    let running = device.software_version.as_deref().unwrap_or("an unknown version");
    match &task.kind {
        JobKind::DeployFirmware { image, .. } => {
            let target = image.version.as_deref().and_then(FirmwareVersion::parse);
            let current = device.software_version.as_deref().and_then(FirmwareVersion::parse);
            let installed = target.is_some() && current == target;
            match (start_up, installed) {
                (_, true) => Some(TaskEnd::done(format!("the phone runs {running}"))),
                (true, false) => Some(TaskEnd::failed(format!(
                    "the phone started up again with {running}, not {}: the image was not installed \
                     (not sent again by this job)",
                    image.version.as_deref().unwrap_or("the image's version")
                ))),
                (false, false) if overdue => Some(TaskEnd::failed(format!(
                    "no start-up within {timeout_secs} s of the SoftwareDeployment; the phone still runs {running}"
                ))),
                (false, false) => None,
            }
        }
        JobKind::DeployFile { file } if overdue => Some(TaskEnd {
            state: TargetState::TimedOut,
            ..TaskEnd::failed(format!(
                "no status for {} within {timeout_secs} s of the FileDeployment (guide p. 54)",
                file.on_phone
            ))
        }),
        _ => None,
    }
}

/// What a phone's `status` (p. 54) says about the deployment it reports: the job whose file it
/// names (or the only one awaiting a status), and how it ended.
pub(super) fn settled_by_status(
    tasks: &[DeviceTask],
    reported: &FileOnPhone,
    status: &str,
    date: &str,
) -> Option<(DeviceTask, TaskEnd)> {
    let awaiting: Vec<&DeviceTask> = tasks
        .iter()
        .filter(|t| t.state == TargetState::Running)
        .filter(|t| matches!(t.kind, JobKind::DeployFile { .. } | JobKind::DeployFirmware { .. }))
        .collect();
    let named = |task: &&&DeviceTask| {
        task.kind
            .downloads()
            .iter()
            .any(|f| f.on_phone.name == reported.name && f.on_phone.file_type == reported.file_type)
    };
    let task = awaiting.iter().find(named).or(if awaiting.len() == 1 { awaiting.first() } else { None })?;
    let end = match (status, &task.kind) {
        ("ok", JobKind::DeployFile { .. }) => {
            TaskEnd::done(format!("the phone reports {reported} ok ({date})"))
        }
        // Firmware is done only when the phone runs it; an `ok` here just says it was fetched.
        ("ok", _) => return None,
        (other, _) => {
            TaskEnd::failed(format!("the phone reports {reported}: file-deployment-status {other} ({date})"))
        }
    };
    Some(((*task).clone(), end))
}
