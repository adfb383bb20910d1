//! The audit log (`/api/audit`, admins only): filtered, newest first, as JSON or exported as CSV.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::IntoResponse;
use opendls_store::{AuditEntry, AuditFilter, AuditStore};
use serde::Deserialize;

use super::{AdminState, Answer};
use crate::api::AuditEntryView;

/// An entry as the API shows it.
fn entry_view(entry: AuditEntry) -> AuditEntryView {
    let AuditEntry { id, entry } = entry;
    AuditEntryView {
        id,
        at: entry.at,
        actor: entry.actor,
        via: entry.via,
        source: entry.source,
        action: entry.action,
        target: entry.target,
        status: entry.status,
        request: entry.request,
        before: entry.before,
        after: entry.after,
    }
}

/// The filter, spelled out (a flattened struct reads numbers in a query string as text).
#[derive(Deserialize)]
pub(super) struct AuditQuery {
    actor: Option<String>,
    text: Option<String>,
    /// Unix seconds.
    since: Option<i64>,
    /// Unix seconds.
    until: Option<i64>,
    /// Entries older than this one.
    before: Option<i64>,
    limit: Option<u32>,
    /// `json` (the default) or `csv`.
    #[serde(default)]
    format: Format,
}

#[derive(Deserialize, Default, Clone, Copy)]
#[serde(rename_all = "lowercase")]
enum Format {
    #[default]
    Json,
    Csv,
}

pub(super) async fn list<S: AuditStore>(
    State(state): State<Arc<AdminState<S>>>,
    Query(query): Query<AuditQuery>,
) -> Answer {
    let filter = AuditFilter {
        actor: query.actor,
        text: query.text,
        since: query.since,
        until: query.until,
        before_id: query.before,
        limit: query.limit,
    };
    let entries: Vec<AuditEntryView> = state.store.audit(filter).await?.into_iter().map(entry_view).collect();
    Ok(match query.format {
        Format::Json => Json(entries).into_response(),
        Format::Csv => (
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
                (header::CONTENT_DISPOSITION, "attachment; filename=\"opendls-audit.csv\""),
            ],
            csv(&entries),
        )
            .into_response(),
    })
}

/// The entries as CSV (RFC 4180): one row each, the documents as JSON text.
fn csv(entries: &[AuditEntryView]) -> String {
    let mut out = String::from("id,at,actor,via,source,action,target,status,request,before,after\r\n");
    let document =
        |value: &Option<serde_json::Value>| value.as_ref().map(|v| v.to_string()).unwrap_or_default();
    for entry in entries {
        let at = time::OffsetDateTime::from_unix_timestamp(entry.at)
            .ok()
            .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
            .unwrap_or_else(|| entry.at.to_string());
        let fields = [
            entry.id.to_string(),
            at,
            entry.actor.clone(),
            entry.via.clone(),
            entry.source.clone(),
            entry.action.clone(),
            entry.target.clone(),
            entry.status.to_string(),
            document(&entry.request),
            document(&entry.before),
            document(&entry.after),
        ];
        let quoted: Vec<String> = fields.iter().map(|field| csv_field(field)).collect();
        out.push_str(&quoted.join(","));
        out.push_str("\r\n");
    }
    out
}

/// A CSV field, quoted when it must be; a leading `=`, `+`, `-` or `@` is prefixed with `'` so a
/// spreadsheet does not run it as a formula (an actor or target is text someone typed).
fn csv_field(field: &str) -> String {
    let field = if field.starts_with(['=', '+', '-', '@']) { format!("'{field}") } else { field.to_owned() };
    if field.contains([',', '"', '\r', '\n']) { format!("\"{}\"", field.replace('"', "\"\"")) } else { field }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_and_formulas_defused() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("=HYPERLINK(1)"), "'=HYPERLINK(1)");
    }
}
