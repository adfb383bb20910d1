//! The content of stored firmware images and files, in the data directory: `files/sha256/<hex>`,
//! written through `files/incoming/` and renamed into place only when complete and synced, so a
//! crash mid-upload leaves no partial file under a content name.

use std::path::{Path, PathBuf};

use aws_lc_rs::digest;
use axum::body::Body;
use http_body_util::BodyExt;
use tokio::io::AsyncWriteExt;

/// Where stored content lives.
#[derive(Debug, Clone)]
pub struct Vault {
    root: PathBuf,
}

/// A body received into the vault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// The content's SHA-256, lower-case hex.
    pub sha256: String,
    /// Its size in bytes.
    pub size: u64,
    /// Whether the content was not in the vault before (so removing it is safe if the upload
    /// is refused afterwards).
    pub new: bool,
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
        Ok(Vault { root })
    }

    /// The path of a content, if `sha256` is a well-formed name and the content is there.
    pub fn path(&self, sha256: &str) -> Option<PathBuf> {
        let well_formed =
            sha256.len() == 64 && sha256.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        let path = self.root.join("sha256").join(sha256);
        (well_formed && path.is_file()).then_some(path)
    }

    /// Streams a body to disk, hashing it on the way; at most `limit` bytes.
    pub async fn receive(&self, body: Body, limit: u64) -> Result<Received, VaultError> {
        let mut name = [0u8; 16];
        getrandom::fill(&mut name).map_err(|e| std::io::Error::other(e.to_string()))?;
        let partial = self.root.join("incoming").join(hex::encode(name));
        let received = self.write_partial(&partial, body, limit).await;
        let (sha256, size) = match received {
            Ok(done) => done,
            Err(error) => {
                let _ = tokio::fs::remove_file(&partial).await;
                return Err(error);
            }
        };
        let target = self.root.join("sha256").join(&sha256);
        let new = !target.exists();
        if new {
            tokio::fs::rename(&partial, &target).await?;
            sync_dir(&self.root.join("sha256")).await?;
        } else {
            tokio::fs::remove_file(&partial).await?;
        }
        Ok(Received { sha256, size, new })
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

    /// Deletes a content no stored file names any more.
    pub async fn remove(&self, sha256: &str) -> std::io::Result<()> {
        match self.path(sha256) {
            Some(path) => tokio::fs::remove_file(path).await,
            None => Ok(()),
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
        vault.remove(&received.sha256).await.unwrap();
        assert!(vault.path(&received.sha256).is_none());
    }
}
