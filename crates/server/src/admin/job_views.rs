//! Jobs as the admin API shows them ([`crate::api::JobView`] and its kin), made from the store's
//! records: what the store keeps can change without changing what the API answers.

use opendls_store::TargetSelector;
use opendls_store::jobs::{JobDetail, JobSummary};

use crate::api::{JobDetailView, JobTargetView, JobView, Targets, Waiting};

/// The API's form of a job's target selector.
pub(super) fn targets_of(selector: TargetSelector) -> Targets {
    match selector {
        TargetSelector::Devices { macs } => Targets::Devices { macs },
        TargetSelector::Group { name } => Targets::Group { name },
        TargetSelector::Query { device_type, software_version } => {
            Targets::Query { device_type, software_version }
        }
        TargetSelector::All => Targets::All,
    }
}

/// A job as `GET /api/jobs` lists it.
pub(super) fn job_view(summary: JobSummary) -> JobView {
    let JobSummary {
        id,
        kind,
        targets,
        contact_me,
        created_at,
        give_up_at,
        cancelled_at,
        rollout,
        paused_at,
        paused_reason,
        counts,
    } = summary;
    JobView {
        id,
        kind,
        targets: targets_of(targets),
        contact_me,
        created_at,
        give_up_at,
        cancelled_at,
        rollout,
        paused_at,
        paused_reason,
        counts,
    }
}

/// A job with its targets; `waits` holds, target by target, why each waits (or nothing said).
pub(super) fn detail_view(detail: JobDetail, waits: Vec<Option<Waiting>>) -> JobDetailView {
    let waits = waits.into_iter().chain(std::iter::repeat(None));
    let targets = detail
        .targets
        .into_iter()
        .zip(waits)
        .map(|(target, waiting)| JobTargetView {
            mac: target.mac,
            state: target.state,
            phase: target.phase,
            updated_at: target.updated_at,
            finished_at: target.finished_at,
            detail: target.detail,
            read: target.read,
            waiting,
        })
        .collect();
    JobDetailView { summary: job_view(detail.summary), targets }
}
