//! The device list (filters and pages, fast at 100,000 devices: the store filters and counts)
//! and a device's page.

use std::sync::Arc;

use axum::Extension;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use opendls_store::Store;
use serde::Deserialize;

use super::super::fleet::{DeviceQuery, find_devices};
use super::super::{AdminState, DevicePageQuery, load_device_view};
use super::{Viewer, error_page, layout, when};
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
    let view = match load_device_view(&*state.store, &mac, DevicePageQuery::default()).await {
        Ok(view) => view,
        Err(rejection) => return error_page(rejection.0, &rejection.1),
    };
    let device = &view.device;
    let groups: Vec<&str> = device.group.iter().chain(&device.other_groups).map(String::as_str).collect();
    let body = html! {
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
    layout(&format!("Device {}", device.mac), Some(&viewer), "devices", body).into_response()
}

/// `name` or `name[index]`.
fn item_label(name: &str, index: Option<u32>) -> String {
    match index {
        Some(index) => format!("{name}[{index}]"),
        None => name.to_owned(),
    }
}
