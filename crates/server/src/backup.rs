//! Backups of a whole installation, made while it serves: the database (SQLite: a consistent
//! copy by `VACUUM INTO`; PostgreSQL: not included, `pg_dump` is the tool), the key that seals
//! secrets, the Secure Mode CA and server certificates with their keys, the tokens, and the
//! firmware and files phones download. One file, encrypted with a passphrase
//! ([`sealed`]); [`restore`] brings it back into a data directory and checks it.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read};
use std::path::{Path, PathBuf};

use opendls_store::{SqliteStore, StatsStore};
use serde::{Deserialize, Serialize};

use crate::backend::Backend;
use crate::{ADMIN_URL_FILE, Config, DATABASE_FILE};

pub mod schedule;
pub mod sealed;

/// The manifest's name inside the archive.
const MANIFEST: &str = "manifest.json";
/// The database's name inside the archive.
const DATABASE_ENTRY: &str = "database/opendls.db";
/// The secrets key's name inside the archive (it may live outside the data directory).
const SECRETS_KEY_ENTRY: &str = "keys/secrets.key";
/// Where the data directory's files go inside the archive.
const DATA_PREFIX: &str = "data/";
/// The firmware and files phones download, inside the data directory.
const VAULT_DIR: &str = "files";
/// A restore unpacks here (inside the data directory) before anything is replaced.
const STAGING: &str = ".restore-staging";
/// Files a backup is being written to, and its database copy, start with this.
const TEMPORARY: &str = ".opendls-backup-";
/// A restore with `--replace` moves the installation into `replaced-<time>`.
const REPLACED: &str = "replaced-";

/// Whether a data directory entry is what a backup or a restore left there: never backed up,
/// never moved aside.
fn is_leftover(name: &str) -> bool {
    name.starts_with(TEMPORARY) || name.starts_with(STAGING) || name.starts_with(REPLACED)
}

/// What a backup holds, stored first in the archive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// The archive's format (1).
    pub format: u32,
    /// The opendls version that made it.
    pub opendls_version: String,
    /// When (Unix seconds).
    pub created_at: i64,
    /// `sqlite` (the database is inside) or `postgresql` (it is not: `pg_dump` it).
    pub database: String,
    /// Devices in the database copy (SQLite).
    pub devices: u64,
    /// Phone certificates in the database copy (SQLite).
    pub certificates: u64,
    /// Jobs in the database copy (SQLite).
    pub jobs: u64,
    /// Files of the data directory inside, by their path in it.
    pub files: Vec<String>,
    /// Whether the firmware and files phones download are inside.
    pub with_downloads: bool,
}

/// What to put in a backup.
#[derive(Debug, Clone, Copy)]
pub struct BackupOptions {
    /// The firmware images and files phones download (they can be large).
    pub with_downloads: bool,
}

impl Default for BackupOptions {
    fn default() -> Self {
        BackupOptions { with_downloads: true }
    }
}

/// Why a backup or restore failed.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Encryption or decryption failed.
    #[error("{0}")]
    Sealed(#[from] sealed::SealError),
    /// The database could not be copied or checked.
    #[error("database: {0}")]
    Store(#[from] opendls_store::StoreError),
    /// The restore was refused before anything changed.
    #[error("{0}")]
    Refused(String),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> BackupError + '_ {
    move |source| BackupError::Io { path: path.to_owned(), source }
}

/// Makes a backup of the installation `config` describes at `out` (replaced atomically: a
/// backup killed midway leaves no file of that name).
pub async fn create(
    config: &Config,
    out: &Path,
    passphrase: &str,
    options: BackupOptions,
) -> Result<Manifest, BackupError> {
    let (config, out, passphrase) = (config.clone(), out.to_owned(), passphrase.to_owned());
    let on_sqlite = matches!(Backend::of(&config.database.url), Ok(Backend::Sqlite));
    let snapshot = tempfile::Builder::new()
        .prefix(TEMPORARY)
        .tempdir_in(&config.data_dir)
        .map_err(io(&config.data_dir))?;
    let copy = snapshot.path().join(DATABASE_FILE);
    let mut manifest = Manifest {
        format: 1,
        opendls_version: env!("CARGO_PKG_VERSION").to_owned(),
        created_at: crate::phone::unix_now(),
        database: if on_sqlite { "sqlite" } else { "postgresql" }.to_owned(),
        devices: 0,
        certificates: 0,
        jobs: 0,
        files: Vec::new(),
        with_downloads: options.with_downloads,
    };
    if on_sqlite {
        let (database, into) = (config.data_dir.join(DATABASE_FILE), copy.clone());
        run_blocking(move || SqliteStore::snapshot(&database, &into).map_err(BackupError::from)).await?;
        let counted = count(&copy, &config.secrets_key_path()).await?;
        (manifest.devices, manifest.certificates, manifest.jobs) = counted;
    }
    run_blocking(move || write_archive(&config, &out, &passphrase, manifest, on_sqlite.then_some(&copy)))
        .await
}

async fn run_blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, BackupError> + Send + 'static,
) -> Result<T, BackupError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| BackupError::Refused(format!("backup task failed: {e}")))?
}

/// Devices, certificates and jobs in a database file.
async fn count(database: &Path, key_file: &Path) -> Result<(u64, u64, u64), BackupError> {
    let keys = opendls_store::secrets::SecretKeys::load(key_file)
        .map_err(|e| BackupError::Refused(format!("the secrets key: {e}")))?;
    let store = SqliteStore::open_with_keys(database, keys).await?;
    let stats = store.fleet_stats(crate::phone::unix_now()).await;
    opendls_store::Store::close(&store).await;
    let stats = stats?;
    let certificates = stats.certificates.iter().map(|c| c.count).sum();
    let jobs = stats.jobs.iter().map(|j| j.count).sum();
    Ok((stats.devices, certificates, jobs))
}

fn write_archive(
    config: &Config,
    out: &Path,
    passphrase: &str,
    mut manifest: Manifest,
    database: Option<&PathBuf>,
) -> Result<Manifest, BackupError> {
    let files = data_files(&config.data_dir, &config.secrets_key_path(), manifest.with_downloads)?;
    manifest.files = files.iter().map(|(name, _)| name.clone()).collect();
    let directory = out.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let partial = tempfile::Builder::new().prefix(TEMPORARY).tempfile_in(directory).map_err(io(directory))?;
    let writer = sealed::SealingWriter::new(BufWriter::new(partial.reopen().map_err(io(out))?), passphrase)?;
    let mut archive = tar::Builder::new(writer);
    let manifest_json = serde_json::to_vec_pretty(&manifest).expect("a manifest serializes");
    append_bytes(&mut archive, MANIFEST, &manifest_json).map_err(io(out))?;
    if let Some(database) = database {
        archive.append_path_with_name(database, DATABASE_ENTRY).map_err(io(database))?;
    }
    let key_file = config.secrets_key_path();
    archive.append_path_with_name(&key_file, SECRETS_KEY_ENTRY).map_err(io(&key_file))?;
    for (name, path) in &files {
        archive.append_path_with_name(path, format!("{DATA_PREFIX}{name}")).map_err(io(path))?;
    }
    let sealed = archive.into_inner().map_err(io(out))?;
    sealed
        .finish()
        .map_err(io(out))?
        .into_inner()
        .map_err(|e| BackupError::Io { path: out.to_owned(), source: e.into_error() })?;
    partial.as_file().sync_all().map_err(io(out))?;
    partial.persist(out).map_err(|e| BackupError::Io { path: out.to_owned(), source: e.error })?;
    Ok(manifest)
}

fn append_bytes<W: std::io::Write>(
    archive: &mut tar::Builder<W>,
    name: &str,
    bytes: &[u8],
) -> std::io::Result<()> {
    let mut header = tar::Header::new_gnu();
    header.set_size(bytes.len() as u64);
    header.set_mode(0o600);
    header.set_mtime(crate::phone::unix_now().max(0) as u64);
    header.set_cksum();
    archive.append_data(&mut header, name, bytes)
}

/// The data directory's files a backup holds, by their path in it: everything but the live
/// database (copied apart), what a start makes anew, partial uploads and leftovers of earlier
/// backups and restores.
fn data_files(
    data_dir: &Path,
    key_file: &Path,
    with_downloads: bool,
) -> Result<Vec<(String, PathBuf)>, BackupError> {
    let skipped = |name: &str| {
        name.starts_with(DATABASE_FILE)
            || name == ADMIN_URL_FILE
            || is_leftover(name)
            || name.starts_with(&format!("{VAULT_DIR}/incoming/"))
            || (!with_downloads && name.starts_with(&format!("{VAULT_DIR}/")))
    };
    let mut found = Vec::new();
    let mut pending = vec![data_dir.to_owned()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).map_err(io(&dir))? {
            let entry = entry.map_err(io(&dir))?;
            let path = entry.path();
            let Ok(relative) = path.strip_prefix(data_dir) else { continue };
            let name = relative.to_string_lossy().replace('\\', "/");
            let kind = entry.file_type().map_err(io(&path))?;
            if kind.is_dir() && !skipped(&format!("{name}/")) {
                pending.push(path);
            } else if kind.is_file() && !skipped(&name) && path != key_file {
                found.push((name, path));
            }
        }
    }
    found.sort();
    Ok(found)
}

/// Reads a backup's manifest (checking the passphrase), without restoring anything.
pub fn read_manifest(from: &Path, passphrase: &str) -> Result<Manifest, BackupError> {
    let file = File::open(from).map_err(io(from))?;
    let reader = sealed::OpeningReader::new(BufReader::new(file), passphrase)?;
    let mut archive = tar::Archive::new(reader);
    let mut entries = archive.entries().map_err(io(from))?;
    let mut first = entries
        .next()
        .ok_or_else(|| BackupError::Refused("the backup is empty".into()))?
        .map_err(io(from))?;
    manifest_of(&mut first, from)
}

/// Reads a whole backup (checking the passphrase and every chunk) and returns its manifest and
/// how many entries it holds, restoring nothing.
pub fn verify(from: &Path, passphrase: &str) -> Result<(Manifest, usize), BackupError> {
    let file = File::open(from).map_err(io(from))?;
    let reader = sealed::OpeningReader::new(BufReader::new(file), passphrase)?;
    let mut archive = tar::Archive::new(reader);
    let (mut manifest, mut entries) = (None, 0);
    for entry in archive.entries().map_err(io(from))? {
        let mut entry = entry.map_err(io(from))?;
        entries += 1;
        if entry.path().map_err(io(from))?.as_os_str() == MANIFEST {
            manifest = Some(manifest_of(&mut entry, from)?);
        } else {
            std::io::copy(&mut entry, &mut std::io::sink()).map_err(io(from))?;
        }
    }
    let manifest = manifest.ok_or_else(|| BackupError::Refused("the backup has no manifest".into()))?;
    Ok((manifest, entries))
}

fn manifest_of(entry: &mut impl Read, from: &Path) -> Result<Manifest, BackupError> {
    let mut json = Vec::new();
    entry.read_to_end(&mut json).map_err(io(from))?;
    serde_json::from_slice(&json).map_err(|e| BackupError::Refused(format!("the backup's manifest: {e}")))
}

mod restore;
pub use restore::{RestoreOptions, Restored, restore};
