//! Deployment jobs as the admin API creates them: the stored files they hand to phones are
//! looked up and checked (kind, download server, reachability) before any target is queued.

use axum::http::StatusCode;
use opendls_engine::{Deployable, FileOnPhone, JobKind};
use opendls_store::{AdminStore, FileKind, FileStore, StoredFile, TargetSelector};

use super::{AdminState, Rejection, failure};
use crate::api::JobRequest;

/// The deployment job kinds.
pub const KINDS: [&str; 4] = ["deploy-firmware", "deploy-file", "deploy-files", "delete-files"];

/// The job kind a deployment request asks for, with its files looked up.
pub(super) async fn job_kind<S: AdminStore + FileStore>(
    state: &AdminState<S>,
    request: &JobRequest,
    targets: &TargetSelector,
) -> Result<JobKind, Rejection> {
    let bad = |message: String| failure(StatusCode::BAD_REQUEST, message);
    if request.files.is_empty() {
        return Err(bad(format!("{} needs at least one file (--file ID)", request.kind)));
    }
    if (request.allow_downgrade || request.immediate) && request.kind != "deploy-firmware" {
        return Err(bad("allow_downgrade and immediate are for deploy-firmware".into()));
    }
    let kind = match request.kind.as_str() {
        "delete-files" => {
            let mut files = Vec::new();
            for text in &request.files {
                files.push(file_to_delete(state, text).await?);
            }
            return Ok(JobKind::DeleteFiles { files });
        }
        "deploy-firmware" => {
            let [text] = request.files.as_slice() else {
                return Err(bad("deploy-firmware installs one image".into()));
            };
            let image = stored(state, text, FileKind::Firmware).await?;
            JobKind::DeployFirmware {
                image,
                allow_downgrade: request.allow_downgrade,
                immediate: request.immediate,
            }
        }
        "deploy-file" => {
            let [text] = request.files.as_slice() else {
                return Err(bad("deploy-file deploys one file; deploy-files several".into()));
            };
            JobKind::DeployFile { file: stored(state, text, FileKind::File).await? }
        }
        _ => {
            let mut files = Vec::new();
            for text in &request.files {
                files.push(stored(state, text, FileKind::File).await?);
            }
            JobKind::DeployFiles { files }
        }
    };
    reachable(state, targets).await?;
    Ok(kind)
}

/// A stored file of the expected kind, by number.
async fn stored<S: FileStore>(
    state: &AdminState<S>,
    text: &str,
    kind: FileKind,
) -> Result<Deployable, Rejection> {
    let Ok(id) = text.trim().parse::<i64>() else {
        return Err(failure(StatusCode::BAD_REQUEST, format!("{text:?} is not a stored file's number")));
    };
    let Some(file) = state.store.stored_file(id).await? else {
        return Err(failure(StatusCode::NOT_FOUND, format!("no stored file {id}")));
    };
    if file.file.kind != kind {
        let wanted = if kind == FileKind::Firmware { "a firmware image" } else { "a file (not firmware)" };
        return Err(failure(StatusCode::BAD_REQUEST, format!("stored file {id} is not {wanted}")));
    }
    Ok(deployable(file))
}

/// What a deployment job carries of a stored file.
pub fn deployable(file: StoredFile) -> Deployable {
    Deployable {
        file_id: file.id,
        sha256: file.file.sha256,
        on_phone: FileOnPhone { name: file.file.name, file_type: file.file.file_type },
        version: file.file.version,
        models: file.file.models,
    }
}

/// A file to delete: a stored file's number, or `TYPE:NAME` as the phone lists it.
async fn file_to_delete<S: FileStore>(state: &AdminState<S>, text: &str) -> Result<FileOnPhone, Rejection> {
    if let Some((file_type, name)) = text.split_once(':') {
        let file_type = file_type.trim().to_ascii_uppercase();
        if !super::files::FILE_TYPES.contains(&file_type.as_str()) || name.trim().is_empty() {
            let types = super::files::FILE_TYPES.join(", ");
            return Err(failure(
                StatusCode::BAD_REQUEST,
                format!("{text:?}: a file to delete is TYPE:NAME ({types})"),
            ));
        }
        return Ok(FileOnPhone { name: name.trim().to_owned(), file_type });
    }
    Ok(stored(state, text, FileKind::File).await?.on_phone)
}

/// Refuses a deployment no phone could download: no file server or public address, or a
/// loopback public address for phones elsewhere.
async fn reachable<S: AdminStore>(state: &AdminState<S>, targets: &TargetSelector) -> Result<(), Rejection> {
    let usable = state.settings.downloads.usable().map_err(|why| failure(StatusCode::CONFLICT, why))?;
    let Some(downloads) = usable.filter(|downloads| downloads.loopback) else { return Ok(()) };
    let devices = state.store.list_devices().await?;
    let far: Vec<String> = devices
        .into_iter()
        .filter(|device| targets.selects(device) && !downloads.reachable_from(device.remote_addr.as_deref()))
        .map(|device| device.mac)
        .collect();
    match far.as_slice() {
        [] => Ok(()),
        [first, ..] => Err(failure(
            StatusCode::CONFLICT,
            format!(
                "public_address is a loopback address, which {first} ({} in all) cannot reach: set public_address \
                 (--public-address, OPENDLS_PUBLIC_ADDRESS) to this host's name or address as the phones see it",
                opendls_engine::plural(far.len(), "phone")
            ),
        )),
    }
}
