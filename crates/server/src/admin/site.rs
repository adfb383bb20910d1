//! `POST /api/config/import`: a whole site file compared with what is stored, the diff shown,
//! and (unless a dry run) applied in one transaction. Values are checked as `config set` checks
//! them and variables as `var set` does; a masked secret keeps the stored secret.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use opendls_engine::{Configuration, DesiredEntry, ItemKey, Scope, Variable};
use opendls_store::{AdminStore, SiteChange, SiteStore, VariableStore};
use opendls_wpi::secrets::{MASK, displayable_value, is_secret_item};

use super::body::ApiJson;
use super::{AdminState, Answer, Rejection, parse_config_scope, parse_scope};
use crate::api::{SiteDiffLine, SiteImport, SiteImportResult};
use crate::phone::unix_now;

type Values = BTreeMap<(Scope, ItemKey), String>;
type Variables = BTreeMap<(Scope, String), Variable>;

pub(super) async fn import<S: AdminStore + VariableStore + SiteStore>(
    State(state): State<Arc<AdminState<S>>>,
    ApiJson(request): ApiJson<SiteImport>,
) -> Answer {
    let stored_values: Values =
        state.store.desired(None).await?.into_iter().map(|e| ((e.scope, e.key), e.value)).collect();
    let stored_variables: Variables = state
        .store
        .variables(None)
        .await?
        .into_iter()
        .map(|v| ((v.scope.clone(), v.name.clone()), v))
        .collect();
    let (wanted_values, wanted_variables) = checked_site(&request, &stored_values, &stored_variables)?;
    let mut diff = SiteDiff::default();
    diff.values(&stored_values, &wanted_values, request.prune);
    diff.variables(&stored_variables, &wanted_variables, request.prune);

    let after_values: Values = match request.prune {
        true => wanted_values.clone(),
        false => stored_values.clone().into_iter().chain(wanted_values.clone()).collect(),
    };
    let after_variables: Variables = match request.prune {
        true => wanted_variables.clone(),
        false => stored_variables.clone().into_iter().chain(wanted_variables.clone()).collect(),
    };
    let before = configuration(&stored_values, &stored_variables);
    let after = configuration(&after_values, &after_variables);
    let devices = state.store.list_devices().await?;
    let (devices_affected, changes) = super::preview::fleet_changes(&before, &after, None, &devices);
    let (cannot_render, cannot_render_total) = super::templates::unrenderable(&after, None, &devices, 100);
    let change = diff.change;
    let applied = !request.dry_run;
    if applied && !change.is_empty() {
        state.store.apply_site(&change, unix_now()).await?;
        tracing::info!(
            values_set = change.set_values.len(),
            values_removed = change.unset_values.len(),
            variables_set = change.set_variables.len(),
            variables_removed = change.unset_variables.len(),
            devices_affected,
            "site configuration imported"
        );
    }
    let result = SiteImportResult {
        applied,
        added: diff.added,
        changed: diff.changed,
        removed: diff.removed,
        kept: diff.kept,
        unchanged: diff.unchanged,
        devices_affected,
        changes,
        cannot_render,
        cannot_render_total,
    };
    Ok(Json(result).into_response())
}

/// The file's values and variables, checked; every problem is listed and nothing is stored
/// when there is one. A masked secret becomes the stored secret.
fn checked_site(
    request: &SiteImport,
    stored_values: &Values,
    stored_variables: &Variables,
) -> Result<(Values, Variables), Rejection> {
    let (mut values, mut variables, mut problems) = (Values::new(), Variables::new(), Vec::new());
    for (number, entry) in request.site.values.iter().enumerate() {
        let at = format!("value {}", number + 1);
        let scope = match parse_config_scope(&entry.scope, entry.target.as_deref()) {
            Ok(scope) => scope,
            Err(rejection) => {
                problems.push(format!("{at}: {}", rejection.1));
                continue;
            }
        };
        let key = ItemKey::new(entry.name.trim(), entry.index);
        let mut value = entry.value.clone();
        if value == MASK && is_secret_item(&key.name) {
            match stored_values.get(&(scope.clone(), key.clone())) {
                Some(stored) => value = stored.clone(),
                None => {
                    problems.push(format!(
                        "{at} ({scope} {key}): a masked secret that is not stored; give the value"
                    ));
                    continue;
                }
            }
        }
        if let Err(why) = super::config::check_value(&key, &value, request.allow_unknown) {
            problems.push(format!("{at} ({scope} {key}): {why}"));
        }
        if values.insert((scope.clone(), key.clone()), value).is_some() {
            problems.push(format!("{at} ({scope} {key}): given twice"));
        }
    }
    for (number, view) in request.site.variables.iter().enumerate() {
        let at = format!("variable {}", number + 1);
        let scope = match parse_scope(&view.scope, view.target.as_deref()) {
            Ok(scope) => scope,
            Err(rejection) => {
                problems.push(format!("{at}: {}", rejection.1));
                continue;
            }
        };
        let name = view.name.trim().to_owned();
        let mut value = view.value.clone();
        if view.secret && value == MASK {
            match stored_variables.get(&(scope.clone(), name.clone())).filter(|v| v.secret) {
                Some(stored) => value = stored.value.clone(),
                None => {
                    problems.push(format!(
                        "{at} ({scope} {name}): a masked secret that is not stored; give the value"
                    ));
                    continue;
                }
            }
        }
        if let Err(why) = super::templates::check_variable(&name, &value) {
            problems.push(format!("{at} ({scope} {name}): {why}"));
        }
        let variable = Variable { scope: scope.clone(), name: name.clone(), value, secret: view.secret };
        if variables.insert((scope.clone(), name.clone()), variable).is_some() {
            problems.push(format!("{at} ({scope} {name}): given twice"));
        }
    }
    match problems.is_empty() {
        true => Ok((values, variables)),
        false => {
            let message = format!("the site file is refused, nothing changed: {}", problems.join("; "));
            Err(Rejection(StatusCode::UNPROCESSABLE_ENTITY, message, problems))
        }
    }
}

fn configuration(values: &Values, variables: &Variables) -> Configuration {
    let entries = values.iter().map(|((scope, key), value)| DesiredEntry {
        scope: scope.clone(),
        key: key.clone(),
        value: value.clone(),
    });
    Configuration::new(entries, variables.values().cloned())
}

/// The diff of a site file against what is stored, and the change that applies it.
#[derive(Default)]
struct SiteDiff {
    added: Vec<SiteDiffLine>,
    changed: Vec<SiteDiffLine>,
    removed: Vec<SiteDiffLine>,
    kept: Vec<SiteDiffLine>,
    unchanged: usize,
    change: SiteChange,
}

impl SiteDiff {
    fn values(&mut self, stored: &Values, wanted: &Values, prune: bool) {
        let shown = |key: &ItemKey, value: &str| displayable_value(&key.name, value).to_owned();
        for ((scope, key), value) in wanted {
            let what = format!("{scope} {key}");
            let entry = DesiredEntry { scope: scope.clone(), key: key.clone(), value: value.clone() };
            match stored.get(&(scope.clone(), key.clone())) {
                Some(old) if old == value => self.unchanged += 1,
                Some(old) => {
                    self.changed.push(line(what, Some(shown(key, old)), Some(shown(key, value))));
                    self.change.set_values.push(entry);
                }
                None => {
                    self.added.push(line(what, None, Some(shown(key, value))));
                    self.change.set_values.push(entry);
                }
            }
        }
        for ((scope, key), old) in stored.iter().filter(|(id, _)| !wanted.contains_key(id)) {
            let diff_line = line(format!("{scope} {key}"), Some(shown(key, old)), None);
            match prune {
                true => {
                    self.removed.push(diff_line);
                    self.change.unset_values.push((scope.clone(), key.clone()));
                }
                false => self.kept.push(diff_line),
            }
        }
    }

    fn variables(&mut self, stored: &Variables, wanted: &Variables, prune: bool) {
        let shown = |v: &Variable| if v.secret { MASK.to_owned() } else { v.value.clone() };
        let names: BTreeSet<&(Scope, String)> = wanted.keys().collect();
        for ((scope, name), variable) in wanted {
            let what = format!("{scope} variable {name}");
            match stored.get(&(scope.clone(), name.clone())) {
                Some(old) if old.value == variable.value && old.secret == variable.secret => {
                    self.unchanged += 1
                }
                Some(old) => {
                    self.changed.push(line(what, Some(shown(old)), Some(shown(variable))));
                    self.change.set_variables.push(variable.clone());
                }
                None => {
                    self.added.push(line(what, None, Some(shown(variable))));
                    self.change.set_variables.push(variable.clone());
                }
            }
        }
        for ((scope, name), old) in stored.iter().filter(|(id, _)| !names.contains(id)) {
            let diff_line = line(format!("{scope} variable {name}"), Some(shown(old)), None);
            match prune {
                true => {
                    self.removed.push(diff_line);
                    self.change.unset_variables.push((scope.clone(), name.clone()));
                }
                false => self.kept.push(diff_line),
            }
        }
    }
}

fn line(what: String, before: Option<String>, after: Option<String>) -> SiteDiffLine {
    SiteDiffLine { what, before, after }
}
