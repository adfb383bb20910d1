//! Job routes of the admin API: create, list, show, cancel; and marking phones as behind NAT.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use std::collections::HashMap;

use opendls_engine::{Configuration, DesiredEntry, DeviceFacts, ItemKey, JobId, JobKind};
use opendls_store::jobs::{JobDetail, JobStore, JobTarget, NewJob, TargetSelector};
use opendls_store::{AdminStore, DeviceSummary, FileStore, Rollout, Share};
use opendls_wpi::Catalog;
use opendls_wpi::catalog::{DCMP_INTERVAL_ITEM, DCMP_URL_ITEM, did_you_mean};
use opendls_wpi::models::full_model_pattern;
use serde::Deserialize;

use super::body::ApiJson;
use super::job_views::{detail_view, job_view};
use super::waiting::{self, WaitContext};
use super::{AdminState, Answer, failure, parse_scope};
use crate::api::{BehindNat, JobDetailView, JobRequest, JobView, Targets, Waiting};
use crate::phone::unix_now;

/// Parses `name` or `name[index]`.
pub fn parse_item_key(text: &str) -> Option<ItemKey> {
    let text = text.trim();
    match text.strip_suffix(']').and_then(|rest| rest.split_once('[')) {
        Some((name, index)) => Some(ItemKey::new(name, Some(index.parse().ok()?))),
        None if !text.is_empty() && !text.contains(['[', ']']) => Some(ItemKey::new(text, None)),
        None => None,
    }
}

fn job_kind(request: &JobRequest) -> Result<JobKind, super::Rejection> {
    let bad = |message: String| failure(StatusCode::BAD_REQUEST, message);
    match request.kind.as_str() {
        "apply-configuration" => Ok(JobKind::ApplyConfiguration),
        "read-items" => {
            if request.items.is_empty() {
                return Err(bad("read-items needs at least one item".into()));
            }
            let items = request
                .items
                .iter()
                .map(|text| parse_item_key(text).ok_or_else(|| bad(format!("{text:?} is not an item name"))))
                .collect::<Result<Vec<_>, _>>()?;
            let unknown: Vec<String> =
                items.iter().filter_map(|key| unknown_item(key, request.allow_unknown)).collect();
            if !unknown.is_empty() {
                return Err(bad(format!("refused: {}", unknown.join("; "))));
            }
            Ok(JobKind::ReadItems { items })
        }
        "restart" => Ok(JobKind::Restart),
        "deploy-wbm-certificate" => Ok(JobKind::DeployWbmCertificate),
        "factory-reset" if request.confirm_factory_reset => Ok(JobKind::FactoryReset),
        "factory-reset" => {
            Err(bad("a factory reset erases the phones' configuration and passwords; confirm it \
             (confirm_factory_reset, or --confirm-factory-reset on the command line)"
                .into()))
        }
        other => Err(bad(format!(
            "unknown job kind {other:?} (apply-configuration, read-items, restart, factory-reset, \
             deploy-wbm-certificate, {})",
            super::deployments::KINDS.join(", ")
        ))),
    }
}

/// Why a name to read is refused: not in the catalog, unless the administrator insists.
fn unknown_item(key: &ItemKey, allow_unknown: bool) -> Option<String> {
    let catalog = Catalog::builtin();
    if allow_unknown || catalog.get(&key.name).is_some() {
        return None;
    }
    let hint = did_you_mean(&catalog.suggestions(&key.name))
        .map(|h| format!(": {h} "))
        .unwrap_or_else(|| "; ".into());
    Some(format!(
        "{} is not in the item catalog (names are case-sensitive on the phone){hint}allow_unknown \
         (--allow-unknown) reads it anyway",
        key.name
    ))
}

/// The store's selector for the devices a request names, each name checked.
fn checked_targets(targets: &Targets) -> Result<TargetSelector, super::Rejection> {
    match targets {
        Targets::Devices { macs } => {
            if macs.is_empty() {
                return Err(failure(StatusCode::BAD_REQUEST, "no devices named"));
            }
            let macs = macs.iter().map(|mac| super::parse_mac(mac)).collect::<Result<Vec<_>, _>>()?;
            Ok(TargetSelector::Devices { macs })
        }
        Targets::Group { name } => Ok(TargetSelector::Group { name: super::parse_group(name)? }),
        // `--model CP210` means the phone whose label says CP210 (`OpenScape Desk Phone CP210`).
        Targets::Query { device_type, software_version } => Ok(TargetSelector::Query {
            device_type: device_type.as_deref().map(full_model_pattern),
            software_version: software_version.clone(),
        }),
        Targets::All => Ok(TargetSelector::All),
    }
}

pub(super) async fn create_job<S: JobStore + AdminStore + FileStore>(
    State(state): State<Arc<AdminState<S>>>,
    ApiJson(request): ApiJson<JobRequest>,
) -> Answer {
    let view = start_job(&state, request).await?;
    Ok((StatusCode::CREATED, Json(view)).into_response())
}

/// Checks a job request and creates the job, for the API and the console alike; wakes the
/// scheduler.
pub(super) async fn start_job<S: JobStore + AdminStore + FileStore>(
    state: &AdminState<S>,
    request: JobRequest,
) -> Result<JobView, super::Rejection> {
    let targets = checked_targets(&request.targets)?;
    let kind = match super::deployments::KINDS.contains(&request.kind.as_str()) {
        true => super::deployments::job_kind(state, &request, &targets).await?,
        false => job_kind(&request)?,
    };
    let now = unix_now();
    let give_up = request.give_up_after_secs.unwrap_or(state.settings.give_up_after_secs).max(1);
    let rollout = rollout(&request)?;
    let give_up_at = now + give_up as i64;
    let job = NewJob { kind, targets, contact_me: request.contact_me, give_up_at, rollout };
    let Some(summary) = state.store.create_job(&job, now).await? else {
        return Err(failure(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("no known device matches {}", super::job_views::targets_of(job.targets.clone())),
        ));
    };
    tracing::info!(
        job = summary.id,
        kind = summary.kind.name(),
        targets = summary.counts.total(),
        contact_me = job.contact_me,
        "job created"
    );
    state.settings.wake.notify_one();
    Ok(job_view(summary))
}

/// The staged rollout a request asks for, if any.
fn rollout(request: &JobRequest) -> Result<Option<Rollout>, super::Rejection> {
    let bad = |message: String| failure(StatusCode::BAD_REQUEST, message);
    let share = |text: &Option<String>, what: &str| {
        text.as_deref().map(Share::parse).transpose().map_err(|why| bad(format!("{what}: {why}")))
    };
    if request.batch_size == Some(0) {
        return Err(bad("batch_size: a wave has at least one phone".into()));
    }
    let rollout = Rollout {
        canary: share(&request.canary, "canary")?,
        batch_size: request.batch_size,
        max_failures: share(&request.max_failures, "max_failures")?,
    };
    Ok((rollout != Rollout::default()).then_some(rollout))
}

pub(super) async fn pause_job<S: JobStore>(
    State(state): State<Arc<AdminState<S>>>,
    Path(id): Path<JobId>,
) -> Answer {
    let reason = "paused by an administrator".to_owned();
    match state.store.pause_job(id, unix_now(), reason).await? {
        None => Err(failure(StatusCode::NOT_FOUND, format!("no job {id}"))),
        Some(false) => {
            Err(failure(StatusCode::CONFLICT, format!("job {id} is finished, cancelled or paused already")))
        }
        Some(true) => {
            tracing::info!(job = id, "job paused");
            Ok(Json(unexplained(state.store.job(id).await?)).into_response())
        }
    }
}

pub(super) async fn resume_job<S: JobStore>(
    State(state): State<Arc<AdminState<S>>>,
    Path(id): Path<JobId>,
) -> Answer {
    match state.store.resume_job(id).await? {
        None => Err(failure(StatusCode::NOT_FOUND, format!("no job {id}"))),
        Some(false) => Err(failure(StatusCode::CONFLICT, format!("job {id} is not paused"))),
        Some(true) => {
            tracing::info!(job = id, "job resumed");
            state.settings.wake.notify_one();
            Ok(Json(unexplained(state.store.job(id).await?)).into_response())
        }
    }
}

#[derive(Deserialize)]
pub(super) struct ListQuery {
    limit: Option<u32>,
}

pub(super) async fn list_jobs<S: JobStore>(
    State(state): State<Arc<AdminState<S>>>,
    Query(query): Query<ListQuery>,
) -> Answer {
    let jobs = state.store.list_jobs(query.limit.unwrap_or(50).min(10_000)).await?;
    let jobs: Vec<JobView> = jobs.into_iter().map(job_view).collect();
    Ok(Json(jobs).into_response())
}

pub(super) async fn show_job<S: JobStore + AdminStore>(
    State(state): State<Arc<AdminState<S>>>,
    Path(id): Path<JobId>,
) -> Answer {
    Ok(Json(load_job(&state, id).await?).into_response())
}

/// A job with its targets and why each unfinished one waits (the API and the console).
pub(super) async fn load_job<S: JobStore + AdminStore>(
    state: &AdminState<S>,
    id: JobId,
) -> Result<JobDetailView, super::Rejection> {
    let Some(job) = state.store.job(id).await? else {
        return Err(failure(StatusCode::NOT_FOUND, format!("no job {id}")));
    };
    let waits = explain_waits(state, &job).await?;
    Ok(detail_view(job, waits))
}

/// A job's detail without saying why its targets wait (the answers of pause, resume, cancel).
fn unexplained(job: Option<JobDetail>) -> Option<JobDetailView> {
    job.map(|job| detail_view(job, Vec::new()))
}

/// Says for every unfinished target why it waits and until when, in target order.
async fn explain_waits<S: AdminStore>(
    state: &AdminState<S>,
    job: &JobDetail,
) -> Result<Vec<Option<Waiting>>, super::Rejection> {
    if job.summary.counts.is_finished() {
        return Ok(Vec::new());
    }
    let polling = PollingDevices::read(&*state.store).await?;
    let now = unix_now();
    let explain = |target: &JobTarget| {
        let context = WaitContext {
            now,
            contact_gap_secs: state.settings.contact_gap_secs,
            polls_every_secs: polling.interval_of(&target.mac),
        };
        waiting::explain(&job.summary, target, context)
    };
    Ok(job.targets.iter().map(explain).collect())
}

/// Which devices were told to poll DCMP (behind NAT) and how often.
struct PollingDevices {
    configuration: Option<Configuration>,
    devices: HashMap<String, DeviceSummary>,
}

impl PollingDevices {
    async fn read<S: AdminStore>(store: &S) -> Result<Self, super::Rejection> {
        let entries = store.desired_named(&[DCMP_URL_ITEM, DCMP_INTERVAL_ITEM]).await?;
        if entries.is_empty() {
            return Ok(PollingDevices { configuration: None, devices: HashMap::new() });
        }
        let devices = store.list_devices().await?.into_iter().map(|d| (d.mac.clone(), d)).collect();
        // The DCMP items are set by `behind-nat` only, never as templates: no variables needed.
        Ok(PollingDevices { configuration: Some(Configuration::new(entries, [])), devices })
    }

    fn interval_of(&self, mac: &str) -> Option<u64> {
        let configuration = self.configuration.as_ref()?;
        let facts = match self.devices.get(mac) {
            Some(device) => super::templates::facts(device),
            None => DeviceFacts::mac_only(mac),
        };
        let effective = configuration.resolve(&facts).effective();
        let url = effective.get(&ItemKey::new(DCMP_URL_ITEM, None)).map(|(v, _)| v.as_str());
        let interval =
            effective.get(&ItemKey::new(DCMP_INTERVAL_ITEM, None)).and_then(|(v, _)| v.parse().ok());
        url.filter(|url| !url.is_empty()).and(interval)
    }
}

pub(super) async fn cancel_job<S: JobStore>(
    State(state): State<Arc<AdminState<S>>>,
    Path(id): Path<JobId>,
) -> Answer {
    match state.store.cancel_job(id, unix_now()).await? {
        Some(cancelled) => {
            tracing::info!(job = id, cancelled, "job cancelled");
            Ok(Json(unexplained(state.store.job(id).await?)).into_response())
        }
        None => Err(failure(StatusCode::NOT_FOUND, format!("no job {id}"))),
    }
}

pub(super) async fn behind_nat<S: AdminStore>(
    State(state): State<Arc<AdminState<S>>>,
    ApiJson(request): ApiJson<BehindNat>,
) -> Answer {
    let scope = parse_scope(&request.scope, request.target.as_deref())?;
    let url = state.settings.dcmp_url.clone().map_err(|why| failure(StatusCode::CONFLICT, why))?;
    let interval = request.interval_secs.unwrap_or(state.settings.dcmp_poll_interval_secs).max(1);
    // An empty URL turns polling off (opendls' assumption; the item's semantics are unverified).
    let (url, interval) =
        if request.enabled { (url, interval.to_string()) } else { (String::new(), "0".into()) };
    let entries = [(DCMP_URL_ITEM, url), (DCMP_INTERVAL_ITEM, interval)].map(|(name, value)| DesiredEntry {
        scope: scope.clone(),
        key: ItemKey::new(name, None),
        value,
    });
    state.store.set_desired(&entries, unix_now()).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn item_keys_are_read_with_and_without_index() {
        assert_eq!(parse_item_key("reg-addr"), Some(ItemKey::new("reg-addr", None)));
        assert_eq!(parse_item_key("XML-app-name[1]"), Some(ItemKey::new("XML-app-name", Some(1))));
        assert_eq!(parse_item_key("x[a]"), None);
        assert_eq!(parse_item_key(""), None);
    }
}
