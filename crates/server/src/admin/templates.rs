//! Templates in the admin API: variables, a device's effective configuration (every value and
//! where it came from) and the check of every template against every known device. Values are
//! resolved by the engine's [`Configuration`], the code the phone endpoint uses.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use opendls_engine::{
    Configuration, DesiredEntry, DeviceFacts, ItemKey, Resolved, Unrenderable, Variable, check_variable_name,
    devices_affected, template::MAX_VARIABLE_VALUE,
};
use opendls_store::{AdminStore, DeviceSummary, PhoneStore, VariableStore};
use opendls_wpi::secrets::{MASK, displayable_value};
use serde::Deserialize;

use super::body::ApiJson;
use super::config::ScopeQuery;
use super::{AdminState, Answer, Rejection, failure, parse_mac, parse_scope, scope_parts};
use crate::api::{
    ConfigCheckReport, EffectiveItem, EffectiveView, RenderProblem, VariableChange, VariableChangeResult,
    VariableRemoval, VariableView,
};
use crate::phone::unix_now;

/// The most problems an answer lists unless asked for more.
const DEFAULT_PROBLEMS: usize = 100;

/// A resolved value as it may be shown: masked for secret items and secret variables.
pub(super) fn shown_value(key: &ItemKey, resolved: &Resolved) -> String {
    if resolved.secret_variable && !resolved.value.is_empty() {
        return MASK.to_owned();
    }
    displayable_value(&key.name, &resolved.value).to_owned()
}

/// The facts templates know of a listed device.
pub(super) fn facts(device: &DeviceSummary) -> DeviceFacts<'_> {
    DeviceFacts {
        mac: &device.mac,
        e164: device.e164.as_deref(),
        model: device.device_type.as_deref(),
        group: device.group.as_deref(),
        other_groups: &device.other_groups,
    }
}

/// A template that cannot be rendered, as the API shows it.
pub(super) fn problem_view(mac: &str, key: &ItemKey, problem: &Unrenderable) -> RenderProblem {
    RenderProblem {
        mac: mac.to_owned(),
        item: key.to_string(),
        scope: problem.scope.to_string(),
        template: displayable_value(&key.name, &problem.template).to_owned(),
        reason: problem.reason.clone(),
    }
}

/// The templates of `keys` (every item: `None`) that cannot be rendered for `devices` under
/// `configuration`: the first `limit`, and how many in all.
pub(super) fn unrenderable(
    configuration: &Configuration,
    keys: Option<&[ItemKey]>,
    devices: &[DeviceSummary],
    limit: usize,
) -> (Vec<RenderProblem>, usize) {
    let (mut listed, mut total) = (Vec::new(), 0);
    for device in devices {
        let resolution =
            configuration.resolve_only(&facts(device), |key| keys.is_none_or(|k| k.contains(key)));
        for (key, problem) in &resolution.unrenderable {
            total += 1;
            if listed.len() < limit {
                listed.push(problem_view(&device.mac, key, problem));
            }
        }
    }
    (listed, total)
}

/// Everything the stored configuration is made of, for previews over the fleet.
pub(super) async fn stored_configuration<S: AdminStore + VariableStore>(
    store: &S,
) -> Result<(Vec<DesiredEntry>, Vec<Variable>), Rejection> {
    Ok((store.desired(None).await?, store.variables(None).await?))
}

fn variable_view(variable: Variable) -> VariableView {
    let (scope, target) = scope_parts(&variable.scope);
    let value = if variable.secret && !variable.value.is_empty() { MASK.to_owned() } else { variable.value };
    VariableView { scope, target, name: variable.name, value, secret: variable.secret }
}

pub(super) async fn list_variables<S: VariableStore>(
    State(state): State<Arc<AdminState<S>>>,
    Query(query): Query<ScopeQuery>,
) -> Answer {
    let scope = match &query.scope {
        Some(scope) => Some(parse_scope(scope, query.target.as_deref())?),
        None => None,
    };
    let variables = state.store.variables(scope.as_ref()).await?;
    Ok(Json(variables.into_iter().map(variable_view).collect::<Vec<_>>()).into_response())
}

pub(super) async fn set_variables<S: AdminStore + VariableStore>(
    State(state): State<Arc<AdminState<S>>>,
    ApiJson(change): ApiJson<VariableChange>,
) -> Answer {
    let scope = parse_scope(&change.scope, change.target.as_deref())?;
    if change.values.is_empty() {
        return Err(failure(StatusCode::BAD_REQUEST, "no variables given"));
    }
    let mut variables: Vec<Variable> = Vec::with_capacity(change.values.len());
    let mut problems = Vec::new();
    for value in change.values {
        let name = value.name.trim().to_owned();
        let checked = match variables.iter().any(|v| v.name == name) {
            true => Err("given twice".to_owned()),
            false => check_variable(&name, &value.value),
        };
        if let Err(problem) = checked {
            problems.push(format!("{name}: {problem}"));
        }
        variables.push(Variable { scope: scope.clone(), name, value: value.value, secret: change.secret });
    }
    if !problems.is_empty() {
        let message = format!("refused, nothing set: {}", problems.join("; "));
        return Err(Rejection(StatusCode::UNPROCESSABLE_ENTITY, message, problems));
    }
    let after = |stored: Vec<Variable>| stored.into_iter().chain(variables.iter().cloned());
    let result = preview_variables(&*state.store, after, !change.dry_run).await?;
    if result.applied {
        state.store.set_variables(&variables, unix_now()).await?;
        let names: Vec<&str> = variables.iter().map(|v| v.name.as_str()).collect();
        tracing::info!(scope = %scope, variables = names.join(" "), devices_affected = result.devices_affected, "variables set");
    }
    Ok(Json(result).into_response())
}

pub(super) async fn unset_variable<S: AdminStore + VariableStore>(
    State(state): State<Arc<AdminState<S>>>,
    ApiJson(removal): ApiJson<VariableRemoval>,
) -> Answer {
    let scope = parse_scope(&removal.scope, removal.target.as_deref())?;
    let name = removal.name.trim().to_owned();
    let gone = |stored: Vec<Variable>| stored.into_iter().filter(|v| !(v.scope == scope && v.name == name));
    let result = preview_variables(&*state.store, gone, true).await?;
    if !state.store.unset_variable(&scope, &name).await? {
        return Err(failure(StatusCode::NOT_FOUND, format!("no variable {name} at {scope}")));
    }
    tracing::info!(scope = %scope, variable = name, devices_affected = result.devices_affected, "variable unset");
    Ok(Json(result).into_response())
}

/// Checks a variable's name and value (the refusal never quotes the value: it may be secret).
pub(super) fn check_variable(name: &str, value: &str) -> Result<(), String> {
    if value.chars().count() > MAX_VARIABLE_VALUE {
        return Err(format!("longer than {MAX_VARIABLE_VALUE} characters"));
    }
    if value.contains("{{") {
        return Err("a variable's value cannot hold a placeholder".into());
    }
    check_variable_name(name)
}

/// What a change of variables does to the fleet: devices whose values change, templates that
/// stop rendering.
async fn preview_variables<S: AdminStore + VariableStore, I: Iterator<Item = Variable>>(
    store: &S,
    change: impl FnOnce(Vec<Variable>) -> I,
    applied: bool,
) -> Result<VariableChangeResult, Rejection> {
    let (entries, variables) = stored_configuration(store).await?;
    let devices = store.list_devices().await?;
    let before = Configuration::new(entries.iter().cloned(), variables.iter().cloned());
    let after = Configuration::new(entries, change(variables));
    let affected = devices_affected(&before, &after, None, devices.iter().map(facts));
    let (cannot_render, cannot_render_total) = unrenderable(&after, None, &devices, DEFAULT_PROBLEMS);
    Ok(VariableChangeResult { applied, devices_affected: affected, cannot_render, cannot_render_total })
}

pub(super) async fn effective<S: PhoneStore>(
    State(state): State<Arc<AdminState<S>>>,
    Path(mac): Path<String>,
) -> Answer {
    let mac = parse_mac(&mac)?;
    let context = state.store.device_context(&mac).await?;
    let Some(device) = context.device else {
        return Err(failure(StatusCode::NOT_FOUND, format!("no device {mac}")));
    };
    let configuration = Configuration::new(context.desired, context.variables);
    let resolution = configuration.resolve(&DeviceFacts::of(&device));
    let mask = |key: &ItemKey, value: &str| displayable_value(&key.name, value).to_owned();
    let items = resolution
        .values
        .iter()
        .map(|(key, resolved)| {
            let reported = device.reported_value(key);
            EffectiveItem {
                name: key.name.clone(),
                index: key.index,
                value: shown_value(key, resolved),
                scope: resolved.scope.to_string(),
                template: resolved.template.as_deref().map(|t| mask(key, t)),
                variables: resolved
                    .variables
                    .iter()
                    .map(|used| format!("{} from {}", used.placeholder, used.scope))
                    .collect(),
                reported: reported.map(|v| mask(key, v)),
                in_sync: reported == Some(resolved.value.as_str()),
            }
        })
        .collect();
    let cannot_render =
        resolution.unrenderable.iter().map(|(key, problem)| problem_view(&mac, key, problem)).collect();
    Ok(Json(EffectiveView { mac, items, cannot_render }).into_response())
}

#[derive(Deserialize)]
pub(super) struct CheckQuery {
    /// The most problems listed (default 100).
    limit: Option<usize>,
}

pub(super) async fn check<S: AdminStore + VariableStore>(
    State(state): State<Arc<AdminState<S>>>,
    Query(query): Query<CheckQuery>,
) -> Answer {
    let (entries, variables) = stored_configuration(&*state.store).await?;
    let templates: Vec<ItemKey> = entries
        .iter()
        .filter(|e| opendls_engine::template::is_template(&e.value))
        .map(|e| e.key.clone())
        .collect();
    let devices = state.store.list_devices().await?;
    let configuration = Configuration::new(entries, variables);
    let limit = query.limit.unwrap_or(DEFAULT_PROBLEMS);
    // Only items that have a template somewhere can fail to render.
    let (problems, problems_total) = match templates.is_empty() {
        true => (Vec::new(), 0),
        false => unrenderable(&configuration, Some(&templates), &devices, limit),
    };
    let report = ConfigCheckReport {
        devices_checked: devices.len(),
        templates: templates.len(),
        problems,
        problems_total,
    };
    Ok(Json(report).into_response())
}
