//! Byte bounds on what a phone can make the service hold: one item's value, a reassembled reply
//! and a device's stored inventory. The guide caps a message at 50 kB (p. 28-29, 69); without
//! these bounds, a client that never authenticates could send a start-up followed by a hundred
//! `fragment="next"` replies of megabytes each and grow memory, the database and every later
//! read of the device. A message over a bound is answered with `CleanUp` and a
//! `cleanup-reason`, logged as a security event, and nothing it carried is stored.

use opendls_wpi::fragment::{AssemblyError, ITEM_OVERHEAD_BYTES, oversized_item};
use opendls_wpi::{DlsMessage, Item};

use super::{Decision, EngineSettings, Input, InteractionChange, device_mac, event};
use crate::model::{DeviceRecord, EventKind, Timestamp};

/// What the refusal needs to know about the request, taken before the input is consumed.
pub(super) struct Request {
    nonce: String,
    session: Option<String>,
    mac: Option<String>,
    reason: String,
    now: Timestamp,
}

impl Request {
    pub(super) fn of(input: &Input) -> Request {
        Request {
            nonce: input.message.nonce.clone(),
            session: input.interaction.as_ref().map(|state| state.session_id.clone()),
            mac: device_mac(&input.message, input.interaction.as_ref()),
            reason: input.message.reason.reason.to_string(),
            now: input.now,
        }
    }
}

/// Refuses a message carrying an item value longer than the configured bound.
pub(super) fn refuse_oversized_value(input: &Input, settings: &EngineSettings) -> Option<Decision> {
    let limit = settings.assembly_limits.max_value_bytes;
    let item = oversized_item(&input.message.items, limit)?;
    let problem = value_too_long(item, limit);
    Some(refusal(&Request::of(input), problem))
}

/// Replaces a decision whose device would hold more inventory than the configured bound with a
/// refusal that stores nothing of it.
pub(super) fn bound_inventory(request: &Request, decision: Decision, settings: &EngineSettings) -> Decision {
    let limit = settings.max_inventory_bytes;
    match &decision.device {
        Some(device) if inventory_bytes(device) > limit => {
            refusal(request, format!("inventory would exceed {limit} bytes"))
        }
        _ => decision,
    }
}

/// Whether a reassembly failed on a size bound (as opposed to a protocol mistake).
pub(super) fn is_size_bound(error: &AssemblyError) -> bool {
    matches!(
        error,
        AssemblyError::TooManyBytes { .. }
            | AssemblyError::ValueTooLong { .. }
            | AssemblyError::TooManyFragments { .. }
            | AssemblyError::TooManyItems { .. }
    )
}

/// A decision that ends the interaction for a size bound: nothing of the message is stored,
/// only a security event in the device's history.
pub(super) fn refusal(request: &Request, problem: String) -> Decision {
    let mut decision = Decision::new(DlsMessage::clean_up_because(&request.nonce, &problem));
    decision.interaction = InteractionChange::End(request.session.clone());
    let detail = format!("message refused: {problem}");
    if let Some(mac) = &request.mac {
        decision.history.push(event(mac, request.now, EventKind::Security, &request.reason, &detail));
    }
    decision.security_event = Some(detail);
    decision.error = Some(problem);
    decision
}

/// The bytes a device's stored inventory takes, counted as reassembly counts them.
pub fn inventory_bytes(device: &DeviceRecord) -> usize {
    device.reported.values().map(|item| item.key.name.len() + item.value.len() + ITEM_OVERHEAD_BYTES).sum()
}

fn value_too_long(item: &Item, limit: usize) -> String {
    let name: String = item.name.chars().take(64).collect();
    format!("value of {name} is longer than {limit} bytes")
}
