//! Plug & play in the admin API: devices prepared before the phone exists (bound at its first
//! contact by MAC or E.164), and approving devices the unknown-device policy held back.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use opendls_engine::{Scope, Variable, check_group_name, normalize_mac};
use opendls_store::{NewProvisioned, ProvisioningStore};

use super::body::ApiJson;
use super::{AdminState, Answer, failure};
use crate::api::{
    ApprovalRequest, ApprovalResult, ProvisionEntry, ProvisionRefusal, ProvisionRequest, ProvisionResult,
};
use crate::phone::unix_now;

/// The most devices one request prepares: a whole site's list goes in one request, so that it
/// is stored all or not at all.
pub const MAX_PROVISION_BATCH: usize = 200_000;

/// The largest body of `POST /api/provisioned` (about 300 bytes a device at the most devices).
pub const MAX_PROVISION_BODY: usize = 64 << 20;

/// An E.164 number as phones report it: digits, an optional leading `+` (kept as given).
fn check_e164(text: &str) -> Result<String, String> {
    let digits = text.strip_prefix('+').unwrap_or(text);
    match !digits.is_empty() && digits.len() <= 15 && digits.chars().all(|c| c.is_ascii_digit()) {
        true => Ok(text.to_owned()),
        false => Err(format!("{text:?} is not an E.164 number (up to 15 digits, optionally after '+')")),
    }
}

/// Checks one entry; every problem is listed.
fn checked(entry: &ProvisionEntry) -> Result<NewProvisioned, Vec<String>> {
    let mut problems = Vec::new();
    let present =
        |v: &Option<String>| v.as_deref().map(str::trim).filter(|v| !v.is_empty()).map(str::to_owned);
    let mac = present(&entry.mac).and_then(|text| match normalize_mac(&text) {
        Some(mac) => Some(mac),
        None => {
            problems.push(format!("{text:?} is not a MAC address"));
            None
        }
    });
    let e164 = present(&entry.e164).and_then(|text| check_e164(&text).map_err(|why| problems.push(why)).ok());
    if entry.mac.as_deref().is_none_or(|m| m.trim().is_empty())
        && entry.e164.as_deref().is_none_or(|n| n.trim().is_empty())
    {
        problems.push("a MAC or an E.164 number is needed to recognise the phone".into());
    }
    let group = present(&entry.group).and_then(|name| match check_group_name(&name) {
        Ok(name) => Some(name.to_owned()),
        Err(why) => {
            problems.push(why);
            None
        }
    });
    let other_groups = match (&group, entry.other_groups.as_slice()) {
        (_, []) => Vec::new(),
        (None, _) => {
            problems.push("further groups need a first group".into());
            Vec::new()
        }
        (Some(first), others) => {
            let checked = super::check_groups(first, others);
            checked.unwrap_or_else(|why| {
                problems.push(why);
                Vec::new()
            })
        }
    };
    let mut variables = Vec::with_capacity(entry.variables.len() + entry.secret_variables.len());
    let plain = entry.variables.iter().map(|(name, value)| (name, value, false));
    for (name, value, secret) in plain.chain(entry.secret_variables.iter().map(|(n, v)| (n, v, true))) {
        // The reason never quotes the value: it may be secret.
        match super::templates::check_variable(name, value) {
            Err(why) => problems.push(format!("variable {name}: {why}")),
            Ok(()) if secret && entry.variables.contains_key(name) => {
                problems.push(format!("variable {name} is given as secret and as plain"))
            }
            Ok(()) => variables.push(Variable {
                scope: Scope::Global,
                name: name.clone(),
                value: value.clone(),
                secret,
            }),
        }
    }
    match problems.is_empty() {
        true => Ok(NewProvisioned { mac, e164, group, other_groups, variables }),
        false => Err(problems),
    }
}

/// Refusals of entries that name the same MAC or number as an earlier one of the request.
fn duplicates(devices: &[NewProvisioned]) -> Vec<ProvisionRefusal> {
    let mut seen = std::collections::HashMap::new();
    let mut refused = Vec::new();
    for (index, device) in devices.iter().enumerate() {
        let keys = [
            device.mac.as_ref().map(|m| format!("MAC {m}")),
            device.e164.as_ref().map(|n| format!("E.164 {n}")),
        ];
        for key in keys.into_iter().flatten() {
            if let Some(first) = seen.insert(key.clone(), index) {
                let reason = format!("{key} is given twice");
                refused.push(ProvisionRefusal { index, reason, same_as: Some(first) });
            }
        }
    }
    refused
}

pub(super) async fn add<S: ProvisioningStore>(
    State(state): State<Arc<AdminState<S>>>,
    ApiJson(request): ApiJson<ProvisionRequest>,
) -> Answer {
    if request.devices.is_empty() {
        return Err(failure(StatusCode::BAD_REQUEST, "no devices given"));
    }
    if request.devices.len() > MAX_PROVISION_BATCH {
        let why = format!("at most {MAX_PROVISION_BATCH} devices in one request");
        return Err(failure(StatusCode::PAYLOAD_TOO_LARGE, why));
    }
    let (mut devices, mut refused) = (Vec::with_capacity(request.devices.len()), Vec::new());
    for (index, entry) in request.devices.iter().enumerate() {
        match checked(entry) {
            Ok(device) => devices.push((index, device)),
            Err(problems) => refused.extend(problems.into_iter().map(|reason| ProvisionRefusal {
                index,
                reason,
                same_as: None,
            })),
        }
    }
    let positions: Vec<usize> = devices.iter().map(|(index, _)| *index).collect();
    let devices: Vec<NewProvisioned> = devices.into_iter().map(|(_, device)| device).collect();
    refused.extend(duplicates(&devices).into_iter().map(|r| ProvisionRefusal {
        index: positions[r.index],
        same_as: r.same_as.map(|first| positions[first]),
        ..r
    }));
    let accepted = request.devices.len()
        - refused.iter().map(|r| r.index).collect::<std::collections::BTreeSet<_>>().len();
    if !refused.is_empty() {
        refused.sort_by_key(|r| r.index);
        let result = ProvisionResult { applied: false, ids: Vec::new(), accepted, refused };
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, Json(result)).into_response());
    }
    // Every entry passed the checks above: from here on, indexes are the request's own. The
    // store's checks (known MACs, prepared already) run in a transaction a dry run rolls back.
    let stored = match request.dry_run {
        true => match state.store.check_provisioned(&devices).await? {
            refusals if refusals.is_empty() => Ok(Vec::new()),
            refusals => Err(refusals),
        },
        false => state.store.add_provisioned(&devices, unix_now()).await?,
    };
    match stored {
        Ok(ids) => {
            if !request.dry_run {
                tracing::info!(devices = ids.len(), "devices prepared");
            }
            let result = ProvisionResult {
                applied: !request.dry_run,
                ids,
                accepted: devices.len(),
                refused: Vec::new(),
            };
            Ok(Json(result).into_response())
        }
        Err(refusals) => {
            let accepted = devices.len() - refusals.len();
            let refused = refusals
                .into_iter()
                .map(|r| ProvisionRefusal { index: r.index, reason: r.reason, same_as: None })
                .collect();
            let result = ProvisionResult { applied: false, ids: Vec::new(), accepted, refused };
            Ok((StatusCode::UNPROCESSABLE_ENTITY, Json(result)).into_response())
        }
    }
}

pub(super) async fn list<S: ProvisioningStore>(State(state): State<Arc<AdminState<S>>>) -> Answer {
    let devices: Vec<crate::api::ProvisionedView> =
        state.store.provisioned_devices().await?.into_iter().map(provisioned_view).collect();
    Ok(Json(devices).into_response())
}

pub(super) async fn remove<S: ProvisioningStore>(
    State(state): State<Arc<AdminState<S>>>,
    Path(id): Path<i64>,
) -> Answer {
    match state.store.remove_provisioned(id).await? {
        true => {
            tracing::info!(id, "prepared device removed");
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        false => Err(failure(StatusCode::NOT_FOUND, format!("no provisioned device {id}"))),
    }
}

pub(super) async fn approve<S: ProvisioningStore>(
    State(state): State<Arc<AdminState<S>>>,
    ApiJson(request): ApiJson<ApprovalRequest>,
) -> Answer {
    let macs = request
        .macs
        .iter()
        .map(|text| {
            normalize_mac(text)
                .ok_or_else(|| failure(StatusCode::BAD_REQUEST, format!("{text:?} is not a MAC address")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let approved = match (request.all_pending, macs.is_empty()) {
        (true, true) => state.store.approve(None).await?,
        (false, false) => state.store.approve(Some(&macs)).await?,
        _ => {
            return Err(failure(
                StatusCode::BAD_REQUEST,
                "name devices by MAC, or all_pending, not both or neither",
            ));
        }
    };
    let not_waiting: Vec<String> = macs.into_iter().filter(|m| !approved.contains(m)).collect();
    if approved.is_empty() && !not_waiting.is_empty() {
        let why =
            format!("not waiting for approval (unknown, or approved already): {}", not_waiting.join(", "));
        return Err(failure(StatusCode::NOT_FOUND, why));
    }
    tracing::info!(approved = approved.len(), "devices approved");
    Ok(Json(ApprovalResult { approved, not_waiting }).into_response())
}

/// A prepared device as the API shows it.
fn provisioned_view(device: opendls_store::ProvisionedView) -> crate::api::ProvisionedView {
    let opendls_store::ProvisionedView {
        id,
        mac,
        e164,
        group,
        other_groups,
        variables,
        values,
        created_at,
        bound,
        conflict,
    } = device;
    crate::api::ProvisionedView {
        id,
        mac,
        e164,
        group,
        other_groups,
        variables,
        values,
        created_at,
        bound,
        conflict,
    }
}
