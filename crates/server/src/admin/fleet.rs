//! Browsing and cleaning up the fleet: device listings by filter and page, groups, policies,
//! removing a device or a group.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::IntoResponse;
use opendls_engine::plural;
use opendls_store::{AdminStore, DeviceFilter, FleetStore, PhoneStore};
use serde::Deserialize;

use super::{AdminState, Answer, failure, parse_group, parse_mac};
use crate::api::{DeviceListEntry, GroupSummary, GroupView, PolicyView, RemovalView};
use crate::phone::unix_now;

/// The most devices one listing answers with.
pub const MAX_DEVICE_PAGE: u32 = 10_000;
/// Devices in a listing when the request does not say.
pub const DEFAULT_DEVICE_PAGE: u32 = 1_000;
/// The header carrying how many devices match in all.
pub const TOTAL_HEADER: &str = "x-total-count";

/// `GET /api/devices` query: a [`DeviceFilter`] and a page.
#[derive(Deserialize, Default)]
pub(super) struct DeviceQuery {
    // Not a flattened DeviceFilter: numbers inside a flattened query string do not parse.
    pub(super) model: Option<String>,
    pub(super) firmware: Option<String>,
    pub(super) group: Option<String>,
    pub(super) state: Option<String>,
    pub(super) approval: Option<String>,
    pub(super) seen_since: Option<i64>,
    pub(super) offset: Option<u32>,
    pub(super) limit: Option<u32>,
}

pub(super) async fn list_devices<S: FleetStore>(
    State(state): State<Arc<AdminState<S>>>,
    Query(query): Query<DeviceQuery>,
) -> Answer {
    let page = find_devices(&*state.store, query).await?;
    let total = page.total;
    let devices: Vec<DeviceListEntry> = page.devices.into_iter().map(summary_entry).collect();
    let mut response = Json(devices).into_response();
    response.headers_mut().insert(TOTAL_HEADER, HeaderValue::from(total));
    Ok(response)
}

/// One page of the devices a query selects, checked as the API checks it (the console's device
/// list asks this too).
pub(super) async fn find_devices<S: FleetStore>(
    store: &S,
    query: DeviceQuery,
) -> Result<opendls_store::DevicePage, super::Rejection> {
    let group = match query.group.as_deref() {
        Some("-") | None => query.group.clone(),
        Some(group) => Some(parse_group(group)?),
    };
    if let Some(approval) = &query.approval {
        approval.parse::<opendls_engine::Approval>().map_err(|why| failure(StatusCode::BAD_REQUEST, why))?;
    }
    let filter = DeviceFilter {
        // `--model CP210` finds `OpenScape Desk Phone CP210`, as job targets do.
        model: query.model.as_deref().map(opendls_wpi::models::full_model_pattern),
        firmware: query.firmware,
        group,
        state: query.state,
        approval: query.approval,
        seen_since: query.seen_since,
    };
    let limit = query.limit.unwrap_or(DEFAULT_DEVICE_PAGE).min(MAX_DEVICE_PAGE);
    Ok(store.find_devices(&filter, query.offset.unwrap_or(0), limit).await?)
}

pub(super) async fn remove_device<S: FleetStore + PhoneStore>(
    State(state): State<Arc<AdminState<S>>>,
    Path(mac): Path<String>,
) -> Answer {
    let mac = parse_mac(&mac)?;
    let context = PhoneStore::device_context(&*state.store, &mac).await?;
    let secure = context.security.state.as_str();
    if context.device.is_some() && secure != "default" {
        // Forgetting a device with certificates would leave them valid and unaccounted for.
        return Err(failure(
            StatusCode::CONFLICT,
            format!("{mac} is in Secure Mode ({secure}): reset it first (opendls security reset {mac})"),
        ));
    }
    let removal = state.store.remove_device(&mac, unix_now()).await?;
    if !removal.found {
        return Err(failure(StatusCode::NOT_FOUND, format!("no device {mac}")));
    }
    tracing::info!(
        mac,
        cancelled = removal.targets_cancelled,
        values = removal.values_removed,
        "device removed"
    );
    Ok(Json(removal_view(removal)).into_response())
}

pub(super) async fn list_groups<S: FleetStore>(State(state): State<Arc<AdminState<S>>>) -> Answer {
    let groups: Vec<GroupSummary> = state.store.groups().await?.into_iter().map(group_summary).collect();
    Ok(Json(groups).into_response())
}

pub(super) async fn show_group<S: FleetStore + AdminStore>(
    State(state): State<Arc<AdminState<S>>>,
    Path(name): Path<String>,
) -> Answer {
    let name = parse_group(&name)?;
    let Some(summary) = state.store.groups().await?.into_iter().find(|g| g.name == name) else {
        return Err(failure(StatusCode::NOT_FOUND, format!("no group {name}")));
    };
    let filter = DeviceFilter { group: Some(name.clone()), ..DeviceFilter::default() };
    let page = state.store.find_devices(&filter, 0, MAX_DEVICE_PAGE).await?;
    let scope = opendls_engine::Scope::Group(name);
    let values = state.store.desired(Some(&scope)).await?;
    let values = values.into_iter().map(super::config::masked_entry).collect();
    let devices = page.devices.into_iter().map(summary_entry).collect();
    Ok(Json(GroupView { summary: group_summary(summary), devices, values }).into_response())
}

#[derive(Deserialize)]
pub(super) struct RemoveGroupQuery {
    #[serde(default)]
    force: bool,
}

pub(super) async fn remove_group<S: FleetStore>(
    State(state): State<Arc<AdminState<S>>>,
    Path(name): Path<String>,
    Query(query): Query<RemoveGroupQuery>,
) -> Answer {
    let name = parse_group(&name)?;
    let Some(summary) = state.store.groups().await?.into_iter().find(|g| g.name == name) else {
        return Err(failure(StatusCode::NOT_FOUND, format!("no group {name}")));
    };
    if summary.devices > 0 && !query.force {
        let devices = plural(summary.devices as usize, "device");
        return Err(failure(
            StatusCode::CONFLICT,
            format!(
                "group {name} still has {devices}: move them first, or force (--force) to take them out of it"
            ),
        ));
    }
    let removal = state.store.remove_group(&name).await?;
    tracing::info!(
        group = name,
        ungrouped = removal.devices_ungrouped,
        values = removal.values_removed,
        "group removed"
    );
    Ok((StatusCode::OK, Json(removal_view(removal))).into_response())
}

pub(super) async fn list_policies<S: FleetStore>(State(state): State<Arc<AdminState<S>>>) -> Answer {
    let policies: Vec<PolicyView> = state
        .store
        .policies()
        .await?
        .into_iter()
        .map(|entry| PolicyView { group: entry.group, policy: entry.policy })
        .collect();
    Ok(Json(policies).into_response())
}

/// A device of a listing as the API shows it.
pub(super) fn summary_entry(device: opendls_store::DeviceSummary) -> DeviceListEntry {
    DeviceListEntry {
        mac: device.mac,
        e164: device.e164,
        device_type: device.device_type,
        software_version: device.software_version,
        group: device.group,
        other_groups: device.other_groups,
        last_contact: device.last_contact,
        last_reason: device.last_reason,
        remote_addr: device.remote_addr,
        security_state: Some(device.security_state),
        tls_offer: device.tls_offer,
        approval: Some(device.approval),
    }
}

/// A group as the API shows it.
fn group_summary(group: opendls_store::GroupSummary) -> GroupSummary {
    let opendls_store::GroupSummary { name, devices, values, policy, security_mode, has_pin } = group;
    GroupSummary { name, devices, values, policy, security_mode, has_pin }
}

/// What a removal did, as the API shows it.
fn removal_view(removal: opendls_store::Removal) -> RemovalView {
    let opendls_store::Removal { found, devices_ungrouped, values_removed, targets_cancelled } = removal;
    RemovalView { found, devices_ungrouped, values_removed, targets_cancelled }
}
