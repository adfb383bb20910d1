//! Why an unfinished job target waits, and until when: the contact gap, a call, NAT, the
//! networks contact-me may go to, or simply the pacing of contact-me.

use opendls_engine::{TargetState, Timestamp, utc_text};
use opendls_store::jobs::{JobSummary, JobTarget};

use crate::api::Waiting;

/// What explaining a wait needs to know of the service and the device.
#[derive(Debug, Clone, Copy)]
pub struct WaitContext {
    /// Now.
    pub now: Timestamp,
    /// `jobs.contact_gap_secs`: how long a phone ignores contact-me after answering one.
    pub contact_gap_secs: u64,
    /// The device polls the DCMP listener every this many seconds (it is behind NAT).
    pub polls_every_secs: Option<u64>,
}

/// Why `target` of `job` has not finished; `None` when it has.
pub fn explain(job: &JobSummary, target: &JobTarget, context: WaitContext) -> Option<Waiting> {
    let WaitContext { now, contact_gap_secs, polls_every_secs } = context;
    let waiting = |why: String, until: Option<Timestamp>| Some(Waiting { why, until, stuck: false });
    match target.state {
        state if state.is_final() => return None,
        TargetState::Running => {
            let why = match target.phase {
                Some(opendls_engine::Phase::Downloading) => {
                    "the phone is downloading; its status or start-up says how it went"
                }
                Some(opendls_engine::Phase::Rebooting) => {
                    "the phone is rebooting; its start-up finishes the work"
                }
                Some(opendls_engine::Phase::Verifying) => {
                    "the files are read back from the phone at its next contact"
                }
                None => "in an interaction with the phone now",
            };
            return waiting(why.into(), None);
        }
        TargetState::Held => {
            let why = match (&job.paused_at, &job.paused_reason) {
                (Some(_), Some(reason)) => format!("held: the job is paused ({reason})"),
                (Some(_), None) => "held: the job is paused (opendls job resume ID)".to_owned(),
                (None, _) => {
                    "held by the rollout until the targets released before it are finished".to_owned()
                }
            };
            return waiting(why, None);
        }
        _ => {}
    }
    if let Some(every) = polls_every_secs {
        let why =
            format!("behind NAT: the phone polls the DCMP listener every {every} s and finds the work then");
        return waiting(why, None);
    }
    if !job.contact_me {
        let why = "waits for the phone's next contact of its own (the job sends no contact-me)".to_owned();
        return waiting(why, None);
    }
    let busy = target.state == TargetState::WaitingBusy;
    let Some(schedule) = target.schedule.as_ref().filter(|s| s.next_at > now) else {
        let why = match busy {
            true => "the phone is in a call; it calls back when idle, or contact-me tries again now",
            false => "contact-me is due now (paced by jobs.max_contacts_per_sec)",
        };
        return waiting(why.into(), None);
    };
    if let Some(answered) = schedule.last_answered_at {
        let gap_ends = answered + contact_gap_secs as i64;
        if gap_ends > now {
            let why = format!(
                "contact gap: the phone answered a contact-me at {} and ignores another until {} \
                 (jobs.contact_gap_secs = {contact_gap_secs}, the phones' dls-contact-interval); it may \
                 call back before",
                utc_text(answered),
                utc_text(gap_ends)
            );
            return waiting(why, Some(gap_ends));
        }
    }
    let last = match schedule.last_result.as_str() {
        "" => "contact-me scheduled",
        text => text,
    };
    let why = format!("{last}; next contact-me at {}", utc_text(schedule.next_at));
    let stuck = last.starts_with(crate::scheduler::UNREACHABLE);
    Some(Waiting { why, until: Some(schedule.next_at), stuck })
}

#[cfg(test)]
mod tests {
    use opendls_store::TargetSelector;
    use opendls_store::jobs::ContactSchedule;

    use super::*;

    const NOW: Timestamp = 1_795_708_800; // 2026-11-26T16:00:00Z

    fn job(contact_me: bool) -> JobSummary {
        JobSummary {
            id: 1,
            kind: opendls_engine::JobKind::Restart,
            targets: TargetSelector::All,
            contact_me,
            created_at: NOW,
            give_up_at: NOW + 3600,
            cancelled_at: None,
            rollout: None,
            paused_at: None,
            paused_reason: None,
            counts: opendls_engine::TargetCounts::new(vec![(TargetState::Queued, 1)]),
        }
    }

    fn target(state: TargetState, schedule: Option<ContactSchedule>) -> JobTarget {
        let mac = "00:1A:E8:00:00:01".into();
        JobTarget {
            mac,
            state,
            phase: None,
            updated_at: NOW,
            finished_at: None,
            detail: String::new(),
            read: None,
            schedule,
        }
    }

    fn context() -> WaitContext {
        WaitContext { now: NOW, contact_gap_secs: 300, polls_every_secs: None }
    }

    #[test]
    fn a_contact_gap_says_until_when() {
        let schedule = ContactSchedule {
            next_at: NOW + 200,
            last_answered_at: Some(NOW - 100),
            last_result: "contact-me answered (attempt 1); waiting for the call-back".into(),
        };
        let waiting = explain(&job(true), &target(TargetState::Queued, Some(schedule)), context()).unwrap();
        assert_eq!(waiting.until, Some(NOW + 200));
        assert!(
            waiting.why.starts_with("contact gap: the phone answered a contact-me at 2026-11-26T15:58:20Z")
        );
        assert!(waiting.why.contains("until 2026-11-26T16:03:20Z"), "{}", waiting.why);
    }

    #[test]
    fn deferrals_nat_and_finished_targets() {
        let schedule = ContactSchedule {
            next_at: NOW + 50,
            last_answered_at: None,
            last_result: "no contact-me: 10.9.9.9 is outside the allowed networks (jobs.allowed_networks)"
                .into(),
        };
        let waiting = explain(&job(true), &target(TargetState::Queued, Some(schedule)), context()).unwrap();
        assert!(waiting.stuck);
        assert!(waiting.why.ends_with("next contact-me at 2026-11-26T16:00:50Z"), "{}", waiting.why);
        let nat = WaitContext { polls_every_secs: Some(120), ..context() };
        let waiting = explain(&job(true), &target(TargetState::Queued, None), nat).unwrap();
        assert!(waiting.why.starts_with("behind NAT: the phone polls the DCMP listener every 120 s"));
        let waiting = explain(&job(false), &target(TargetState::Queued, None), context()).unwrap();
        assert!(waiting.why.contains("no contact-me"), "{}", waiting.why);
        assert!(!waiting.stuck, "the phone's own next contact ends it");
        assert_eq!(explain(&job(true), &target(TargetState::Done, None), context()), None);
    }
}
