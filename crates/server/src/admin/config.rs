//! Configuration routes of the admin API: desired values at a scope, checked against the item
//! catalog and set all together or not at all.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use opendls_engine::template::{Template, is_template};
use opendls_engine::{Configuration, DesiredEntry, ItemKey};
use opendls_store::{AdminStore, VariableStore};
use opendls_wpi::Catalog;
use opendls_wpi::catalog::did_you_mean;
use opendls_wpi::secrets::displayable_value;
use serde::Deserialize;

use super::access::audited;
use super::body::ApiJson;
use super::{AdminState, Answer, Rejection, failure, parse_config_scope, scope_parts};
use crate::api::{
    ConfigChange, ConfigChangeResult, ConfigEntry, ConfigValue, ConfigValueResult, ConfigWrite,
};
use crate::phone::unix_now;

#[derive(Deserialize)]
pub(super) struct ScopeQuery {
    pub(super) scope: Option<String>,
    pub(super) target: Option<String>,
}

pub(super) async fn show_config<S: AdminStore>(
    State(state): State<Arc<AdminState<S>>>,
    Query(query): Query<ScopeQuery>,
) -> Answer {
    let scope = match &query.scope {
        Some(scope) => Some(parse_config_scope(scope, query.target.as_deref())?),
        None => None,
    };
    let entries = state.store.desired(scope.as_ref()).await?;
    let entries: Vec<ConfigEntry> = entries.into_iter().map(masked_entry).collect();
    Ok(Json(entries).into_response())
}

/// A desired value as the API shows it: secret values masked.
pub(super) fn masked_entry(entry: DesiredEntry) -> ConfigEntry {
    let (scope, target) = scope_parts(&entry.scope);
    ConfigEntry {
        scope,
        target,
        value: displayable_value(&entry.key.name, &entry.value).to_owned(),
        name: entry.key.name,
        index: entry.key.index,
    }
}

/// A single entry is a change of one value.
fn into_change(write: ConfigWrite) -> ConfigChange {
    match write {
        ConfigWrite::Change(change) => change,
        ConfigWrite::One(entry) => ConfigChange {
            scope: entry.scope,
            target: entry.target,
            values: vec![ConfigValue { name: entry.name, index: entry.index, value: entry.value }],
            allow_unknown: false,
            dry_run: false,
        },
    }
}

pub(super) async fn set_config<S: AdminStore + VariableStore>(
    State(state): State<Arc<AdminState<S>>>,
    ApiJson(body): ApiJson<ConfigWrite>,
) -> Answer {
    let change = into_change(body);
    let scope = parse_config_scope(&change.scope, change.target.as_deref())?;
    if change.values.is_empty() {
        return Err(failure(StatusCode::BAD_REQUEST, "no values given"));
    }
    let entries: Vec<DesiredEntry> = change
        .values
        .into_iter()
        .map(|value| DesiredEntry {
            scope: scope.clone(),
            key: ItemKey::new(value.name.trim(), value.index),
            value: value.value,
        })
        .collect();
    let changed = change_configuration(&*state.store, entries, change.allow_unknown, change.dry_run).await?;
    Ok(changed.answer())
}

/// A configuration change: what the API answers, and the values it replaced (for the audit
/// log).
pub(super) struct Changed {
    result: ConfigChangeResult,
    replaced: Vec<ConfigEntry>,
    set: Vec<ConfigEntry>,
}

impl Changed {
    /// The answer, with what was replaced and set for the audit log (secret values masked).
    pub(super) fn answer(self) -> axum::response::Response {
        let (result, audit) = self.split();
        audit.attach(Json(result).into_response())
    }

    /// What the API answers, and what the audit log keeps of it.
    pub(super) fn split(self) -> (ConfigChangeResult, ChangedValues) {
        let values = ChangedValues { applied: self.result.applied, replaced: self.replaced, set: self.set };
        (self.result, values)
    }
}

/// The values a configuration change replaced and set, for the audit log.
pub(super) struct ChangedValues {
    applied: bool,
    replaced: Vec<ConfigEntry>,
    set: Vec<ConfigEntry>,
}

impl ChangedValues {
    /// The values replaced and set, as the audit log keeps them (nothing for a dry run).
    pub(super) fn documents(self) -> (Option<serde_json::Value>, Option<serde_json::Value>) {
        if !self.applied {
            return (None, None);
        }
        (serde_json::to_value(self.replaced).ok(), serde_json::to_value(self.set).ok())
    }

    /// `response` with the values, when they were stored (a dry run changes nothing).
    pub(super) fn attach(self, response: axum::response::Response) -> axum::response::Response {
        if !self.applied {
            return response;
        }
        audited(response, serde_json::to_value(self.replaced).ok(), serde_json::to_value(self.set).ok())
    }
}

/// Checks `entries` against the catalog, works out what they change for every known device,
/// and stores them all unless `dry_run` (nothing is stored when one is refused): the one path
/// of every configuration change (`config set`, `layout apply`).
pub(super) async fn change_configuration<S: AdminStore + VariableStore>(
    store: &S,
    entries: Vec<DesiredEntry>,
    allow_unknown: bool,
    dry_run: bool,
) -> Result<Changed, Rejection> {
    let (mut results, mut problems) = (Vec::new(), Vec::new());
    for (position, entry) in entries.iter().enumerate() {
        let key = &entry.key;
        let checked = match entries[..position].iter().any(|e| e.key == *key && e.scope == entry.scope) {
            true => Err("given twice".to_owned()),
            false => check_value(key, &entry.value, allow_unknown),
        };
        match checked {
            Ok(result) => results.push(result),
            Err(problem) => problems.push(format!("{key}: {problem}")),
        }
    }
    if !problems.is_empty() {
        let message = format!("refused, nothing set: {}", problems.join("; "));
        return Err(Rejection(StatusCode::UNPROCESSABLE_ENTITY, message, problems));
    }
    let devices = store.list_devices().await?;
    let (current, variables) = super::templates::stored_configuration(store).await?;
    let replaced: Vec<ConfigEntry> = current
        .iter()
        .filter(|old| entries.iter().any(|new| new.key == old.key && new.scope == old.scope))
        .cloned()
        .map(masked_entry)
        .collect();
    let set: Vec<ConfigEntry> = entries.iter().cloned().map(masked_entry).collect();
    let before = Configuration::new(current.iter().cloned(), variables.iter().cloned());
    let after = Configuration::new(current.into_iter().chain(entries.iter().cloned()), variables);
    let keys: Vec<ItemKey> = entries.iter().map(|e| e.key.clone()).collect();
    let (affected, changes) = super::preview::fleet_changes(&before, &after, Some(&keys), &devices);
    let templated: Vec<ItemKey> =
        entries.iter().filter(|e| is_template(&e.value)).map(|e| e.key.clone()).collect();
    let (cannot_render, cannot_render_total) = match templated.is_empty() {
        true => (Vec::new(), 0),
        false => super::templates::unrenderable(&after, Some(&templated), &devices, 100),
    };
    if !dry_run {
        store.set_desired(&entries, unix_now()).await?;
        let items: Vec<String> = entries.iter().map(|e| e.key.to_string()).collect();
        let scopes: std::collections::BTreeSet<String> =
            entries.iter().map(|e| e.scope.to_string()).collect();
        let scopes: Vec<String> = scopes.into_iter().collect();
        tracing::info!(
            scope = scopes.join(", "),
            items = items.join(" "),
            devices_affected = affected,
            "desired values set"
        );
    }
    let result = ConfigChangeResult {
        applied: !dry_run,
        devices_affected: affected,
        cannot_render,
        cannot_render_total,
        values: results,
        changes,
    };
    Ok(Changed { result, replaced, set })
}

/// Checks one value against the catalog; the refusal never contains the value (it may be secret).
pub(super) fn check_value(
    key: &ItemKey,
    value: &str,
    allow_unknown: bool,
) -> Result<ConfigValueResult, String> {
    let name = key.name.as_str();
    if name.is_empty() {
        return Err("the item name is empty".into());
    }
    if opendls_wpi::bootstrap::BOOTSTRAP_ITEMS.contains(&name) {
        return Err("Secure Mode items are sent by the bootstrap only (opendls security mode ...)".into());
    }
    if name == "wbm-server-certificate" {
        return Err("certificates are deployed by a job (opendls job create deploy-wbm-certificate)".into());
    }
    let catalog = Catalog::builtin();
    let template = is_template(value);
    let check = match template {
        // Rendered values are checked per device, when they are resolved.
        true => {
            Template::parse(value).map_err(|why| format!("the template is not valid: {why}"))?;
            catalog.check_template_target(name, key.index)
        }
        false => catalog.check_write(name, key.index, value),
    };
    if let Some(reason) = check.refusal_reason() {
        return Err(reason);
    }
    let mut warnings: Vec<String> = check.findings.iter().map(|f| f.message.clone()).collect();
    if !check.is_known() {
        let hint = did_you_mean(&catalog.suggestions(name))
            .map(|h| format!(": {h} "))
            .unwrap_or_else(|| "; ".into());
        if !allow_unknown {
            return Err(format!(
                "not in the item catalog (names are case-sensitive on the phone){hint}\
                 allow_unknown (--allow-unknown) stores it anyway"
            ));
        }
        warnings.push(format!(
            "{name} is not in the item catalog{hint}phones that do not know it answer 'unknown item'"
        ));
    }
    Ok(ConfigValueResult { item: key.to_string(), known_item: check.is_known(), warnings })
}

pub(super) async fn unset_config<S: AdminStore>(
    State(state): State<Arc<AdminState<S>>>,
    ApiJson(body): ApiJson<ConfigEntry>,
) -> Answer {
    let scope = parse_config_scope(&body.scope, body.target.as_deref())?;
    let key = ItemKey::new(body.name.trim(), body.index);
    let before = state.store.desired(Some(&scope)).await?.into_iter().find(|entry| entry.key == key);
    if state.store.unset_desired(&scope, &key).await? {
        tracing::info!(scope = %scope, item = %key, "desired value unset");
        let before = before.map(masked_entry).and_then(|entry| serde_json::to_value(entry).ok());
        Ok(audited(StatusCode::NO_CONTENT.into_response(), before, None))
    } else {
        Err(failure(StatusCode::NOT_FOUND, format!("{key} is not set at {scope}")))
    }
}
