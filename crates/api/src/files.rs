//! Stored firmware images and files, firmware pins: `GET /api/files`, `POST /api/files`,
//! `GET /api/files/{id}/url`, `GET|PUT|DELETE /api/firmware/pins`.

pub use opendls_engine::FileKind;
use opendls_engine::{JobId, Timestamp};
use serde::{Deserialize, Serialize};

/// A stored firmware image or file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredFileView {
    /// Its number.
    pub id: i64,
    /// What it is for.
    pub kind: FileKind,
    /// Its `file-type` (guide p. 177): `APP` for firmware, else `RINGTONE`, `LOGO`, …
    pub file_type: String,
    /// The `file-name` phones are given; unique within its kind.
    pub name: String,
    /// The content's SHA-256, lower-case hex.
    pub sha256: String,
    /// The content's size in bytes.
    pub size: u64,
    /// A firmware image's version, as phones report it (`V3 R5.12.0`).
    pub version: Option<String>,
    /// The model patterns a firmware image is for (`OpenStage 60`, `CP4*`); empty: any.
    pub models: Vec<String>,
    /// When it was added.
    pub added_at: Timestamp,
}

/// A download URL for one device and file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DownloadUrl {
    /// The URL (`file-https-base-url`, guide p. 53), token included.
    pub url: String,
    /// When its token expires (Unix time).
    pub expires_at: i64,
}

/// Body of `PUT /api/firmware/pins`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PinRequest {
    /// The model (`OpenStage 60`, `CP410`, `CP4*`).
    pub model: String,
    /// Only phones of this group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// The version (`V3 R5.12.0`, `V3R5.12.0`, `3.5.12.0`): the stored image of that version
    /// for the model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Or the stored image by number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<i64>,
    /// Install it on phones that run a newer version too.
    #[serde(default)]
    pub allow_downgrade: bool,
}

/// A firmware pin in force.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PinView {
    /// The model pattern.
    pub model: String,
    /// The group, if the pin is for one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// The stored image.
    pub file_id: i64,
    /// Its version.
    pub version: String,
    /// Whether newer phones are downgraded.
    pub allow_downgrade: bool,
    /// The standing job that deploys it (`opendls job show ID`).
    pub job_id: JobId,
    /// When it was set.
    pub set_at: Timestamp,
}
