//! Replies in a web-interface certificate deployment (guide p. 60): the `WriteItems` of the
//! certificate, then the `ReadItems` that verifies it.

use opendls_wpi::{Action, DlsMessage, Item};

use super::Decision;
use super::next::TaskEnd;
use super::reply::{Turn, finish};
use crate::desired::EffectiveDesired;
use crate::jobs::JobId;
use crate::model::{InteractionState, ReportedItem, Step};

/// The certificate was written: read its information back (p. 60 step 3), unless the phone
/// refused it.
pub(super) fn deployed(turn: Turn<'_>, mut state: InteractionState, job_id: JobId) -> Decision {
    if let Some(item) = turn.input.message.items.iter().find(|item| item.status.is_some()) {
        let status = item.status.as_ref().map(|s| s.as_wire()).unwrap_or("?");
        let problem = format!("the phone refused the certificate ({status})");
        return turn.fail(&[job_id], problem);
    }
    let wanted = vec![Item::new("wbm-server-certificate-info", "")];
    state.step = Step::VerifyingWbmCertificate { job_id };
    let reply = DlsMessage::with_items(&turn.input.message.nonce, Action::ReadItems, wanted);
    turn.go_on(reply, state)
}

/// The certificate information came back: the job is done when the phone names it.
pub(super) fn verified(
    mut turn: Turn<'_>,
    state: InteractionState,
    job_id: JobId,
    desired: &EffectiveDesired,
) -> Decision {
    let info = turn.input.message.items.iter().find(|i| i.name == "wbm-server-certificate-info");
    match info {
        Some(info) if info.status.is_none() && !info.value.is_empty() => {
            let detail = format!("installed: {}", info.value);
            turn.merge(ReportedItem::from(info));
            finish(turn, job_id, TaskEnd::done(detail), state, desired)
        }
        _ => turn.fail(&[job_id], "the phone did not report the installed certificate".to_owned()),
    }
}
