//! The audit log (admins): filtered, a page at a time, with a CSV export.

use std::sync::Arc;

use axum::Extension;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::html;
use opendls_store::{AuditFilter, Store};
use serde::Deserialize;

use super::super::AdminState;
use super::{Viewer, admins_only, error_page, layout, when};
use crate::admin::encode_query;

/// Entries per page.
const PAGE: u32 = 100;

#[derive(Deserialize, Default)]
pub(super) struct AuditQuery {
    #[serde(default)]
    actor: String,
    #[serde(default)]
    text: String,
    /// Entries older than this one (the next page).
    before: Option<i64>,
}

pub(super) async fn page<S: Store>(
    State(state): State<Arc<AdminState<S>>>,
    Extension(viewer): Extension<Viewer>,
    Query(query): Query<AuditQuery>,
) -> Response {
    if let Some(refused) = admins_only(&viewer) {
        return refused;
    }
    let given = |text: &str| (!text.trim().is_empty()).then(|| text.trim().to_owned());
    let filter = AuditFilter {
        actor: given(&query.actor),
        text: given(&query.text),
        before_id: query.before,
        limit: Some(PAGE),
        ..AuditFilter::default()
    };
    let entries = match state.store.audit(filter).await {
        Ok(entries) => entries,
        Err(error) => {
            return error_page(StatusCode::INTERNAL_SERVER_ERROR, &format!("storage error: {error}"));
        }
    };
    let filters =
        format!("actor={}&text={}", encode_query(query.actor.trim()), encode_query(query.text.trim()));
    let body = html! {
        form.filters method="get" action="/console/audit" {
            label { "Who" input name="actor" value=(query.actor) placeholder="ada, break-glass"; }
            label { "Route or target contains" input name="text" value=(query.text) placeholder="/api/config, a MAC"; }
            button type="submit" { "Filter" }
            a href=(format!("/api/audit?format=csv&limit=10000&{filters}")) download { "Export CSV" }
        }
        @if entries.is_empty() { p.muted { "No change recorded." } }
        div.scroll { table {
            tr { th { "When" } th { "Who" } th { "Via" } th { "From" } th { "Status" } th { "What" } th { "Target" } th { "Before" } th { "After" } }
            @for entry in &entries {
                @let e = &entry.entry;
                tr {
                    td { (when(e.at)) }
                    td { (e.actor) }
                    td { (e.via) }
                    td { (e.source) }
                    td { (e.status) }
                    td { (e.action) }
                    td.wrap { (e.target) }
                    td.wrap { (e.before.as_ref().map(ToString::to_string).unwrap_or_default()) }
                    td.wrap { (e.after.as_ref().map(ToString::to_string).unwrap_or_default()) }
                }
            }
        } }
        @if let Some(oldest) = entries.last().filter(|_| entries.len() == PAGE as usize) {
            nav.pager { a href=(format!("/console/audit?{filters}&before={}", oldest.id)) rel="next" { "older →" } }
        }
    };
    layout("Audit log", Some(&viewer), "audit", body).into_response()
}
