//! The admin API: JSON over HTTP on its own listener. Every route but the probes (`/api/health`,
//! `/api/ready`) needs a bearer token: a personal API token of an account, whose role decides
//! what it may do, or the break-glass admin token kept in the data directory; every change is
//! recorded in the audit log. `/metrics` also takes the metrics token.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use opendls_engine::{DeviceRecord, ItemKey, Scope, check_group_name, normalize_mac};
use opendls_store::{AdminStore, PhoneStore, Store, StoreError};
use opendls_wpi::secrets::displayable_value;
use serde::Deserialize;

use crate::api::{
    ApiError, DeviceListEntry, DeviceView, GroupAssignment, HistoryView, ItemView, MAX_HISTORY_PAGE,
    MAX_ITEMS_PAGE, PendingChange, PolicySetting,
};

mod access;
pub use access::{BREAK_GLASS, RemoteAddr};
mod audit_log;
mod body;
mod config;
mod console;
mod deployments;
mod files;
mod fleet;
mod job_views;
mod jobs;
mod layouts;
mod masking;
mod pins;
mod preview;
mod provisioning;
pub use provisioning::MAX_PROVISION_BATCH;
mod security;
mod sessions;
pub use sessions::SESSION_COOKIE;
mod site;
mod templates;
mod tokens;
mod users;
pub mod waiting;

pub use jobs::parse_item_key;

use body::ApiJson;

struct AdminState<S> {
    store: Arc<S>,
    token: String,
    settings: AdminSettings,
    throttle: sessions::LoginThrottle,
}

/// What the admin API needs to know of the service's configuration.
#[derive(Debug, Clone)]
pub struct AdminSettings {
    /// Default give-up time of a job, in seconds.
    pub give_up_after_secs: u64,
    /// The DCMP address written to phones behind NAT (`http://host:port`), or, when phones
    /// cannot poll (listener off, or no public address), what to set so that they can.
    pub dcmp_url: Result<String, String>,
    /// Default DCMP poll interval, in seconds.
    pub dcmp_poll_interval_secs: u64,
    /// The phones' contact gap (`jobs.contact_gap_secs`), to explain waits.
    pub contact_gap_secs: u64,
    /// Wakes the job scheduler when a job is created.
    pub wake: Arc<tokio::sync::Notify>,
    /// The Secure Mode CA certificate (PEM), for export.
    pub ca_pem: String,
    /// The secure port's certificate chain (PEM), for export.
    pub secure_server_pem: String,
    /// Whether the secure listener is on (bootstraps are possible).
    pub secure_port_enabled: bool,
    /// Digits of generated PINs.
    pub pin_digits: usize,
    /// Where uploaded firmware images and files are kept.
    pub vault: Arc<crate::vault::Vault>,
    /// Largest upload (`limits.max_upload_bytes`).
    pub max_upload_bytes: u64,
    /// Where phones download deployed files: the built-in file server (or why they cannot), or
    /// the site's own.
    pub downloads: crate::file_server::Sources,
    /// What `/api/ready` looks at besides the store.
    pub readiness: Arc<crate::readiness::Readiness>,
    /// What `/metrics` shows.
    pub metrics: Arc<crate::metrics::Metrics>,
    /// The bearer token that reads `/metrics` (and nothing else).
    pub metrics_token: crate::metrics::MetricsToken,
    /// The data directory (the first admin's one-time password is removed from it once used).
    pub data_dir: std::path::PathBuf,
    /// Session cookies are `Secure` (the admin listener speaks HTTPS).
    pub secure_cookies: bool,
}

pub use crate::file_server::Downloads;

/// The admin router over `store`, accepting `token`.
pub fn router<S: Store>(store: Arc<S>, token: String, settings: AdminSettings) -> Router {
    let state = Arc::new(AdminState { store, token, settings, throttle: sessions::LoginThrottle::default() });
    let protected = Router::new()
        .route("/api/devices", get(fleet::list_devices::<S>))
        .route("/api/devices/{mac}", get(show_device::<S>).delete(fleet::remove_device::<S>))
        .route("/api/groups", get(fleet::list_groups::<S>))
        .route("/api/groups/{name}", get(fleet::show_group::<S>).delete(fleet::remove_group::<S>))
        .route("/api/devices/{mac}/group", put(assign_group::<S>))
        .route(
            "/api/config",
            get(config::show_config::<S>).put(config::set_config::<S>).delete(config::unset_config::<S>),
        )
        .route(
            "/api/provisioned",
            get(provisioning::list::<S>)
                .post(provisioning::add::<S>)
                .layer(axum::extract::DefaultBodyLimit::max(provisioning::MAX_PROVISION_BODY)),
        )
        .route("/api/provisioned/{id}", axum::routing::delete(provisioning::remove::<S>))
        .route("/api/devices/approve", post(provisioning::approve::<S>))
        .route("/api/config/effective/{mac}", get(templates::effective::<S>))
        .route("/api/config/check", get(templates::check::<S>))
        .route("/api/config/diff", get(preview::diff::<S>))
        .route("/api/layouts/apply", post(layouts::apply::<S>))
        .route("/api/config/import", post(site::import::<S>))
        .route(
            "/api/variables",
            get(templates::list_variables::<S>)
                .put(templates::set_variables::<S>)
                .delete(templates::unset_variable::<S>),
        )
        .route("/api/policy", get(fleet::list_policies::<S>).put(set_policy::<S>))
        .route("/api/jobs", get(jobs::list_jobs::<S>).post(jobs::create_job::<S>))
        .route(
            "/api/files",
            get(files::list::<S>).post(files::upload::<S>).layer(axum::extract::DefaultBodyLimit::disable()),
        )
        .route("/api/files/{id}", get(files::show::<S>).delete(files::remove::<S>))
        .route("/api/files/{id}/url", post(files::download_url::<S>))
        .route("/api/firmware/pins", get(pins::list::<S>).put(pins::set::<S>).delete(pins::remove::<S>))
        .route("/api/jobs/{id}", get(jobs::show_job::<S>))
        .route("/api/jobs/{id}/cancel", post(jobs::cancel_job::<S>))
        .route("/api/jobs/{id}/pause", post(jobs::pause_job::<S>))
        .route("/api/jobs/{id}/resume", post(jobs::resume_job::<S>))
        .route("/api/behind-nat", put(jobs::behind_nat::<S>))
        .route("/api/security/mode", put(security::set_mode::<S>))
        .route("/api/security/modes", get(security::list_modes::<S>))
        .route("/api/security/ca", get(security::ca_certificate::<S>))
        .route("/api/security/server-certificate", get(security::secure_server_certificate::<S>))
        .route("/api/devices/{mac}/security", get(security::show::<S>))
        .route("/api/devices/{mac}/security/revoke", post(security::revoke::<S>))
        .route("/api/devices/{mac}/security/reset", post(security::reset::<S>))
        .route(
            "/api/devices/{mac}/pin",
            post(security::generate_device_pin::<S>).delete(security::remove_device_pin::<S>),
        )
        .route(
            "/api/groups/{name}/pin",
            put(security::set_group_pin::<S>)
                .get(security::show_group_pin::<S>)
                .delete(security::remove_group_pin::<S>),
        )
        .route("/api/whoami", get(users::whoami))
        .route("/api/users", get(users::list::<S>).post(users::add::<S>))
        .route("/api/users/{name}", axum::routing::delete(users::remove::<S>))
        .route("/api/users/{name}/role", put(users::set_role::<S>))
        .route("/api/users/{name}/password", put(users::set_password::<S>))
        .route("/api/tokens", get(tokens::list::<S>).post(tokens::create::<S>))
        .route("/api/tokens/{id}", axum::routing::delete(tokens::revoke::<S>))
        .route("/api/audit", get(audit_log::list::<S>))
        .route("/api/session", get(sessions::show::<S>).delete(sessions::logout::<S>))
        .route_layer(middleware::from_fn_with_state(state.clone(), access::guard::<S>))
        .with_state(state.clone());
    let state_for_console = state.clone();
    // Probes for monitoring and load balancers, and the login: no token.
    let probes = Router::new()
        .route("/api/health", get(|| async { "ok\n" }))
        .route("/api/ready", get(ready::<S>))
        .route("/api/login", post(sessions::login::<S>))
        .route("/metrics", get(metrics::<S>))
        .with_state(state);
    probes.merge(protected).merge(console::router(state_for_console))
}

async fn ready<S: Store>(State(state): State<Arc<AdminState<S>>>) -> Response {
    let report = state.settings.readiness.report(state.store.as_ref()).await;
    let status = if report.ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    if !report.ready {
        let failed: Vec<String> =
            report.checks.iter().filter(|c| !c.ok).map(|c| format!("{}: {}", c.name, c.detail)).collect();
        tracing::warn!(failed = failed.join("; "), "not ready");
    }
    (status, Json(report)).into_response()
}

/// The metrics, for the admin token or the metrics token (`metrics-token` in the data
/// directory, given to the monitoring system: it reads nothing else).
async fn metrics<S: Store>(
    State(state): State<Arc<AdminState<S>>>,
    headers: axum::http::HeaderMap,
) -> Response {
    let presented = presented_token(&headers);
    let known = [state.token.as_bytes(), state.settings.metrics_token.0.as_bytes()];
    if !known.iter().any(|token| constant_time_eq(presented.as_bytes(), token)) {
        let hint = "missing or wrong bearer token (see metrics-token in the data directory)";
        return failure(StatusCode::UNAUTHORIZED, hint).into_response();
    }
    let metrics = &state.settings.metrics;
    metrics.refresh_fleet(state.store.as_ref(), crate::phone::unix_now()).await;
    ([(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)], metrics.encode()).into_response()
}

/// The bearer token of a request, or empty.
fn presented_token(headers: &axum::http::HeaderMap) -> &str {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(bearer_credentials)
        .unwrap_or("")
}

/// The credentials of a `Bearer` authorization; the scheme name is case-insensitive
/// (RFC 7235 §2.1) and may be followed by more than one space.
fn bearer_credentials(value: &str) -> Option<&str> {
    let (scheme, credentials) = value.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| credentials.trim_start())
}

/// Text made safe for a URL's query string (RFC 3986: all but unreserved characters escaped).
pub(crate) fn encode_query(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Compares secrets without an early exit, so timing does not reveal how much matched.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// An error answer: a status and a message, sent as [`ApiError`] JSON.
#[derive(Debug)]
struct Rejection(StatusCode, String, Vec<String>);

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        (self.0, Json(ApiError { error: self.1, problems: self.2 })).into_response()
    }
}

impl From<StoreError> for Rejection {
    fn from(error: StoreError) -> Self {
        tracing::error!(%error, "admin API storage error");
        Rejection(StatusCode::INTERNAL_SERVER_ERROR, format!("storage error: {error}"), Vec::new())
    }
}

fn failure(status: StatusCode, message: impl Into<String>) -> Rejection {
    Rejection(status, message.into(), Vec::new())
}

type Answer = Result<Response, Rejection>;

fn parse_mac(text: &str) -> Result<String, Rejection> {
    normalize_mac(text)
        .ok_or_else(|| failure(StatusCode::BAD_REQUEST, format!("{text:?} is not a MAC address")))
}

fn parse_group(text: &str) -> Result<String, Rejection> {
    check_group_name(text).map(str::to_owned).map_err(|message| failure(StatusCode::BAD_REQUEST, message))
}

/// A scope of security modes, variables, DCMP polling: global, a group or a device.
fn parse_scope(scope: &str, target: Option<&str>) -> Result<Scope, Rejection> {
    match parse_config_scope(scope, target)? {
        Scope::Model(_) => Err(failure(
            StatusCode::BAD_REQUEST,
            "a model scope holds configuration values only; use global, a group or a device here",
        )),
        scope => Ok(scope),
    }
}

/// A scope of desired values: global, a model pattern (kept in its full form), a group or a
/// device.
fn parse_config_scope(scope: &str, target: Option<&str>) -> Result<Scope, Rejection> {
    let need = |what: &str| failure(StatusCode::BAD_REQUEST, format!("scope {scope} needs a {what}"));
    match (scope, target) {
        ("global", None | Some("")) => Ok(Scope::Global),
        ("group", Some(name)) => Ok(Scope::Group(parse_group(name)?)),
        ("group", None) => Err(need("group name")),
        ("device", Some(mac)) => parse_mac(mac).map(Scope::Device),
        ("device", None) => Err(need("MAC address")),
        ("model", Some(pattern)) => opendls_wpi::models::models_matching(pattern)
            .map(|(full, _)| Scope::Model(full))
            .map_err(|why| failure(StatusCode::BAD_REQUEST, format!("model {why}"))),
        ("model", None) => Err(need("model pattern (OpenStage 60, CP4*)")),
        ("global", Some(_)) => Err(failure(StatusCode::BAD_REQUEST, "scope global takes no target")),
        (other, _) => Err(failure(
            StatusCode::BAD_REQUEST,
            format!("unknown scope {other:?} (global, model, group, device)"),
        )),
    }
}

fn scope_parts(scope: &Scope) -> (String, Option<String>) {
    match scope {
        Scope::Global => ("global".into(), None),
        Scope::Model(pattern) => ("model".into(), Some(pattern.clone())),
        Scope::Group(name) => ("group".into(), Some(name.clone())),
        Scope::Device(mac) => ("device".into(), Some(mac.clone())),
    }
}

fn list_entry(device: &DeviceRecord) -> DeviceListEntry {
    DeviceListEntry {
        mac: device.mac.clone(),
        e164: device.e164.clone(),
        device_type: device.device_type.clone(),
        software_version: device.software_version.clone(),
        group: device.group.clone(),
        other_groups: device.other_groups.clone(),
        last_contact: device.last_contact,
        last_reason: device.last_reason.clone(),
        remote_addr: device.remote_addr.clone(),
        security_state: None,
        tls_offer: device.tls_offer.clone(),
        approval: Some(device.approval.as_str().to_owned()),
    }
}

/// Pages of a device's history and inventory, so no answer grows with what a phone sent.
#[derive(Deserialize, Default)]
struct DevicePageQuery {
    /// History entries (default 50, at most [`MAX_HISTORY_PAGE`]).
    history: Option<u32>,
    history_offset: Option<u32>,
    /// Reported items (default and at most [`MAX_ITEMS_PAGE`]).
    items: Option<usize>,
    items_offset: Option<usize>,
}

async fn show_device<S: AdminStore + PhoneStore>(
    State(state): State<Arc<AdminState<S>>>,
    Path(mac): Path<String>,
    Query(query): Query<DevicePageQuery>,
) -> Answer {
    Ok(Json(load_device_view(&*state.store, &mac, query).await?).into_response())
}

/// A device in full, as the API and the console show it: its record, reported items, values
/// not yet on the phone, history and Secure Mode state, a page of each.
async fn load_device_view<S: AdminStore + PhoneStore>(
    store: &S,
    mac: &str,
    query: DevicePageQuery,
) -> Result<DeviceView, Rejection> {
    let mac = parse_mac(mac)?;
    // The context carries the device record too: one read for both.
    let context = PhoneStore::device_context(store, &mac).await?;
    let Some(device) = context.device else {
        return Err(failure(StatusCode::NOT_FOUND, format!("no device {mac}")));
    };
    let history_limit = query.history.unwrap_or(50).min(MAX_HISTORY_PAGE);
    let history_offset = query.history_offset.unwrap_or(0);
    // One entry more than asked tells whether another page exists.
    let mut history = store.history(&mac, history_offset, history_limit + 1).await?;
    let history_more = history.len() > history_limit as usize;
    history.truncate(history_limit as usize);
    let configuration = opendls_engine::Configuration::new(context.desired, context.variables);
    let mut view = device_view(device, &configuration, &context.failures, history);
    view.history_more = history_more;
    let (items_offset, items) =
        (query.items_offset.unwrap_or(0), query.items.unwrap_or(MAX_ITEMS_PAGE).min(MAX_ITEMS_PAGE));
    view.reported = view.reported.into_iter().skip(items_offset).take(items).collect();
    view.security_state = Some(context.security.state.as_str().to_owned());
    Ok(view)
}

fn device_view(
    device: DeviceRecord,
    configuration: &opendls_engine::Configuration,
    failures: &[opendls_engine::WriteFailure],
    history: Vec<opendls_engine::HistoryEvent>,
) -> DeviceView {
    let mask = |name: &str, value: &str| displayable_value(name, value).to_owned();
    let reported_total = device.reported.len();
    let reported = device
        .reported
        .values()
        .map(|item| ItemView {
            name: item.key.name.clone(),
            index: item.key.index,
            value: mask(&item.key.name, &item.value),
            status: item.status.clone(),
        })
        .collect();
    let resolution = configuration.resolve(&opendls_engine::DeviceFacts::of(&device));
    // The engine's own rules for what the next contact writes (opendls_engine::preview).
    let pending = opendls_engine::preview::next_writes(&device, &resolution, failures)
        .iter()
        .map(preview::write_view)
        .map(|w| PendingChange {
            name: w.name,
            index: w.index,
            desired: w.value,
            reported: w.reported,
            scope: w.scope,
            held: w.held,
        })
        .collect();
    let history = history
        .into_iter()
        .map(|event| HistoryView {
            at: event.at,
            kind: serde_json::to_value(event.kind)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
            reason: event.reason,
            item: event.key.as_ref().map(ItemKey::to_string),
            old_value: event.old_value,
            new_value: event.new_value,
            detail: event.detail,
        })
        .collect();
    DeviceView {
        first_seen: device.first_seen,
        inventory_read_at: device.inventory_read_at,
        contact_me_uri: device.contact_me_uri.clone(),
        tls_offer: device.tls_offer.clone(),
        security_state: None,
        device: list_entry(&device),
        reported,
        reported_total,
        pending,
        history,
        history_more: false,
    }
}

async fn assign_group<S: AdminStore>(
    State(state): State<Arc<AdminState<S>>>,
    Path(mac): Path<String>,
    ApiJson(body): ApiJson<GroupAssignment>,
) -> Answer {
    let mac = parse_mac(&mac)?;
    let groups = match body.group.as_deref().map(str::trim) {
        None | Some("") if body.other_groups.is_empty() => Vec::new(),
        None | Some("") => return Err(failure(StatusCode::BAD_REQUEST, "further groups need a first group")),
        Some(name) => {
            let first = parse_group(name)?;
            let others = check_groups(&first, &body.other_groups)
                .map_err(|why| failure(StatusCode::BAD_REQUEST, why))?;
            std::iter::once(first).chain(others).collect()
        }
    };
    let before = state.store.device(&mac).await?.map(|device| {
        let mut groups: Vec<String> = device.group.into_iter().collect();
        groups.extend(device.other_groups);
        serde_json::json!({ "groups": groups })
    });
    if state.store.assign_group(&mac, &groups).await? {
        tracing::info!(mac, groups = %groups.join(", "), "groups assigned");
        let after = serde_json::json!({ "groups": groups });
        Ok(access::audited(StatusCode::NO_CONTENT.into_response(), before, Some(after)))
    } else {
        Err(failure(StatusCode::NOT_FOUND, format!("no device {mac}")))
    }
}

/// Checks further groups after `first`: valid names, none given twice.
pub(crate) fn check_groups(first: &str, others: &[String]) -> Result<Vec<String>, String> {
    let mut checked: Vec<String> = Vec::with_capacity(others.len());
    for name in others {
        let name = check_group_name(name)?.to_owned();
        if name == first || checked.contains(&name) {
            return Err(format!("group {name} is given twice"));
        }
        checked.push(name);
    }
    Ok(checked)
}

async fn set_policy<S: AdminStore + opendls_store::FleetStore>(
    State(state): State<Arc<AdminState<S>>>,
    ApiJson(body): ApiJson<PolicySetting>,
) -> Answer {
    let policy = body.policy;
    let body = PolicySetting { group: body.group.as_deref().map(parse_group).transpose()?, ..body };
    let before = state.store.policies().await?.into_iter().find(|entry| entry.group == body.group);
    state.store.set_policy(body.group.as_deref(), policy).await?;
    tracing::info!(policy = %body.policy, group = body.group.as_deref().unwrap_or("(global)"), "local-change policy set");
    let before = before.map(|entry| serde_json::json!({ "group": entry.group, "policy": entry.policy }));
    let after = serde_json::json!({ "group": body.group, "policy": policy });
    Ok(access::audited(StatusCode::NO_CONTENT.into_response(), before, Some(after)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_scheme_is_case_insensitive() {
        assert_eq!(bearer_credentials("Bearer abc"), Some("abc"));
        assert_eq!(bearer_credentials("bearer abc"), Some("abc"));
        assert_eq!(bearer_credentials("BEARER   abc"), Some("abc"));
        assert_eq!(bearer_credentials("Basic abc"), None);
        assert_eq!(bearer_credentials("Bearerabc"), None);
    }

    #[test]
    fn token_comparison() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
    }
}
