//! The firmware images and files an administrator added, for deployment to phones. The store
//! keeps what each is (name, type, version, models, content hash and size); the content lives
//! in the data directory, named by its SHA-256.

use std::future::Future;
use std::path::Path;

use opendls_engine::Timestamp;
use serde::{Deserialize, Serialize};

use crate::StoreResult;

pub use opendls_engine::FileKind;

/// A stored file's kind as its column holds it, read back.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) fn kind_from_column(text: &str) -> crate::StoreResult<FileKind> {
    match text {
        "firmware" => Ok(FileKind::Firmware),
        "file" => Ok(FileKind::File),
        other => Err(crate::StoreError::Corrupt(format!("unknown stored file kind {other:?}"))),
    }
}

/// A file to add.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewStoredFile {
    /// What it is for.
    pub kind: FileKind,
    /// Its `file-type` (p. 177): `APP` for firmware, else `RINGTONE`, `LOGO`, …
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
}

/// A stored file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredFile {
    /// Its number.
    pub id: i64,
    /// What it was added as.
    #[serde(flatten)]
    pub file: NewStoredFile,
    /// When it was added.
    pub added_at: Timestamp,
}

/// What removing a stored file did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileRemoval {
    /// Removed; `last_copy` says the content is no longer named by any row and may be deleted.
    Removed {
        /// Whether no other row has the same content.
        last_copy: bool,
    },
    /// There is no such file.
    NotFound,
    /// Unfinished jobs hand it to phones, or a firmware pin names it: nothing was removed.
    InUse {
        /// The unfinished jobs.
        jobs: Vec<i64>,
        /// The model patterns (and groups) whose firmware pin names it.
        pins: Vec<String>,
    },
}

/// The catalogue of stored files.
pub trait FileStore: Send + Sync + 'static {
    /// Adds a file; a name already used within its kind is a [`crate::StoreError::Conflict`].
    fn add_stored_file(
        &self,
        file: NewStoredFile,
        now: Timestamp,
    ) -> impl Future<Output = StoreResult<StoredFile>> + Send;
    /// The stored files of a kind (all when `None`), newest first.
    fn stored_files(
        &self,
        kind: Option<FileKind>,
    ) -> impl Future<Output = StoreResult<Vec<StoredFile>>> + Send;
    /// One stored file.
    fn stored_file(&self, id: i64) -> impl Future<Output = StoreResult<Option<StoredFile>>> + Send;
    /// Removes a stored file's row, unless an unfinished job uses it.
    fn remove_stored_file(&self, id: i64) -> impl Future<Output = StoreResult<FileRemoval>> + Send;

    /// Whether the database keeps a copy of every stored file's content for the nodes that
    /// share it. Each node serves content from its own data directory; a node that lacks a
    /// content fetches it from here. A backend only one node uses (SQLite) keeps none, and the
    /// content methods below do nothing there.
    fn shares_content(&self) -> bool {
        false
    }

    /// Keeps the content of the file at `path`, whose SHA-256 is `sha256` (lower-case hex),
    /// unless it is kept already. Nothing is kept unless all of it is.
    fn share_content(&self, sha256: &str, path: &Path) -> impl Future<Output = StoreResult<()>> + Send {
        let _ = (sha256, path);
        async { Ok(()) }
    }

    /// Writes the kept content `sha256` into `into` (a file this creates); `false` when none is
    /// kept. The caller checks the hash before it uses the file.
    fn fetch_content(&self, sha256: &str, into: &Path) -> impl Future<Output = StoreResult<bool>> + Send {
        let _ = (sha256, into);
        async { Ok(false) }
    }

    /// Forgets a kept content no stored file names any more, and lists it among the
    /// [`FileStore::removed_contents`].
    fn forget_content(&self, sha256: &str) -> impl Future<Output = StoreResult<()>> + Send {
        let _ = sha256;
        async { Ok(()) }
    }

    /// Contents whose last stored file was removed, on any node, and that no stored file names
    /// now: each node deletes its own copy. A content uploaded again leaves the list. Only
    /// what is listed is ever deleted, so a node started on the wrong database deletes nothing.
    fn removed_contents(&self) -> impl Future<Output = StoreResult<Vec<String>>> + Send {
        async { Ok(Vec::new()) }
    }
}
