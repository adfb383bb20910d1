//! The content of stored firmware images and files, in the data directory: `files/sha256/<hex>`,
//! written through `files/incoming/` and renamed into place only when complete and synced, so a
//! crash mid-upload leaves no partial file under a content name.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use aws_lc_rs::digest;
use axum::body::Body;
use http_body_util::BodyExt;
use opendls_store::FileStore;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{OwnedRwLockReadGuard, OwnedRwLockWriteGuard, RwLock};

mod tidy;

pub use tidy::{keep_tidy, tidy_once};

/// Where stored content lives.
#[derive(Debug, Clone)]
pub struct Vault {
    root: PathBuf,
    /// Orders what adds a content's name and what removes contents: an upload holds it (shared)
    /// from finding its content until its file is recorded; a removal holds it alone. Without
    /// it, a removal could delete a content an upload found already there and is recording.
    naming: Arc<RwLock<()>>,
}

/// Held by an upload until its file is recorded (or refused): no content is removed meanwhile.
#[derive(Debug)]
pub struct Adding {
    _guard: OwnedRwLockReadGuard<()>,
}

/// Held while contents are removed: no upload finds or records a content meanwhile.
#[derive(Debug)]
pub struct Removing {
    _guard: OwnedRwLockWriteGuard<()>,
}

/// A body received into the vault.
#[derive(Debug)]
pub struct Received {
    /// The content's SHA-256, lower-case hex.
    pub sha256: String,
    /// Its size in bytes.
    pub size: u64,
    /// Whether the content was not in the vault before (so removing it is safe if the upload
    /// is refused afterwards).
    pub new: bool,
    /// Keep until the file naming the content is recorded or refused.
    pub adding: Adding,
}

/// Why a body was not stored.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    /// Larger than the limit; nothing was kept.
    #[error("the upload exceeds the limit of {limit} bytes (files.max_upload_bytes)")]
    TooLarge {
        /// The limit in force.
        limit: u64,
    },
    /// The body was empty.
    #[error("the upload is empty")]
    Empty,
    /// The client's body broke off.
    #[error("the upload broke off: {0}")]
    Body(String),
    /// The disk refused.
    #[error("cannot store the upload: {0}")]
    Io(#[from] std::io::Error),
}

impl Vault {
    /// The vault under `data_dir`, created private if needed; leftovers of interrupted uploads
    /// are removed.
    pub fn open(data_dir: &Path) -> Result<Vault, crate::data_dir::NotPrivate> {
        let root = data_dir.join("files");
        let incoming = root.join("incoming");
        if incoming.exists() {
            std::fs::remove_dir_all(&incoming)
                .map_err(|source| crate::data_dir::NotPrivate { path: incoming.clone(), source })?;
        }
        crate::data_dir::make_private(&root.join("sha256"))?;
        crate::data_dir::make_private(&incoming)?;
        Ok(Vault { root, naming: Arc::new(RwLock::new(())) })
    }

    /// Waits until no upload is between finding its content and recording its file, and keeps
    /// uploads from getting there until the returned guard is dropped.
    pub async fn removing(&self) -> Removing {
        Removing { _guard: self.naming.clone().write_owned().await }
    }

    /// The path of a content, if `sha256` is a well-formed name and the content is there.
    pub fn path(&self, sha256: &str) -> Option<PathBuf> {
        let path = self.root.join("sha256").join(sha256);
        (is_content_name(sha256) && path.is_file()).then_some(path)
    }

    /// The path of a content: this node's copy, else (on a database several nodes share) the
    /// copy the database keeps, fetched into the vault and checked against its name first.
    /// `None` when neither has it.
    pub async fn local_or_shared<S: FileStore>(
        &self,
        store: &S,
        sha256: &str,
    ) -> std::io::Result<Option<PathBuf>> {
        if let Some(path) = self.path(sha256) {
            return Ok(Some(path));
        }
        if !is_content_name(sha256) || !store.shares_content() {
            return Ok(None);
        }
        let partial = self.root.join("incoming").join(random_name()?);
        let kept = match store.fetch_content(sha256, &partial).await {
            Ok(kept) => kept,
            Err(error) => {
                let _ = tokio::fs::remove_file(&partial).await;
                return Err(std::io::Error::other(error.to_string()));
            }
        };
        if !kept {
            return Ok(None);
        }
        let hash = hash_of(&partial).await;
        if hash.as_deref().ok() != Some(sha256) {
            let _ = tokio::fs::remove_file(&partial).await;
            let found = hash?;
            tracing::error!(sha256, %found, "the database's copy of a content does not match its name");
            return Ok(None);
        }
        tokio::fs::rename(&partial, self.root.join("sha256").join(sha256)).await?;
        sync_dir(&self.root.join("sha256")).await?;
        tracing::info!(sha256, "a stored file's content was fetched from the database");
        Ok(self.path(sha256))
    }

    /// Streams a body to disk, hashing it on the way; at most `limit` bytes.
    pub async fn receive(&self, body: Body, limit: u64) -> Result<Received, VaultError> {
        let partial = self.root.join("incoming").join(random_name()?);
        let received = self.write_partial(&partial, body, limit).await;
        let (sha256, size) = match received {
            Ok(done) => done,
            Err(error) => {
                let _ = tokio::fs::remove_file(&partial).await;
                return Err(error);
            }
        };
        let adding = Adding { _guard: self.naming.clone().read_owned().await };
        let target = self.root.join("sha256").join(&sha256);
        let new = !target.exists();
        if new {
            tokio::fs::rename(&partial, &target).await?;
            sync_dir(&self.root.join("sha256")).await?;
        } else {
            tokio::fs::remove_file(&partial).await?;
        }
        Ok(Received { sha256, size, new, adding })
    }

    async fn write_partial(
        &self,
        partial: &Path,
        mut body: Body,
        limit: u64,
    ) -> Result<(String, u64), VaultError> {
        let mut options = tokio::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        options.mode(0o600);
        let mut file = options.open(partial).await?;
        let mut hash = digest::Context::new(&digest::SHA256);
        let mut size = 0u64;
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| VaultError::Body(e.to_string()))?;
            let Ok(data) = frame.into_data() else { continue };
            size += data.len() as u64;
            if size > limit {
                drop(file);
                let _ = tokio::fs::remove_file(partial).await;
                discard(body, limit).await;
                return Err(VaultError::TooLarge { limit });
            }
            hash.update(&data);
            file.write_all(&data).await?;
        }
        if size == 0 {
            return Err(VaultError::Empty);
        }
        file.sync_all().await?;
        Ok((hex::encode(hash.finish().as_ref()), size))
    }

    /// Undoes an upload whose file was refused or could not be shared: deletes its content if
    /// the upload brought it and no stored file names it now (another upload of the same bytes
    /// may have found it here meanwhile).
    pub async fn undo_upload<S: FileStore>(&self, store: &S, received: Received) {
        let Received { sha256, new, adding, .. } = received;
        drop(adding);
        if !new {
            return;
        }
        let removing = self.removing().await;
        match store.stored_files(None).await {
            Ok(files) if files.iter().any(|file| file.file.sha256 == sha256) => {}
            Ok(_) => {
                if let Err(error) = self.remove(&sha256, &removing).await {
                    tracing::warn!(%error, %sha256, "a refused upload's content stays on disk");
                }
            }
            Err(error) => tracing::warn!(%error, %sha256, "a refused upload's content stays on disk"),
        }
    }

    /// Deletes a content no stored file names any more; the caller holds [`Vault::removing`].
    pub async fn remove(&self, sha256: &str, _held: &Removing) -> std::io::Result<()> {
        match self.path(sha256) {
            Some(path) => tokio::fs::remove_file(path).await,
            None => Ok(()),
        }
    }
}

/// Gives the database every stored file's content this node holds and the database lacks (on a
/// backend several nodes share): what was uploaded before the nodes shared a database
/// (`opendls migrate`), or while sharing failed. Run once at start; failures are logged, and
/// the next start tries again.
pub async fn share_held<S: FileStore>(vault: Arc<Vault>, store: Arc<S>) {
    if !store.shares_content() {
        return;
    }
    let files = match store.stored_files(None).await {
        Ok(files) => files,
        Err(error) => {
            tracing::warn!(%error, "stored files could not be listed to share their content");
            return;
        }
    };
    let mut contents: Vec<String> = files.into_iter().map(|file| file.file.sha256).collect();
    contents.sort();
    contents.dedup();
    let (mut offered, mut failed) = (0, 0);
    for sha256 in contents {
        let Some(path) = vault.path(&sha256) else { continue };
        offered += 1;
        if let Err(error) = store.share_content(&sha256, &path).await {
            failed += 1;
            tracing::warn!(%error, %sha256, "a stored file's content could not be shared with the other nodes");
        }
    }
    tracing::debug!(offered, failed, "stored contents offered to the shared database");
}

/// Whether `sha256` is a content's name: 64 lower-case hex digits (nothing that walks a path).
fn is_content_name(sha256: &str) -> bool {
    sha256.len() == 64 && sha256.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// A name no other file in `incoming/` has.
fn random_name() -> std::io::Result<String> {
    let mut name = [0u8; 16];
    getrandom::fill(&mut name).map_err(|e| std::io::Error::other(e.to_string()))?;
    Ok(hex::encode(name))
}

/// The SHA-256 of a file, lower-case hex, read in chunks.
async fn hash_of(path: &Path) -> std::io::Result<String> {
    let mut file = tokio::fs::File::open(path).await?;
    let mut hash = digest::Context::new(&digest::SHA256);
    let mut buffer = vec![0u8; 256 * 1024];
    loop {
        match file.read(&mut buffer).await? {
            0 => return Ok(hex::encode(hash.finish().as_ref())),
            read => hash.update(&buffer[..read]),
        }
    }
}

/// Reads and drops up to `limit` more bytes of a body that is refused, so a client still
/// sending is listening when the refusal comes (one writing into a closed connection sees only
/// a broken pipe). The admin API's request deadline bounds the time this takes.
pub async fn discard(mut body: Body, limit: u64) {
    let mut read = 0u64;
    while read <= limit {
        match body.frame().await {
            Some(Ok(frame)) => read += frame.data_ref().map_or(0, |d| d.len() as u64),
            _ => return,
        }
    }
}

/// Makes a rename durable.
async fn sync_dir(dir: &Path) -> std::io::Result<()> {
    let dir = dir.to_owned();
    tokio::task::spawn_blocking(move || std::fs::File::open(dir)?.sync_all())
        .await
        .map_err(|e| std::io::Error::other(e.to_string()))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn content_is_named_by_its_hash_and_limits_hold() {
        let dir = tempfile::tempdir().unwrap();
        let vault = Vault::open(dir.path()).unwrap();
        let received = vault.receive(Body::from("abc"), 10).await.unwrap();
        // SHA-256 of "abc" (FIPS 180-2 example).
        assert_eq!(received.sha256, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert_eq!((received.size, received.new), (3, true));
        assert!(!vault.receive(Body::from("abc"), 10).await.unwrap().new);
        assert_eq!(std::fs::read(vault.path(&received.sha256).unwrap()).unwrap(), b"abc");
        assert!(matches!(
            vault.receive(Body::from("0123456789ab"), 10).await,
            Err(VaultError::TooLarge { limit: 10 })
        ));
        assert!(matches!(vault.receive(Body::empty(), 10).await, Err(VaultError::Empty)));
        assert_eq!(std::fs::read_dir(dir.path().join("files/incoming")).unwrap().count(), 0, "no leftovers");
        assert!(vault.path("../../etc/passwd").is_none());
        let sha256 = received.sha256.clone();
        drop(received);
        vault.remove(&sha256, &vault.removing().await).await.unwrap();
        assert!(vault.path(&sha256).is_none());
    }

    /// An upload that found its content holds off removals until its file is recorded.
    #[tokio::test]
    async fn removals_wait_for_uploads_between_finding_and_recording() {
        let dir = tempfile::tempdir().unwrap();
        let vault = Vault::open(dir.path()).unwrap();
        let first = vault.receive(Body::from("abc"), 10).await.unwrap();
        let second = vault.receive(Body::from("abc"), 10).await.unwrap();
        assert!(!second.new, "uploads go on side by side");
        let zero = std::time::Duration::ZERO;
        drop(first);
        assert!(tokio::time::timeout(zero, vault.removing()).await.is_err(), "one upload still holds");
        drop(second);
        assert!(tokio::time::timeout(zero, vault.removing()).await.is_ok(), "no upload holds");
    }
}
