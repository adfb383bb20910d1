//! Jobs in storage: what the administration API creates and lists, and what the contact-me
//! scheduler and the DCMP listener ask.

use std::future::Future;

use opendls_engine::{JobId, JobKind, TargetCounts, TargetState, Timestamp};
use serde::{Deserialize, Serialize};

use crate::StoreResult;

/// How a job's target devices are chosen. Resolved once, when the job is created.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "by", rename_all = "kebab-case")]
pub enum TargetSelector {
    /// These devices, by MAC.
    Devices {
        /// The MACs.
        macs: Vec<String>,
    },
    /// The devices of a group.
    Group {
        /// The group.
        name: String,
    },
    /// Devices whose inventory matches; `*` and `?` are wildcards, an absent field matches all.
    Query {
        /// Model (`device-type`), e.g. `OpenStage 60` or `OpenStage *`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        device_type: Option<String>,
        /// Firmware (`software-version`), e.g. `V3 R5*`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        software_version: Option<String>,
    },
    /// Every known device.
    All,
}

impl TargetSelector {
    /// Whether the selector chooses this device (as [`JobStore::create_job`] resolves it).
    pub fn selects(&self, device: &crate::DeviceSummary) -> bool {
        let matches = |pattern: &Option<String>, value: &Option<String>| match pattern {
            None => true,
            Some(pattern) => {
                value.as_deref().is_some_and(|value| opendls_wpi::models::wildcard_match(pattern, value))
            }
        };
        match self {
            TargetSelector::Devices { macs } => macs.contains(&device.mac),
            TargetSelector::Group { name } => {
                device.group.as_deref() == Some(name) || device.other_groups.contains(name)
            }
            TargetSelector::Query { device_type, software_version } => {
                matches(device_type, &device.device_type)
                    && matches(software_version, &device.software_version)
            }
            TargetSelector::All => true,
        }
    }
}

/// A job to create.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewJob {
    /// What to do.
    pub kind: JobKind,
    /// On which devices.
    pub targets: TargetSelector,
    /// Contact the phones now (contact-me, guide p. 14-15) or wait for their next contact.
    pub contact_me: bool,
    /// Targets not done by then end `timed-out`.
    pub give_up_at: Timestamp,
    /// Release the targets in stages; `None`: all at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout: Option<crate::Rollout>,
}

/// A job with its targets counted by state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobSummary {
    /// The job's number.
    pub id: JobId,
    /// What it does.
    pub kind: JobKind,
    /// How its targets were chosen.
    pub targets: TargetSelector,
    /// Whether phones are contacted.
    pub contact_me: bool,
    /// When it was created.
    pub created_at: Timestamp,
    /// When unfinished targets time out.
    pub give_up_at: Timestamp,
    /// When it was cancelled, if it was.
    pub cancelled_at: Option<Timestamp>,
    /// How its targets are released, when in stages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout: Option<crate::Rollout>,
    /// When it was paused (no more targets are released), if it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paused_at: Option<Timestamp>,
    /// Why it is paused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paused_reason: Option<String>,
    /// Targets per state.
    pub counts: TargetCounts,
}

/// One target device of a job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobTarget {
    /// The device.
    pub mac: String,
    /// Where the job stands on it.
    pub state: TargetState,
    /// What a running target is doing (downloading, rebooting, verifying).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<opendls_engine::Phase>,
    /// Last change.
    pub updated_at: Timestamp,
    /// When it reached a final state.
    pub finished_at: Option<Timestamp>,
    /// What happened last.
    pub detail: String,
    /// For a finished `read-items` target: which requested items came back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read: Option<opendls_engine::ReadResult>,
    /// The device's contact-me schedule, for explaining waits (not part of the API).
    #[serde(skip)]
    pub schedule: Option<ContactSchedule>,
}

/// Where a device stands in contact-me pacing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactSchedule {
    /// When the next contact-me may go.
    pub next_at: Timestamp,
    /// When the phone last answered one (its contact gap starts then).
    pub last_answered_at: Option<Timestamp>,
    /// What the last attempt or deferral said.
    pub last_result: String,
}

/// A job and all its targets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobDetail {
    /// The job.
    pub summary: JobSummary,
    /// Its targets, by MAC.
    pub targets: Vec<JobTarget>,
}

/// A device with unfinished work of a contact-me job, due for a contact-me.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactCandidate {
    /// The device.
    pub mac: String,
    /// The URI it reported for contact-me (guide p. 27).
    pub contact_me_uri: Option<String>,
    /// The address it last connected from.
    pub remote_addr: Option<String>,
    /// Its firmware (`software-version`), to tell phones that honour `send-solicited`.
    pub software_version: Option<String>,
    /// Every unfinished target waits for a busy phone; since when (the latest).
    pub busy_since: Option<Timestamp>,
    /// Contact-me requests sent since the phone last called in.
    pub attempts: u32,
    /// When the phone last answered a contact-me (its contact gap starts then).
    pub last_answered_at: Option<Timestamp>,
    /// Whether the device is in Secure Mode: it is called back to the secure port (p. 65).
    pub secure: bool,
    /// Its model (`device-type`), for per-model contact-me settings.
    pub device_type: Option<String>,
    /// Its group, for per-group contact-me settings.
    pub group: Option<String>,
}

/// When a running target counts as stalled and its phone is contacted again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stalled {
    /// Running targets unchanged since then.
    pub before: Timestamp,
    /// Running targets whose phone is downloading, unchanged since then: a download and the
    /// reboot after it take minutes, and only a start-up, a status or the deployment timeout
    /// ends them.
    pub downloading_before: Timestamp,
}

/// What the scheduler did about one candidate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactRecord {
    /// The device.
    pub mac: String,
    /// Whether a request went out (false: deferred without sending).
    pub sent: bool,
    /// Whether the phone answered `204` (guide p. 15).
    pub answered: bool,
    /// When the device may be contacted next.
    pub next_at: Timestamp,
    /// What happened, for the targets' detail.
    pub result: String,
}

/// The jobs' storage.
pub trait JobStore: Send + Sync + 'static {
    /// Creates a job, resolving its targets; `None` when no device matches (nothing is created).
    fn create_job(
        &self,
        job: &NewJob,
        now: Timestamp,
    ) -> impl Future<Output = StoreResult<Option<JobSummary>>> + Send;
    /// The latest `limit` jobs, newest first.
    fn list_jobs(&self, limit: u32) -> impl Future<Output = StoreResult<Vec<JobSummary>>> + Send;
    /// One job with its targets.
    fn job(&self, id: JobId) -> impl Future<Output = StoreResult<Option<JobDetail>>> + Send;
    /// Cancels a job's unfinished targets; `None` when there is no such job, else how many.
    fn cancel_job(&self, id: JobId, now: Timestamp) -> impl Future<Output = StoreResult<Option<u32>>> + Send;
    /// Devices due for a contact-me at `now`, most overdue first. Running targets count only
    /// when stalled ([`Stalled`]: the phone vanished mid-interaction, a restart never came back,
    /// a download was never reported).
    fn contact_candidates(
        &self,
        now: Timestamp,
        stalled: Stalled,
        limit: u32,
    ) -> impl Future<Output = StoreResult<Vec<ContactCandidate>>> + Send;
    /// Claims the right to send a device a contact-me now: its schedule is moved to `until`
    /// unless another claim or contact holds it past `now`. False when someone else (another
    /// node of the cluster) has it: a contact-me is sent once. A claim not followed by
    /// [`JobStore::record_contact`] (the node died) lapses at `until`.
    fn claim_contact(
        &self,
        mac: &str,
        now: Timestamp,
        until: Timestamp,
    ) -> impl Future<Output = StoreResult<bool>> + Send;
    /// Records a contact-me sent or deferred.
    fn record_contact(
        &self,
        record: ContactRecord,
        now: Timestamp,
    ) -> impl Future<Output = StoreResult<()>> + Send;
    /// Ends unfinished targets of jobs past their give-up time; returns how many.
    fn expire_targets(&self, now: Timestamp) -> impl Future<Output = StoreResult<u32>> + Send;
    /// Releases the next wave of staged jobs whose released targets are finished, and pauses
    /// those whose failures passed their threshold.
    fn advance_rollouts(
        &self,
        now: Timestamp,
    ) -> impl Future<Output = StoreResult<Vec<crate::RolloutStep>>> + Send;
    /// Pauses a job: targets not yet contacted are held. `None` when there is no such job, else
    /// whether it was running (not finished, cancelled or paused already).
    fn pause_job(
        &self,
        id: JobId,
        now: Timestamp,
        reason: String,
    ) -> impl Future<Output = StoreResult<Option<bool>>> + Send;
    /// Resumes a paused job; failures so far no longer count against its threshold. `None` when
    /// there is no such job, else whether it was paused.
    fn resume_job(&self, id: JobId) -> impl Future<Output = StoreResult<Option<bool>>> + Send;
    /// Sets the firmware pin of a model (and group), replacing one there was: its standing job
    /// is cancelled and a new one made.
    fn set_firmware_pin(
        &self,
        pin: crate::NewPin,
        now: Timestamp,
    ) -> impl Future<Output = StoreResult<crate::FirmwarePin>> + Send;
    /// The pins in force.
    fn firmware_pins(&self) -> impl Future<Output = StoreResult<Vec<crate::FirmwarePin>>> + Send;
    /// Removes a pin and cancels its job; `None` when there was none.
    fn remove_firmware_pin(
        &self,
        model: String,
        group: Option<String>,
        now: Timestamp,
    ) -> impl Future<Output = StoreResult<Option<crate::FirmwarePin>>> + Send;
    /// Gives phones that run another version than their pin a target in the pin's job, within
    /// the limits; returns how many.
    fn apply_firmware_pins(
        &self,
        now: Timestamp,
        limits: crate::PinLimits,
    ) -> impl Future<Output = StoreResult<u32>> + Send;
    /// Whether a device has work waiting for it to call in (DCMP, guide p. 15, 24).
    fn pending_work(&self, mac: &str) -> impl Future<Output = StoreResult<bool>> + Send;
    /// The distinct addresses phones connected from (the default contact-me allow-list).
    fn phone_addresses(&self) -> impl Future<Output = StoreResult<Vec<String>>> + Send;
}
