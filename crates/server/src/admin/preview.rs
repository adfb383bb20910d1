//! `GET /api/config/diff`: what each selected device would be sent at its next contact, and
//! the per-device changes of a configuration change. Both are computed by the engine's
//! [`opendls_engine::preview`], whose rules the phone endpoint applies when it writes.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use opendls_engine::preview::{Hold, NextWrite, ValueChange, Wanted, next_writes};
use opendls_engine::{Configuration, DeviceFacts, ItemKey};
use opendls_store::{DeviceFilter, DeviceSummary, FleetStore, PhoneStore};
use opendls_wpi::secrets::displayable_value;
use serde::Deserialize;

use super::templates::shown_value;
use super::{AdminState, Answer, Rejection, failure, parse_group, parse_mac};
use crate::api::{ConfigDiff, DeviceChangeView, DeviceDiff, NextWriteView, ValueChangeView};

/// Devices listed in a diff unless asked for more.
const DEFAULT_DIFF_DEVICES: usize = 100;

/// Devices read per page while selecting a group or model.
const SELECTION_PAGE: u32 = 5_000;

#[derive(Deserialize)]
pub(super) struct DiffQuery {
    mac: Option<String>,
    group: Option<String>,
    model: Option<String>,
    /// Devices listed (default 100); every selected device is counted.
    limit: Option<usize>,
}

pub(super) async fn diff<S: PhoneStore + FleetStore>(
    State(state): State<Arc<AdminState<S>>>,
    Query(query): Query<DiffQuery>,
) -> Answer {
    let macs = selected(&*state.store, &query).await?;
    let limit = query.limit.unwrap_or(DEFAULT_DIFF_DEVICES);
    let mut diff = ConfigDiff {
        devices_checked: 0,
        devices_to_write: 0,
        writes_total: 0,
        held_total: 0,
        devices: Vec::new(),
        devices_more: false,
    };
    for mac in macs {
        // The context the phone endpoint reads for this device's next contact.
        let context = state.store.device_context(&mac).await?;
        let Some(device) = context.device else {
            return Err(failure(StatusCode::NOT_FOUND, format!("no device {mac}")));
        };
        let resolution =
            Configuration::new(context.desired, context.variables).resolve(&DeviceFacts::of(&device));
        let writes = next_writes(&device, &resolution, &context.failures);
        let sent = writes.iter().filter(|w| w.is_sent()).count();
        diff.devices_checked += 1;
        diff.devices_to_write += usize::from(sent > 0);
        diff.writes_total += sent;
        diff.held_total += writes.len() - sent;
        if writes.is_empty() {
            continue;
        }
        match diff.devices.len() < limit {
            true => diff.devices.push(DeviceDiff {
                mac: device.mac.clone(),
                model: device.device_type.clone(),
                writes: writes.iter().map(write_view).collect(),
            }),
            false => diff.devices_more = true,
        }
    }
    Ok(Json(diff).into_response())
}

/// The MACs a diff looks at: one device, or the devices of a group and/or model (all without).
async fn selected<S: FleetStore>(store: &S, query: &DiffQuery) -> Result<Vec<String>, Rejection> {
    if let Some(mac) = &query.mac {
        if query.group.is_some() || query.model.is_some() {
            return Err(failure(StatusCode::BAD_REQUEST, "give a MAC, or a group and/or a model, not both"));
        }
        return Ok(vec![parse_mac(mac)?]);
    }
    let filter = DeviceFilter {
        model: query.model.as_deref().map(opendls_wpi::models::full_model_pattern),
        group: query.group.as_deref().map(parse_group).transpose()?,
        ..DeviceFilter::default()
    };
    let mut macs = Vec::new();
    loop {
        let page = store.find_devices(&filter, macs.len() as u32, SELECTION_PAGE).await?;
        let done = page.devices.len() < SELECTION_PAGE as usize;
        macs.extend(page.devices.into_iter().map(|d: DeviceSummary| d.mac));
        if done {
            return Ok(macs);
        }
    }
}

pub(super) fn write_view(write: &NextWrite) -> NextWriteView {
    let key = &write.key;
    let (value, scope, template) = match &write.wanted {
        Wanted::Value(resolved) => (
            shown_value(key, resolved),
            resolved.scope.to_string(),
            resolved.template.as_deref().map(|t| masked(key, t)),
        ),
        Wanted::Unrenderable(problem) => {
            (masked(key, &problem.template), problem.scope.to_string(), Some(masked(key, &problem.template)))
        }
    };
    NextWriteView {
        name: key.name.clone(),
        index: key.index,
        reported: write.reported.as_deref().map(|v| masked(key, v)),
        value,
        scope,
        template,
        held: write.hold.as_ref().map(Hold::to_string),
    }
}

fn masked(key: &ItemKey, value: &str) -> String {
    displayable_value(&key.name, value).to_owned()
}

/// Devices whose changes a configuration change lists (every one is counted).
const MAX_CHANGES_LISTED: usize = 100;

/// What going from `before` to `after` changes for the known `devices`, looking only at `keys`
/// (`None`: every item): how many devices are touched, and the changes of the first 100.
pub(super) fn fleet_changes(
    before: &Configuration,
    after: &Configuration,
    keys: Option<&[ItemKey]>,
    devices: &[DeviceSummary],
) -> (usize, Vec<DeviceChangeView>) {
    let (mut affected, mut listed) = (0, Vec::new());
    for device in devices {
        let moved = opendls_engine::preview::changes(before, after, keys, &super::templates::facts(device));
        if moved.is_empty() {
            continue;
        }
        affected += 1;
        if listed.len() < MAX_CHANGES_LISTED {
            listed.push(change_view(&device.mac, &moved));
        }
    }
    (affected, listed)
}

/// One device's changes as a dry run shows them.
fn change_view(mac: &str, changes: &[ValueChange]) -> DeviceChangeView {
    let shown = |key: &ItemKey, wanted: &Option<Wanted>| match wanted {
        None => (None, None),
        Some(Wanted::Value(resolved)) => (Some(shown_value(key, resolved)), None),
        Some(Wanted::Unrenderable(problem)) => (
            Some(masked(key, &problem.template)),
            Some(Hold::CannotRender(problem.reason.clone()).to_string()),
        ),
    };
    let changes = changes
        .iter()
        .map(|change| {
            let (before, _) = shown(&change.key, &change.before);
            let (after, held) = shown(&change.key, &change.after);
            ValueChangeView { item: change.key.to_string(), before, after, held }
        })
        .collect();
    DeviceChangeView { mac: mac.to_owned(), changes }
}
