//! Jobs as the engine sees them: work an administrator ordered for a device, carried out in the
//! device's next interaction (guide §3.6, p. 41-51), whatever made the phone call in.

use serde::{Deserialize, Serialize};

use crate::model::{ItemKey, Timestamp};

/// Identifies a job.
pub type JobId = i64;

/// What a job does on each of its target devices.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum JobKind {
    /// Bring the device's items to the desired configuration (`WriteItems`, p. 46-48).
    ApplyConfiguration,
    /// Read the named items into the inventory (`ReadItems`, p. 42-45).
    ReadItems {
        /// The items to read.
        items: Vec<ItemKey>,
    },
    /// Reboot the phone (`Restart`, p. 50); done when it starts up again.
    Restart,
    /// Reset the phone to delivery state (`Restart` with `restart-type` `FactoryReset`, p. 51);
    /// done when it starts up again.
    FactoryReset,
    /// Install a certificate for the phone's web server, issued by our CA for the phone
    /// (`WriteItems` `wbm-server-certificate`, PKCS#12), then read `wbm-server-certificate-info`
    /// to verify it (p. 59-61).
    DeployWbmCertificate,
    /// Install a firmware image (`SoftwareDeployment`, p. 56-57); done when the phone starts up
    /// with the image's version.
    DeployFirmware {
        /// The image.
        image: Deployable,
        /// Install it even on a phone that runs a newer version.
        #[serde(default)]
        allow_downgrade: bool,
        /// Install it during a call (`file-priority` `immediate`, p. 56, 177); else the phone
        /// refuses while busy and the target waits.
        #[serde(default)]
        immediate: bool,
    },
    /// Put one file on the phone (`FileDeployment`, p. 52-54); done by the phone's `status`.
    DeployFile {
        /// The file.
        file: Deployable,
    },
    /// Put several files on the phone at once (`FileDeployment` with `index`, p. 55); no status
    /// comes back, so the result is read with `ReadAllItems` (`file-deployment-*`, p. 245).
    DeployFiles {
        /// The files.
        files: Vec<Deployable>,
    },
    /// Delete files from the phone (`file-action` `delete`, p. 55), verified like
    /// [`JobKind::DeployFiles`].
    DeleteFiles {
        /// The files, as the phone names them.
        files: Vec<FileOnPhone>,
    },
}

/// A stored file or firmware image, as a deployment job carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deployable {
    /// The stored file's number.
    pub file_id: i64,
    /// Its content's SHA-256 (the download token names it).
    pub sha256: String,
    /// The `file-name` and `file-type` the phone knows it by.
    #[serde(flatten)]
    pub on_phone: FileOnPhone,
    /// A firmware image's version (`V3 R5.12.0`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The model patterns an image is for; empty: any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub models: Vec<String>,
}

/// What a stored file is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FileKind {
    /// A firmware image (`SoftwareDeployment`, guide p. 56-57; `file-type` `APP`).
    Firmware,
    /// A ringtone, logo, picture, screensaver, music on hold or LDAP template
    /// (`FileDeployment`, p. 52-55).
    File,
}

impl FileKind {
    /// The name stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            FileKind::Firmware => "firmware",
            FileKind::File => "file",
        }
    }
}

/// A file as a phone names it: `file-name` and `file-type` together identify it (guide p. 55).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileOnPhone {
    /// `file-name`.
    pub name: String,
    /// `file-type`: `RINGTONE`, `LOGO`, `PIC`, `SCREENSAVER`, `MOH`, `LDAP`, or `APP` (p. 177).
    pub file_type: String,
}

impl std::fmt::Display for FileOnPhone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.name, self.file_type)
    }
}

impl JobKind {
    /// The kind's name, as the CLI and API spell it.
    pub fn name(&self) -> &'static str {
        match self {
            JobKind::ApplyConfiguration => "apply-configuration",
            JobKind::ReadItems { .. } => "read-items",
            JobKind::Restart => "restart",
            JobKind::FactoryReset => "factory-reset",
            JobKind::DeployWbmCertificate => "deploy-wbm-certificate",
            JobKind::DeployFirmware { .. } => "deploy-firmware",
            JobKind::DeployFile { .. } => "deploy-file",
            JobKind::DeployFiles { .. } => "deploy-files",
            JobKind::DeleteFiles { .. } => "delete-files",
        }
    }

    /// The stored files the job hands to phones, to download from the file server.
    pub fn downloads(&self) -> Vec<&Deployable> {
        match self {
            JobKind::DeployFirmware { image, .. } => vec![image],
            JobKind::DeployFile { file } => vec![file],
            JobKind::DeployFiles { files } => files.iter().collect(),
            _ => Vec::new(),
        }
    }

    /// Whether the work is a deployment: the phone fetches files and the interaction ends with it.
    pub fn deploys(&self) -> bool {
        matches!(
            self,
            JobKind::DeployFirmware { .. }
                | JobKind::DeployFile { .. }
                | JobKind::DeployFiles { .. }
                | JobKind::DeleteFiles { .. }
        )
    }

    /// Whether the phone reboots: such work goes last in an interaction, which it ends.
    pub fn reboots(&self) -> bool {
        matches!(self, JobKind::Restart | JobKind::FactoryReset)
    }
}

/// A job's targets counted by state, in [`TargetState::ALL`] order, states without targets
/// left out; an object in JSON (`{"queued": 3, "done": 2}`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TargetCounts(Vec<(TargetState, u32)>);

impl TargetCounts {
    /// The counts of `counted`, in any order, put in [`TargetState::ALL`] order.
    pub fn new(mut counted: Vec<(TargetState, u32)>) -> TargetCounts {
        counted.retain(|(_, n)| *n > 0);
        counted.sort();
        TargetCounts(counted)
    }

    /// Number of targets.
    pub fn total(&self) -> u32 {
        self.0.iter().map(|(_, n)| n).sum()
    }

    /// Number of targets in a state.
    pub fn count(&self, state: TargetState) -> u32 {
        self.0.iter().find(|(s, _)| *s == state).map(|(_, n)| *n).unwrap_or(0)
    }

    /// Whether every target reached a final state.
    pub fn is_finished(&self) -> bool {
        self.0.iter().all(|(state, _)| state.is_final())
    }

    /// The states with targets and their counts.
    pub fn iter(&self) -> impl Iterator<Item = (TargetState, u32)> + '_ {
        self.0.iter().copied()
    }
}

impl Serialize for TargetCounts {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (state, n) in &self.0 {
            map.serialize_entry(state, n)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for TargetCounts {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let map = std::collections::BTreeMap::<String, u32>::deserialize(deserializer)?;
        // A state a newer server counts and this build does not know is left out.
        Ok(TargetCounts(
            TargetState::ALL
                .iter()
                .filter_map(|state| map.get(state.as_str()).map(|n| (*state, *n)))
                .collect(),
        ))
    }
}

/// Where one job stands on one device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TargetState {
    /// Waiting for the device's next contact (or for a contact-me to be sent).
    Queued,
    /// A contact-me was sent; waiting for the phone to call back.
    Contacting,
    /// The work is under way in an interaction (for restarts: sent, waiting for the start-up).
    Running,
    /// The phone was busy; it calls back when idle (p. 72-76), or a contact-me retries.
    WaitingBusy,
    /// Finished.
    Done,
    /// The phone refused the work; the detail says why.
    Failed,
    /// An administrator cancelled the job before the work was done.
    Cancelled,
    /// The device did not call in before the job's give-up time.
    TimedOut,
    /// A staged rollout has not reached this target yet (a later batch, or the job is paused).
    Held,
}

impl TargetState {
    /// Every state, in the order listings show them.
    pub const ALL: [TargetState; 9] = [
        TargetState::Held,
        TargetState::Queued,
        TargetState::Contacting,
        TargetState::Running,
        TargetState::WaitingBusy,
        TargetState::Done,
        TargetState::Failed,
        TargetState::Cancelled,
        TargetState::TimedOut,
    ];

    /// States in which work is still to be done.
    pub const ACTIVE: [TargetState; 4] =
        [TargetState::Queued, TargetState::Contacting, TargetState::Running, TargetState::WaitingBusy];

    /// Whether the state is final: nothing changes it any more.
    pub fn is_final(self) -> bool {
        !TargetState::ACTIVE.contains(&self) && self != TargetState::Held
    }

    /// Whether the work ended without success.
    pub fn is_failure(self) -> bool {
        matches!(self, TargetState::Failed | TargetState::TimedOut)
    }

    /// The state's name, as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            TargetState::Queued => "queued",
            TargetState::Contacting => "contacting",
            TargetState::Running => "running",
            TargetState::WaitingBusy => "waiting-busy",
            TargetState::Done => "done",
            TargetState::Failed => "failed",
            TargetState::Cancelled => "cancelled",
            TargetState::TimedOut => "timed-out",
            TargetState::Held => "held",
        }
    }
}

impl std::fmt::Display for TargetState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for TargetState {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        TargetState::ALL
            .into_iter()
            .find(|state| state.as_str() == text)
            .ok_or_else(|| format!("unknown target state {text:?}"))
    }
}

/// What a running target is doing, where its state alone does not say.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    /// The phone was given files or an image to fetch.
    Downloading,
    /// The phone was told to reboot (a restart, or new firmware).
    Rebooting,
    /// The result is read back from the phone (`ReadAllItems`).
    Verifying,
}

impl Phase {
    /// Every phase.
    pub const ALL: [Phase; 3] = [Phase::Downloading, Phase::Rebooting, Phase::Verifying];

    /// The phase's name, as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Downloading => "downloading",
            Phase::Rebooting => "rebooting",
            Phase::Verifying => "verifying",
        }
    }
}

impl std::fmt::Display for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Phase {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Phase::ALL
            .into_iter()
            .find(|phase| phase.as_str() == text)
            .ok_or_else(|| format!("unknown phase {text:?}"))
    }
}

/// One job's unfinished work on the device the engine decides about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceTask {
    /// The job.
    pub job_id: JobId,
    /// What to do.
    pub kind: JobKind,
    /// Where it stands (always one of [`TargetState::ACTIVE`]).
    pub state: TargetState,
    /// When the job was created.
    pub created_at: Timestamp,
    /// What a running target is doing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<Phase>,
    /// When the target last changed.
    #[serde(default)]
    pub updated_at: Timestamp,
}

/// A change of one job target's state, decided by the engine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskUpdate {
    /// The job.
    pub job_id: JobId,
    /// The device.
    pub mac: String,
    /// The new state.
    pub state: TargetState,
    /// What happened, for the job's listing.
    pub detail: String,
    /// Set when the reply being sent carries this job's action: the store must refuse the whole
    /// decision if the target was finished (cancelled, done) meanwhile, so nothing is done twice.
    pub claims: bool,
    /// For a finished `read-items` target: which requested items came back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read: Option<ReadResult>,
    /// What a running target is doing now (none once it leaves `running`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<Phase>,
}

/// Which of the items a `read-items` job requested a phone returned (guide p. 45: a reply
/// carries the items read; a phone leaves out names it does not know).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadResult {
    /// Requested items that came back with a value (`name` or `name[index]`).
    pub returned: Vec<String>,
    /// Requested items that came back with an error status, and the status.
    pub failed: Vec<(String, String)>,
    /// Requested items the phone did not return at all.
    pub missing: Vec<String>,
}
