//! `/api/files`: firmware images and files for phones. An upload is streamed to disk and named
//! by its SHA-256; what it is (type, name, version, models) is checked before it is recorded.

use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use opendls_store::{AdminStore, FileKind, FileRemoval, FileStore, NewStoredFile, StoreError, StoredFile};
use opendls_wpi::firmware::FirmwareVersion;
use opendls_wpi::models::{fits_model, models_matching};
use serde::Deserialize;

use super::body::ApiJson;
use super::{AdminState, Answer, Rejection, failure};
use crate::api::{DownloadUrl, StoredFileView};
use crate::vault::VaultError;

/// How long a download URL is valid unless asked otherwise.
pub const DEFAULT_URL_VALIDITY_SECS: u64 = 24 * 3600;

/// A request for a download URL.
#[derive(Debug, Deserialize)]
pub(super) struct UrlRequest {
    /// The device that may use it.
    mac: String,
    /// Seconds it stays valid (default one day, at most 30 days).
    valid_secs: Option<u64>,
}

/// The `file-type` values of a `FileDeployment` (guide p. 53-55, 177); `APP` is firmware.
pub const FILE_TYPES: [&str; 6] = ["RINGTONE", "LOGO", "PIC", "SCREENSAVER", "MOH", "LDAP"];

/// What an upload says it is.
#[derive(Debug, Deserialize)]
pub(super) struct Upload {
    kind: FileKind,
    /// The `file-name` phones are given.
    name: String,
    /// For files: RINGTONE, LOGO, ...
    #[serde(rename = "type")]
    file_type: Option<String>,
    /// For firmware: the version, when the image's name does not give it.
    version: Option<String>,
    /// Model patterns, comma-separated.
    models: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(super) struct FileQuery {
    kind: Option<FileKind>,
}

/// Checks what an upload says it is, before its body is read.
fn described(upload: Upload) -> Result<NewStoredFile, Rejection> {
    let bad = |message: String| failure(StatusCode::BAD_REQUEST, message);
    let name = upload.name.trim().to_owned();
    let usable = !name.is_empty()
        && name.len() <= 255
        && !name.starts_with('.')
        && !name.chars().any(|c| c.is_control() || matches!(c, '/' | '\\'));
    if !usable {
        return Err(bad(format!(
            "{:?} is not a usable file name (no path, at most 255 characters)",
            upload.name
        )));
    }
    let models = model_patterns(upload.models.as_deref())?;
    let (file_type, version) = match upload.kind {
        FileKind::Firmware => {
            if upload.file_type.as_deref().is_some_and(|t| t != "APP") {
                return Err(bad("firmware images are of type APP (guide p. 57)".into()));
            }
            let version = match upload.version.as_deref() {
                Some(text) => FirmwareVersion::parse(text).ok_or_else(|| {
                    bad(format!("{text:?} is not a firmware version like V3 R5.12.0 or 3.5.12.0"))
                })?,
                None => FirmwareVersion::from_image_name(&name).ok_or_else(|| {
                    bad(format!(
                        "{name:?} does not name its version (as OS_80_SIP_V1_R4_9_0.img does): give --version"
                    ))
                })?,
            };
            ("APP".to_owned(), Some(version.to_string()))
        }
        FileKind::File => {
            let file_type = upload.file_type.unwrap_or_default().to_ascii_uppercase();
            if !FILE_TYPES.contains(&file_type.as_str()) {
                return Err(bad(format!("a file's type is one of {}", FILE_TYPES.join(", "))));
            }
            if upload.version.is_some() {
                return Err(bad("only firmware images have a version".into()));
            }
            (file_type, None)
        }
    };
    Ok(NewStoredFile { kind: upload.kind, file_type, name, sha256: String::new(), size: 0, version, models })
}

/// `CP4*`, `OpenStage 60`: each must match a known model, and is kept in its full form.
fn model_patterns(text: Option<&str>) -> Result<Vec<String>, Rejection> {
    let patterns = text.unwrap_or_default().split(',').map(str::trim).filter(|p| !p.is_empty());
    patterns
        .map(|pattern| match models_matching(pattern) {
            Ok((full, _)) => Ok(full),
            Err(why) => Err(failure(StatusCode::BAD_REQUEST, format!("model {why}"))),
        })
        .collect()
}

pub(super) async fn upload<S: FileStore>(
    State(state): State<Arc<AdminState<S>>>,
    Query(upload): Query<Upload>,
    body: Body,
) -> Answer {
    let mut file = match described(upload) {
        Ok(file) => file,
        Err(rejection) => {
            // Read the body anyway (up to the limit), so the client hears why.
            crate::vault::discard(body, state.settings.max_upload_bytes).await;
            return Err(rejection);
        }
    };
    let vault = &state.settings.vault;
    let received =
        vault.receive(body, state.settings.max_upload_bytes).await.map_err(|error| match error {
            VaultError::TooLarge { .. } => failure(StatusCode::PAYLOAD_TOO_LARGE, error.to_string()),
            VaultError::Empty | VaultError::Body(_) => failure(StatusCode::BAD_REQUEST, error.to_string()),
            VaultError::Io(cause) => {
                tracing::error!(%cause, "an upload could not be stored");
                failure(StatusCode::INTERNAL_SERVER_ERROR, format!("cannot store the upload: {cause}"))
            }
        })?;
    (file.sha256, file.size) = (received.sha256.clone(), received.size);
    match state.store.add_stored_file(file, crate::phone::unix_now()).await {
        Ok(stored) => {
            share(&state, &stored, received).await?;
            tracing::info!(id = stored.id, kind = stored.file.kind.as_str(), name = %stored.file.name,
                sha256 = %stored.file.sha256, size = stored.file.size, "file stored");
            Ok((StatusCode::CREATED, Json(file_view(stored))).into_response())
        }
        Err(StoreError::Conflict(why)) => {
            vault.undo_upload(state.store.as_ref(), received).await;
            Err(failure(StatusCode::CONFLICT, why))
        }
        Err(error) => {
            vault.undo_upload(state.store.as_ref(), received).await;
            Err(error.into())
        }
    }
}

/// Gives an upload's content to the database when nodes share it, so that every node can serve
/// it. Recorded first, shared second: a node removing the same content's last file meanwhile
/// keeps it, since a file names it again. Unless it is shared, the upload is undone.
async fn share<S: FileStore>(
    state: &AdminState<S>,
    stored: &StoredFile,
    received: crate::vault::Received,
) -> Result<(), Rejection> {
    if !state.store.shares_content() {
        return Ok(());
    }
    let sha256 = &stored.file.sha256;
    let shared = match state.settings.vault.path(sha256) {
        Some(path) => state.store.share_content(sha256, &path).await,
        None => Err(StoreError::Internal("the upload's content vanished from the data directory".into())),
    };
    let Err(cause) = shared else { return Ok(()) };
    tracing::error!(%cause, id = stored.id, %sha256, "an upload could not be shared with the other nodes; undone");
    let _ = state.store.remove_stored_file(stored.id).await;
    state.settings.vault.undo_upload(state.store.as_ref(), received).await;
    Err(failure(
        StatusCode::SERVICE_UNAVAILABLE,
        format!("the upload could not be given to the other nodes through the database: {cause}"),
    ))
}

pub(super) async fn list<S: FileStore>(
    State(state): State<Arc<AdminState<S>>>,
    Query(query): Query<FileQuery>,
) -> Answer {
    let files: Vec<StoredFileView> =
        state.store.stored_files(query.kind).await?.into_iter().map(file_view).collect();
    Ok(Json(files).into_response())
}

pub(super) async fn show<S: FileStore>(
    State(state): State<Arc<AdminState<S>>>,
    Path(id): Path<i64>,
) -> Answer {
    match state.store.stored_file(id).await? {
        Some(file) => Ok(Json(file_view(file)).into_response()),
        None => Err(failure(StatusCode::NOT_FOUND, format!("no stored file {id}"))),
    }
}

pub(super) async fn remove<S: FileStore>(
    State(state): State<Arc<AdminState<S>>>,
    Path(id): Path<i64>,
) -> Answer {
    let Some(file) = state.store.stored_file(id).await? else {
        return Err(failure(StatusCode::NOT_FOUND, format!("no stored file {id}")));
    };
    // Held until the content is gone, so that an upload of the same content waits and finds none.
    let removing = state.settings.vault.removing().await;
    match state.store.remove_stored_file(id).await? {
        FileRemoval::NotFound => Err(failure(StatusCode::NOT_FOUND, format!("no stored file {id}"))),
        FileRemoval::InUse { jobs, pins } => {
            let kind = file.file.kind.as_str();
            let message = match pins.is_empty() {
                true => {
                    let jobs: Vec<String> = jobs.iter().map(i64::to_string).collect();
                    format!(
                        "{kind} {id} is used by unfinished job {}: cancel the job (opendls job cancel ID) or let it finish first",
                        jobs.join(", ")
                    )
                }
                false => format!(
                    "{kind} {id} is pinned for {}: unpin it first (opendls firmware unpin --model …)",
                    pins.join(", ")
                ),
            };
            Err(failure(StatusCode::CONFLICT, message))
        }
        FileRemoval::Removed { last_copy } => {
            if last_copy && let Err(cause) = state.settings.vault.remove(&file.file.sha256, &removing).await {
                tracing::warn!(%cause, sha256 = %file.file.sha256, "a removed file's content stays on disk");
            }
            if last_copy && let Err(cause) = state.store.forget_content(&file.file.sha256).await {
                tracing::warn!(%cause, sha256 = %file.file.sha256, "a removed file's content stays in the database");
            }
            tracing::info!(id, name = %file.file.name, "file removed");
            Ok(Json(file_view(file)).into_response())
        }
    }
}

/// `POST /api/files/{id}/url`: a URL the device can download the file from, until it expires.
pub(super) async fn download_url<S: FileStore + AdminStore>(
    State(state): State<Arc<AdminState<S>>>,
    Path(id): Path<i64>,
    ApiJson(request): ApiJson<UrlRequest>,
) -> Answer {
    let downloads = state
        .settings
        .downloads
        .builtin
        .as_ref()
        .map_err(|why| failure(StatusCode::CONFLICT, why.clone()))?;
    let mac = super::parse_mac(&request.mac)?;
    let Some(file) = state.store.stored_file(id).await? else {
        return Err(failure(StatusCode::NOT_FOUND, format!("no stored file {id}")));
    };
    let Some(device) = state.store.device(&mac).await? else {
        return Err(failure(StatusCode::NOT_FOUND, format!("no device {mac} is known")));
    };
    if !downloads.reachable_from(device.remote_addr.as_deref()) {
        let message = format!(
            "public_address is a loopback address, which {mac} cannot reach: set it to this host's name or address as the phones see it"
        );
        return Err(failure(StatusCode::CONFLICT, message));
    }
    let model = device.device_type.as_deref().unwrap_or("an unknown model");
    let fits = fits_model(&file.file.models, model);
    if !fits {
        let message = format!(
            "{} {id} is for {}; {mac} is {model}",
            file.file.kind.as_str(),
            file.file.models.join(", ")
        );
        return Err(failure(StatusCode::CONFLICT, message));
    }
    let valid = request.valid_secs.unwrap_or(DEFAULT_URL_VALIDITY_SECS).clamp(60, 30 * 24 * 3600);
    let expires_at = crate::phone::unix_now() + valid as i64;
    let url = downloads.url(&mac, &super::deployments::deployable(file), expires_at);
    Ok(Json(DownloadUrl { url, expires_at }).into_response())
}

/// A stored file as the API shows it.
pub(super) fn file_view(stored: StoredFile) -> StoredFileView {
    let StoredFile { id, file, added_at } = stored;
    let NewStoredFile { kind, file_type, name, sha256, size, version, models } = file;
    StoredFileView { id, kind, file_type, name, sha256, size, version, models, added_at }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upload(kind: FileKind, name: &str) -> Upload {
        Upload { kind, name: name.into(), file_type: None, version: None, models: None }
    }

    #[test]
    fn firmware_versions_come_from_the_name_or_are_given() {
        // guide p. 57
        let image = described(upload(FileKind::Firmware, "OS_80_SIP_V1_R4_9_0.img")).unwrap();
        assert_eq!((image.file_type.as_str(), image.version.as_deref()), ("APP", Some("V1 R4.9.0")));
        let unnamed = described(upload(FileKind::Firmware, "cp210.img"));
        assert!(unnamed.unwrap_err().1.contains("give --version"));
        let given =
            described(Upload { version: Some("1.6.7.0".into()), ..upload(FileKind::Firmware, "cp210.img") });
        assert_eq!(given.unwrap().version.as_deref(), Some("V1 R6.7.0"));
    }

    #[test]
    fn files_need_a_known_type_and_a_plain_name() {
        let ringtone = Upload { file_type: Some("ringtone".into()), ..upload(FileKind::File, "ring.wav") };
        assert_eq!(described(ringtone).unwrap().file_type, "RINGTONE");
        let untyped = described(upload(FileKind::File, "ring.wav")).unwrap_err();
        assert!(untyped.1.contains("RINGTONE, LOGO, PIC, SCREENSAVER, MOH, LDAP"), "{}", untyped.1);
        for name in ["../x", "a/b", "", ".hidden", "a\nb"] {
            let typed = Upload { file_type: Some("LOGO".into()), ..upload(FileKind::File, name) };
            assert!(described(typed).is_err(), "{name:?}");
        }
    }

    #[test]
    fn models_are_known_ones_in_full() {
        let image = Upload {
            models: Some("CP4*, OpenStage 60".into()),
            ..upload(FileKind::Firmware, "OS_60_SIP_V3_R5_12_0.img")
        };
        assert_eq!(described(image).unwrap().models, ["OpenScape Desk Phone CP4*", "OpenStage 60"]);
        let unknown =
            Upload { models: Some("T46".into()), ..upload(FileKind::Firmware, "OS_60_SIP_V3_R5_12_0.img") };
        assert!(described(unknown).unwrap_err().1.contains("matches no known model"));
    }
}
