//! Staged rollouts in storage: what a step of the rollout task did. The rollout itself
//! ([`Rollout`], [`Share`]) is the engine's, shared with the admin API.

pub use opendls_engine::rollout::{Rollout, Share};

/// What a rollout step did to a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RolloutStep {
    /// The job.
    pub job_id: i64,
    /// Targets released (0 when paused).
    pub released: u32,
    /// Why the job paused itself, if it did.
    pub paused: Option<String>,
}
