//! A job's page: its targets, their state and why each unfinished one waits; the page reloads
//! itself every 2 seconds until the job is finished (live progress without JavaScript).

use std::sync::Arc;

use axum::Extension;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use maud::html;
use opendls_engine::{JobId, TargetState};
use opendls_store::Store;

use super::super::AdminState;
use super::{Viewer, error_page, layout_refreshed, when};
use crate::api::{JobRequest, Targets};

/// Seconds between reloads of an unfinished job's page.
const REFRESH_SECS: u32 = 2;

/// The request that sends a device its desired values now (contact-me, then the phone's
/// interaction writes what differs).
pub(super) fn apply_configuration(mac: &str) -> JobRequest {
    JobRequest::new("apply-configuration", Targets::Devices { macs: vec![mac.to_owned()] })
}

pub(super) async fn show<S: Store>(
    State(state): State<Arc<AdminState<S>>>,
    Extension(viewer): Extension<Viewer>,
    Path(id): Path<JobId>,
) -> Response {
    let job = match super::super::jobs::load_job(&state, id).await {
        Ok(job) => job,
        Err(rejection) => return error_page(rejection.0, &rejection.1),
    };
    let summary = &job.summary;
    let finished = summary.counts.is_finished();
    let body = html! {
        dl.facts {
            dt { "Kind" } dd { (summary.kind.name()) }
            dt { "Created" } dd { (when(summary.created_at)) }
            dt { "Gives up" } dd { (when(summary.give_up_at)) }
            dt { "Progress" } dd {
                @if finished { strong { "finished" } } @else { "in progress (this page reloads every " (REFRESH_SECS) " s)" }
                " — "
                @for state in TargetState::ALL {
                    @let count = summary.counts.count(state);
                    @if count > 0 { (state) ": " (count) " " }
                }
            }
        }
        h2 { "Targets (" (summary.counts.total()) ")" }
        div.scroll { table {
            tr { th { "Device" } th { "State" } th { "Phase" } th { "Updated" } th { "Detail" } th { "Waiting for" } }
            @for target in &job.targets {
                tr {
                    td { a href=(format!("/console/devices/{}", target.mac)) { (target.mac) } }
                    td.state { (target.state) }
                    td { (target.phase.map(|p| p.as_str()).unwrap_or("")) }
                    td { (when(target.updated_at)) }
                    td.wrap { (target.detail) }
                    td.wrap {
                        @if let Some(waiting) = &target.waiting {
                            (waiting.why)
                            @if let Some(until) = waiting.until { " (until " (when(until)) ")" }
                        }
                    }
                }
            }
        } }
    };
    let refresh = (!finished).then_some(REFRESH_SECS);
    layout_refreshed(&format!("Job {id}"), Some(&viewer), "", body, refresh).into_response()
}
