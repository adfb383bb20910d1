//! Jobs as the admin API shows them: `POST /api/jobs` answers a [`JobView`], `GET /api/jobs`
//! lists them, `GET /api/jobs/{id}` (and pause, resume, cancel) answer a [`JobDetailView`].

use opendls_engine::rollout::Rollout;
use opendls_engine::{JobId, JobKind, Phase, ReadResult, TargetCounts, TargetState, Timestamp};
use serde::{Deserialize, Serialize};

use crate::Targets;

/// A job with its targets counted by state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobView {
    /// The job's number.
    pub id: JobId,
    /// What it does.
    pub kind: JobKind,
    /// How its targets were chosen.
    pub targets: Targets,
    /// Whether phones are contacted.
    pub contact_me: bool,
    /// When it was created (Unix seconds).
    pub created_at: Timestamp,
    /// When unfinished targets time out.
    pub give_up_at: Timestamp,
    /// When it was cancelled, if it was.
    pub cancelled_at: Option<Timestamp>,
    /// How its targets are released, when in stages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout: Option<Rollout>,
    /// When it was paused (no more targets are released), if it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paused_at: Option<Timestamp>,
    /// Why it is paused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paused_reason: Option<String>,
    /// Targets per state (`{"queued": 3, "done": 2}`).
    pub counts: TargetCounts,
}

/// One target device of a job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobTargetView {
    /// The device.
    pub mac: String,
    /// Where the job stands on it.
    pub state: TargetState,
    /// What a running target is doing (downloading, rebooting, verifying).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<Phase>,
    /// Last change.
    pub updated_at: Timestamp,
    /// When it reached a final state.
    pub finished_at: Option<Timestamp>,
    /// What happened last.
    pub detail: String,
    /// For a finished `read-items` target: which requested items came back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read: Option<ReadResult>,
    /// Why an unfinished target waits and until when.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiting: Option<Waiting>,
}

/// Why a target has not moved on yet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Waiting {
    /// For a human: what holds it and what will move it.
    pub why: String,
    /// When that changes (the next contact-me, the end of a contact gap), if known.
    #[serde(default)]
    pub until: Option<Timestamp>,
    /// Only the phone can end it: no contact-me can reach it (no address, an address outside the
    /// allowed networks or not the one it connects from).
    #[serde(default)]
    pub stuck: bool,
}

/// A job and all its targets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobDetailView {
    /// The job.
    pub summary: JobView,
    /// Its targets, by MAC.
    pub targets: Vec<JobTargetView>,
}
