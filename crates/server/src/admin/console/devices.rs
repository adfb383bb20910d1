//! The device list (filters and pages, fast at 100,000 devices: the store filters and counts)
//! and a device's page.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use maud::{Markup, html};
use opendls_engine::{DesiredEntry, ItemKey, Role, Scope};
use opendls_store::Store;
use serde::Deserialize;

use super::super::access::{AuditDetail, RemoteAddr, record_change_with};

use super::super::fleet::{DeviceQuery, find_devices};
use super::super::{AdminState, DevicePageQuery, load_device_view};
use super::{Viewer, error_page, layout, operators_only, source, when};
use crate::admin::encode_query;

/// Devices per page.
const PAGE: u32 = 100;

/// The list's filters as the form sends them (an empty field is no filter).
#[derive(Deserialize, Default, Clone)]
pub(super) struct ListQuery {
    #[serde(default)]
    model: String,
    #[serde(default)]
    firmware: String,
    #[serde(default)]
    group: String,
    #[serde(default)]
    state: String,
    /// Seen within this many hours.
    #[serde(default)]
    seen: String,
    #[serde(default)]
    offset: u32,
}

impl ListQuery {
    fn given(text: &str) -> Option<String> {
        let text = text.trim();
        (!text.is_empty()).then(|| text.to_owned())
    }

    /// The query string of this filter at `offset`.
    fn link(&self, offset: u32) -> String {
        let fields = [
            ("model", &self.model),
            ("firmware", &self.firmware),
            ("group", &self.group),
            ("state", &self.state),
            ("seen", &self.seen),
        ];
        let mut query: Vec<String> = fields
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| format!("{k}={}", encode_query(v)))
            .collect();
        query.push(format!("offset={offset}"));
        format!("/console/devices?{}", query.join("&"))
    }
}

/// The choices of "last contact".
const SEEN_CHOICES: [(&str, &str); 5] =
    [("", "any time"), ("1", "last hour"), ("24", "last day"), ("168", "last week"), ("720", "last 30 days")];
/// The Secure Mode states a phone can be in.
const STATES: [&str; 6] = ["", "default", "bootstrapping", "awaiting-tan", "secure", "locked"];

fn filters(query: &ListQuery) -> Markup {
    html! {
        form.filters method="get" action="/console/devices" {
            label { "Model" input name="model" value=(query.model) placeholder="OpenStage 6*, CP410"; }
            label { "Firmware" input name="firmware" value=(query.firmware) placeholder="V3 R5*"; }
            label { "Group" input name="group" value=(query.group) placeholder="sales, - for none"; }
            label { "Secure Mode" select name="state" {
                @for state in STATES { option value=(state) selected[query.state == state] { (if state.is_empty() { "any" } else { state }) } }
            } }
            label { "Last contact" select name="seen" {
                @for (hours, label) in SEEN_CHOICES { option value=(hours) selected[query.seen == hours] { (label) } }
            } }
            button type="submit" { "Filter" }
        }
    }
}

pub(super) async fn list<S: Store>(
    State(state): State<Arc<AdminState<S>>>,
    Extension(viewer): Extension<Viewer>,
    Query(query): Query<ListQuery>,
) -> Response {
    let now = crate::phone::unix_now();
    let seen_since = query.seen.trim().parse::<i64>().ok().map(|hours| now - hours * 3600);
    let asked = DeviceQuery {
        model: ListQuery::given(&query.model),
        firmware: ListQuery::given(&query.firmware),
        group: ListQuery::given(&query.group),
        state: ListQuery::given(&query.state),
        approval: None,
        seen_since,
        offset: Some(query.offset),
        limit: Some(PAGE),
    };
    let found = match find_devices(&*state.store, asked).await {
        Ok(found) => found,
        Err(rejection) => {
            let body = html! { (filters(&query)) p.error role="alert" { (rejection.1) } };
            return (rejection.0, layout("Devices", Some(&viewer), "devices", body)).into_response();
        }
    };
    let (first, last) = (query.offset + 1, query.offset + found.devices.len() as u32);
    let body = html! {
        (filters(&query))
        p.muted { @if found.total == 0 { "No device matches." } @else { "Devices " (first) "–" (last) " of " (found.total) } }
        div.scroll {
            table {
                tr { th { "MAC" } th { "Number" } th { "Model" } th { "Firmware" } th { "Groups" } th { "Last contact" } th { "Secure Mode" } }
                @for device in &found.devices {
                    @let groups: Vec<&str> = device.group.iter().chain(&device.other_groups).map(String::as_str).collect();
                    tr {
                        td { a href=(format!("/console/devices/{}", device.mac)) { (device.mac) } }
                        td { (device.e164.as_deref().unwrap_or("")) }
                        td { (device.device_type.as_deref().unwrap_or("")) }
                        td { (device.software_version.as_deref().unwrap_or("")) }
                        td { (groups.join(", ")) }
                        td { (when(device.last_contact)) " " span.muted { (device.last_reason) } }
                        td { (device.security_state) }
                    }
                }
            }
        }
        nav.pager aria-label="pages" {
            @if query.offset > 0 { a href=(query.link(query.offset.saturating_sub(PAGE))) rel="prev" { "← previous" } }
            @if u64::from(last) < found.total { a href=(query.link(last)) rel="next" { "next →" } }
        }
    };
    layout("Devices", Some(&viewer), "devices", body).into_response()
}

pub(super) async fn show<S: Store>(
    State(state): State<Arc<AdminState<S>>>,
    Extension(viewer): Extension<Viewer>,
    Path(mac): Path<String>,
) -> Response {
    device_page(&state, &viewer, &mac, None).await
}

/// A device's page, with a refusal of the last change at the top.
async fn device_page<S: Store>(
    state: &AdminState<S>,
    viewer: &Viewer,
    mac: &str,
    problem: Option<(StatusCode, String)>,
) -> Response {
    let view = match load_device_view(&*state.store, mac, DevicePageQuery::default()).await {
        Ok(view) => view,
        Err(rejection) => return error_page(rejection.0, &rejection.1),
    };
    let device = &view.device;
    let groups: Vec<&str> = device.group.iter().chain(&device.other_groups).map(String::as_str).collect();
    let body = html! {
        @if let Some((_, problem)) = &problem { p.error role="alert" { (problem) } }
        dl.facts {
            dt { "Number" } dd { (device.e164.as_deref().unwrap_or("—")) }
            dt { "Model" } dd { (device.device_type.as_deref().unwrap_or("—")) }
            dt { "Firmware" } dd { (device.software_version.as_deref().unwrap_or("—")) }
            dt { "Groups" } dd { @if groups.is_empty() { "none" } @else { (groups.join(", ")) } }
            dt { "Last contact" } dd { (when(device.last_contact)) " (" (device.last_reason) ") from " (device.remote_addr.as_deref().unwrap_or("?")) }
            dt { "First seen" } dd { (when(view.first_seen)) }
            dt { "Secure Mode" } dd { (view.security_state.as_deref().unwrap_or("default")) }
            dt { "TLS" } dd { (view.tls_offer.as_deref().unwrap_or("—")) }
            dt { "Approval" } dd { (device.approval.as_deref().unwrap_or("approved")) }
        }
        @if viewer.principal.role.allows(Role::Operator) {
            h2 { "Set a value on this device" }
            form.filters method="post" action=(format!("/console/devices/{}/config", device.mac)) {
                input type="hidden" name="csrf" value=(viewer.csrf);
                label { "Item" input name="name" required placeholder="transaction-timer"; }
                label { "Index" input name="index" inputmode="numeric" size="4" placeholder="(none)"; }
                label { "Value" input name="value" required; }
                label { span { input type="checkbox" name="push" value="on" checked; " send it now (job)" } }
                button type="submit" { "Set" }
            }
        }
        h2 { "Values not yet on the phone (" (view.pending.len()) ")" }
        @if view.pending.is_empty() { p.muted { "The phone has every desired value." } }
        @else {
            div.scroll { table {
                tr { th { "Item" } th { "Desired" } th { "Reported" } th { "From" } th { "Held back" } }
                @for change in &view.pending {
                    tr {
                        td { (item_label(&change.name, change.index)) }
                        td.wrap { (change.desired) }
                        td.wrap { (change.reported.as_deref().unwrap_or("—")) }
                        td { (change.scope) }
                        td.wrap { (change.held.as_deref().unwrap_or("")) }
                    }
                }
            } }
        }
        h2 { "History" }
        div.scroll { table {
            tr { th { "When" } th { "What" } th { "Why" } th { "Item" } th { "Before" } th { "After" } th { "Detail" } }
            @for event in &view.history {
                tr {
                    td { (when(event.at)) }
                    td { (event.kind) }
                    td { (event.reason) }
                    td { (event.item.as_deref().unwrap_or("")) }
                    td.wrap { (event.old_value.as_deref().unwrap_or("")) }
                    td.wrap { (event.new_value.as_deref().unwrap_or("")) }
                    td.wrap { (event.detail) }
                }
            }
        } }
        h2 { "Reported items (" (view.reported_total) ")" }
        div.scroll { table {
            tr { th { "Item" } th { "Value" } th { "Status" } }
            @for item in &view.reported {
                tr { td { (item_label(&item.name, item.index)) } td.wrap { (item.value) } td { (item.status.as_deref().unwrap_or("")) } }
            }
        } }
    };
    let mut response =
        layout(&format!("Device {}", device.mac), Some(viewer), "devices", body).into_response();
    if let Some((status, _)) = problem {
        *response.status_mut() = status;
    }
    response
}

/// A value to set from a device's page.
#[derive(Deserialize)]
pub(super) struct ValueForm {
    name: String,
    #[serde(default)]
    index: String,
    value: String,
    /// `on` when the value is to be sent now, by a job.
    push: Option<String>,
}

/// Sets a value at the device's scope through the API's own configuration path (the catalog
/// checks, templates, the audit log's before and after), and with `push` starts an
/// apply-configuration job for the device and shows its progress.
pub(super) async fn set_value<S: Store>(
    State(state): State<Arc<AdminState<S>>>,
    Extension(viewer): Extension<Viewer>,
    remote: Option<Extension<RemoteAddr>>,
    Path(mac): Path<String>,
    Form(form): Form<ValueForm>,
) -> Response {
    if let Some(refused) = operators_only(&viewer) {
        return refused;
    }
    let mac = match super::super::parse_mac(&mac) {
        Ok(mac) => mac,
        Err(rejection) => return error_page(rejection.0, &rejection.1),
    };
    let index = match form.index.trim() {
        "" => None,
        text => match text.parse::<u32>() {
            Ok(index) => Some(index),
            Err(_) => {
                let problem = format!("the index {text:?} is not a number");
                return device_page(&state, &viewer, &mac, Some((StatusCode::UNPROCESSABLE_ENTITY, problem)))
                    .await;
            }
        },
    };
    let entry = DesiredEntry {
        scope: Scope::Device(mac.clone()),
        key: ItemKey::new(form.name.trim(), index),
        value: form.value,
    };
    let action = format!("POST /console/devices/{mac}/config");
    let changed = super::super::config::change_configuration(&*state.store, vec![entry], false, false).await;
    let source = source(remote);
    let (status, detail) = match &changed {
        Ok(_) => (StatusCode::OK, None),
        Err(rejection) => (rejection.0, Some(rejection.1.clone())),
    };
    let values = changed.ok().map(|changed| changed.split().1.documents());
    let (before, after) = values.unwrap_or((None, None));
    let audit = AuditDetail { before, after };
    record_change_with(&state, &viewer.principal, source, (&action, &action[5..], status), audit).await;
    if let Some(problem) = detail {
        return device_page(&state, &viewer, &mac, Some((status, problem))).await;
    }
    if form.push.is_none() {
        return Redirect::to(&format!("/console/devices/{mac}")).into_response();
    }
    let job = super::jobs::apply_configuration(&mac);
    match super::super::jobs::start_job(&state, job).await {
        Ok(job) => {
            let target = format!("/console/jobs/{}", job.id);
            let pushed = ("POST /api/jobs", target.as_str(), StatusCode::CREATED);
            let after = serde_json::to_value(&job).ok();
            record_change_with(
                &state,
                &viewer.principal,
                source,
                pushed,
                AuditDetail { before: None, after },
            )
            .await;
            Redirect::to(&target).into_response()
        }
        Err(rejection) => device_page(&state, &viewer, &mac, Some((rejection.0, rejection.1))).await,
    }
}

/// `name` or `name[index]`.
fn item_label(name: &str, index: Option<u32>) -> String {
    match index {
        Some(index) => format!("{name}[{index}]"),
        None => name.to_owned(),
    }
}
