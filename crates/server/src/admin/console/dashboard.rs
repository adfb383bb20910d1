//! The dashboard: the fleet by model, firmware and Secure Mode state, phones seen lately, jobs
//! by state, certificates.

use std::sync::Arc;

use axum::Extension;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use opendls_store::{Store, stats::Labelled};

use super::super::AdminState;
use super::{Viewer, error_page, layout};

/// A count per label, largest first, as a table with a bar (readable without CSS).
fn breakdown(title: &str, rows: &[Labelled], total: u64, link: Option<&str>) -> Markup {
    let mut rows = rows.to_vec();
    rows.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.label.cmp(&b.label)));
    html! {
        section.card {
            h2 { (title) }
            @if rows.is_empty() { p.muted { "none yet" } }
            @else {
                table {
                    @for row in &rows {
                        @let label = if row.label.is_empty() { "(not reported)" } else { row.label.as_str() };
                        tr {
                            td.wrap {
                                @match link {
                                    Some(filter) if !matches!(row.label.as_str(), "" | "unknown" | "other") => {
                                        a href=(format!("/console/devices?{filter}={}", crate::admin::encode_query(&row.label))) { (label) }
                                    }
                                    _ => { (label) }
                                }
                            }
                            td { (row.count) }
                            td { meter min="0" max=(total.max(1)) value=(row.count) { (row.count) } }
                        }
                    }
                }
            }
        }
    }
}

pub(super) async fn page<S: Store>(
    State(state): State<Arc<AdminState<S>>>,
    Extension(viewer): Extension<Viewer>,
) -> Response {
    let now = crate::phone::unix_now();
    let stats = match state.store.fleet_stats(now).await {
        Ok(stats) => stats,
        Err(error) => {
            return error_page(StatusCode::INTERNAL_SERVER_ERROR, &format!("storage error: {error}"));
        }
    };
    let running: u64 = stats
        .jobs
        .iter()
        .filter(|j| matches!(j.state.as_str(), "queued" | "contacting" | "running" | "waiting-busy"))
        .map(|j| j.count)
        .sum();
    let body = html! {
        div.cards {
            div.card { div.figure { (stats.devices) } div.muted { "devices" } }
            div.card { div.figure { (stats.seen_last_hour) } div.muted { "seen in the last hour" } }
            div.card { div.figure { (stats.seen_last_day) } div.muted { "seen in the last day" } }
            div.card { div.figure { (running) } div.muted { "job targets in progress" } }
            div.card { div.figure { (stats.certificates_expiring) } div.muted { "certificates expiring within 30 days" } }
        }
        div.cards {
            (breakdown("By model", &stats.by_model, stats.devices, Some("model")))
            (breakdown("By firmware", &stats.by_firmware, stats.devices, Some("firmware")))
            (breakdown("By Secure Mode state", &stats.by_security_state, stats.devices, Some("state")))
        }
        @if !stats.jobs.is_empty() {
            h2 { "Job targets" }
            div.scroll {
                table {
                    tr { th { "Kind" } th { "State" } th { "Targets" } }
                    @for job in &stats.jobs { tr { td { (job.kind) } td { (job.state) } td { (job.count) } } }
                }
            }
        }
    };
    layout("Dashboard", Some(&viewer), "dashboard", body).into_response()
}
