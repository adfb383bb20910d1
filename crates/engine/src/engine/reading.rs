//! Replies to `ReadAllItems` (the inventory, guide p. 34) and to a job's `ReadItems` (p. 42-45),
//! both possibly in fragments (p. 69-70).

use opendls_wpi::fragment::{AssemblyError, AssemblyProgress, FragmentAssembly};
use opendls_wpi::{Action, DlsMessage, Item};

use super::next::TaskEnd;
use super::reply::{Turn, finish};
use super::{Decision, end_with_error, inventory, read_result, size_limits};
use crate::desired::EffectiveDesired;
use crate::jobs::{JobId, JobKind};
use crate::model::{InteractionState, ReportedItem, Step};

/// A `ReadItems` job's reply, gathered so far.
pub(super) struct Progress {
    /// The job.
    pub job_id: JobId,
    /// Items of the fragments so far.
    pub items: Vec<ReportedItem>,
    /// Fragments so far.
    pub fragments: usize,
}

/// Where a fragmented reply stands after this message.
enum Gathered {
    /// More fragments follow: what came so far.
    More(Vec<ReportedItem>, usize),
    /// The reply is complete.
    Complete(Vec<Item>),
}

fn gather(
    turn: &Turn<'_>,
    action: Action,
    items: &[ReportedItem],
    fragments: usize,
) -> Result<Gathered, AssemblyError> {
    let mut assembly = FragmentAssembly {
        action: Some(action),
        items: items.iter().map(inventory::to_wpi_item).collect(),
        fragments,
    };
    Ok(match assembly.push(turn.input.message.clone(), turn.settings.assembly_limits)? {
        AssemblyProgress::NeedNext => {
            Gathered::More(assembly.items.iter().map(ReportedItem::from).collect(), assembly.fragments)
        }
        AssemblyProgress::Complete(items) => Gathered::Complete(items),
    })
}

/// guide p. 70: each fragment is acknowledged with `GetNextFragment`.
fn next_fragment(turn: Turn<'_>, state: InteractionState) -> Decision {
    let reply = DlsMessage::new(&turn.input.message.nonce, Action::GetNextFragment);
    turn.go_on(reply, state)
}

/// The inventory (`ReadAllItems`): merge it, then write what differs.
pub(super) fn inventory(
    mut turn: Turn<'_>,
    mut state: InteractionState,
    items: Vec<ReportedItem>,
    fragments: usize,
    mut desired: EffectiveDesired,
) -> Decision {
    match gather(&turn, Action::ReadAllItems, &items, fragments) {
        Err(problem) if size_limits::is_size_bound(&problem) => {
            size_limits::refusal(&size_limits::Request::of(turn.input), problem.to_string())
        }
        Err(problem) => {
            end_with_error(turn.decision, turn.device, &turn.reason, turn.now, problem.to_string())
        }
        Ok(Gathered::More(items, fragments)) => {
            state.step = Step::Reading { items, fragments };
            next_fragment(turn, state)
        }
        Ok(Gathered::Complete(items)) => {
            let input = turn.input;
            inventory::apply_full_read(
                &mut turn.device,
                &items,
                &mut desired,
                input,
                &state,
                &mut turn.decision,
            );
            turn.next(&desired).action(state, false);
            turn.done()
        }
    }
}

/// A `read-items` job's reply: merge it, and record which requested items came back.
pub(super) fn requested(
    mut turn: Turn<'_>,
    mut state: InteractionState,
    progress: Progress,
    desired: &EffectiveDesired,
) -> Decision {
    let Progress { job_id, items, fragments } = progress;
    match gather(&turn, Action::ReadItems, &items, fragments) {
        Err(problem) if size_limits::is_size_bound(&problem) => {
            let problem = problem.to_string();
            let mut refused = size_limits::refusal(&size_limits::Request::of(turn.input), problem.clone());
            let mut ledger = turn.ledger();
            ledger.decision = &mut refused;
            ledger.fail(&[job_id], &problem);
            refused
        }
        Err(problem) => turn.fail(&[job_id], problem.to_string()),
        Ok(Gathered::More(items, fragments)) => {
            state.step = Step::ReadingItems { job_id, items, fragments };
            next_fragment(turn, state)
        }
        Ok(Gathered::Complete(items)) => {
            let requested = turn.tasks.iter().find(|t| t.job_id == job_id).and_then(|t| match &t.kind {
                JobKind::ReadItems { items } => Some(items.clone()),
                _ => None,
            });
            let result = read_result::read_result(requested.as_deref().unwrap_or_default(), &items);
            for item in &items {
                turn.merge(ReportedItem::from(item));
            }
            inventory::update_identity(&mut turn.device);
            let (state_of_target, detail) = read_result::read_outcome(&result);
            let end = TaskEnd { state: state_of_target, detail, read: Some(result) };
            finish(turn, job_id, end, state, desired)
        }
    }
}
