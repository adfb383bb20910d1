//! `/api/firmware/pins`: desired firmware per model (and group). A pin names a stored image;
//! phones of the model that run another version get it at their next contact.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use opendls_store::{FileKind, FileStore, FirmwarePin, JobStore, NewPin, StoredFile};
use opendls_wpi::firmware::FirmwareVersion;
use opendls_wpi::models::{fits_model, models_matching};
use serde::Deserialize;

use super::body::ApiJson;
use super::{AdminState, Answer, Rejection, failure};
use crate::api::{PinRequest, PinView};
use crate::phone::unix_now;

/// Which pin `DELETE /api/firmware/pins` removes.
#[derive(Debug, Deserialize)]
pub(super) struct PinQuery {
    model: String,
    group: Option<String>,
}

pub(super) async fn list<S: JobStore>(State(state): State<Arc<AdminState<S>>>) -> Answer {
    let pins: Vec<PinView> = state.store.firmware_pins().await?.into_iter().map(pin_view).collect();
    Ok(Json(pins).into_response())
}

pub(super) async fn set<S: JobStore + FileStore>(
    State(state): State<Arc<AdminState<S>>>,
    ApiJson(request): ApiJson<PinRequest>,
) -> Answer {
    let bad = |message: String| failure(StatusCode::BAD_REQUEST, message);
    let (model, known) = models_matching(&request.model).map_err(|why| bad(format!("model {why}")))?;
    let group = request.group.as_deref().map(super::parse_group).transpose()?;
    state.settings.downloads.usable().map_err(|why| failure(StatusCode::CONFLICT, why))?;
    let images = state.store.stored_files(Some(FileKind::Firmware)).await?;
    let image = match (request.file, request.version.as_deref()) {
        (Some(id), _) => images
            .into_iter()
            .find(|i| i.id == id)
            .ok_or_else(|| bad(format!("no stored firmware image {id}")))?,
        (None, Some(text)) => {
            by_version(images, text, &known.iter().map(|m| m.device_type()).collect::<Vec<_>>())?
        }
        (None, None) => {
            return Err(bad("name the version (V3 R5.12.0) or the stored image (--file ID)".into()));
        }
    };
    let pin = NewPin {
        model,
        group,
        image: super::deployments::deployable(image),
        allow_downgrade: request.allow_downgrade,
    };
    let pin = state.store.set_firmware_pin(pin, unix_now()).await?;
    tracing::info!(model = %pin.model, group = pin.group.as_deref().unwrap_or("-"), version = %pin.version,
        job = pin.job_id, "firmware pinned");
    state.settings.wake.notify_one();
    Ok(Json(pin_view(pin)).into_response())
}

/// The one stored image of `version` made for every model the pin names.
fn by_version(images: Vec<StoredFile>, text: &str, models: &[String]) -> Result<StoredFile, Rejection> {
    let Some(version) = FirmwareVersion::parse(text) else {
        return Err(failure(
            StatusCode::BAD_REQUEST,
            format!("{text:?} is not a firmware version like V3 R5.12.0"),
        ));
    };
    let fits = |image: &StoredFile| models.iter().all(|model| fits_model(&image.file.models, model));
    let mut matching: Vec<StoredFile> = images
        .into_iter()
        .filter(|image| image.file.version.as_deref().and_then(FirmwareVersion::parse) == Some(version))
        .filter(fits)
        .collect();
    match matching.len() {
        1 => Ok(matching.remove(0)),
        0 => Err(failure(
            StatusCode::NOT_FOUND,
            format!(
                "no stored image of {version} for {}: add one (opendls firmware add FILE)",
                models.join(", ")
            ),
        )),
        _ => {
            let ids: Vec<String> = matching.iter().map(|i| i.id.to_string()).collect();
            Err(failure(
                StatusCode::CONFLICT,
                format!("several stored images are {version} ({}): name one with --file ID", ids.join(", ")),
            ))
        }
    }
}

pub(super) async fn remove<S: JobStore>(
    State(state): State<Arc<AdminState<S>>>,
    Query(query): Query<PinQuery>,
) -> Answer {
    let model = opendls_wpi::models::full_model_pattern(&query.model);
    let group = query.group.filter(|g| !g.is_empty());
    match state.store.remove_firmware_pin(model.clone(), group, unix_now()).await? {
        Some(pin) => {
            tracing::info!(model = %pin.model, job = pin.job_id, "firmware pin removed");
            Ok(Json(pin_view(pin)).into_response())
        }
        None => Err(failure(StatusCode::NOT_FOUND, format!("no firmware pin for {model}"))),
    }
}

/// A firmware pin as the API shows it.
fn pin_view(pin: FirmwarePin) -> PinView {
    let FirmwarePin { model, group, file_id, version, allow_downgrade, job_id, set_at } = pin;
    PinView { model, group, file_id, version, allow_downgrade, job_id, set_at }
}
