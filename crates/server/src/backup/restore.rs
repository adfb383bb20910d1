//! `opendls restore`: a backup unpacked beside the data directory's files, checked (the
//! passphrase, every chunk, the database's counts against the manifest), and only then put in
//! place; what was there is moved aside, never deleted.

use std::fs::File;
use std::io::BufReader;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use super::{
    BackupError, DATA_PREFIX, DATABASE_ENTRY, MANIFEST, Manifest, REPLACED, SECRETS_KEY_ENTRY, STAGING,
    count, io, is_leftover, manifest_of, run_blocking, sealed,
};
use crate::backend::Backend;
use crate::{ADMIN_URL_FILE, Config, DATABASE_FILE};

/// How to restore.
#[derive(Debug, Clone, Copy, Default)]
pub struct RestoreOptions {
    /// Restore over an existing installation (its files are moved into `replaced-<time>/`).
    pub replace: bool,
}

/// What a restore did.
#[derive(Debug, Clone)]
pub struct Restored {
    /// The backup's manifest.
    pub manifest: Manifest,
    /// Where the installation's earlier files were moved, if there were any.
    pub moved_aside: Option<PathBuf>,
}

/// Restores the backup `from` into the installation `config` describes. Refused while a
/// service answers on the data directory's admin address, and over an existing installation
/// unless `options.replace`.
pub async fn restore(
    config: &Config,
    from: &Path,
    passphrase: &str,
    options: RestoreOptions,
) -> Result<Restored, BackupError> {
    let created = !config.data_dir.exists();
    let restored = restore_into(config, from, passphrase, options).await;
    if restored.is_err() && created {
        // A refused restore leaves nothing behind, not even the directory it made.
        let _ = std::fs::remove_dir_all(&config.data_dir);
    }
    restored
}

async fn restore_into(
    config: &Config,
    from: &Path,
    passphrase: &str,
    options: RestoreOptions,
) -> Result<Restored, BackupError> {
    let data_dir = config.data_dir.clone();
    refuse_while_serving(&data_dir).await?;
    let key_file = config.secrets_key_path();
    let existing = installation_files(&data_dir, &key_file);
    if !existing.is_empty() && !options.replace {
        return Err(BackupError::Refused(format!(
            "{} already holds an installation ({}): restore into an empty data directory, or give --replace \
             to move its files aside first",
            data_dir.display(),
            existing.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
        )));
    }
    crate::data_dir::make_private(&data_dir)
        .map_err(|e| BackupError::Io { path: e.path, source: e.source })?;
    let staging = data_dir.join(STAGING);
    if staging.exists() {
        std::fs::remove_dir_all(&staging).map_err(io(&staging))?;
    }
    let (from_owned, staging_owned, passphrase) = (from.to_owned(), staging.clone(), passphrase.to_owned());
    let manifest = run_blocking(move || unpack(&from_owned, &staging_owned, &passphrase)).await;
    let manifest = match manifest {
        Ok(manifest) => manifest,
        Err(error) => {
            let _ = std::fs::remove_dir_all(&staging);
            return Err(error);
        }
    };
    if let Err(error) = check(config, &staging, &manifest).await {
        let _ = std::fs::remove_dir_all(&staging);
        return Err(error);
    }
    let moved_aside = match existing.is_empty() {
        true => None,
        false => Some(move_aside(&data_dir, &key_file, &existing)?),
    };
    put_in_place(&staging, &data_dir, &key_file)?;
    std::fs::remove_dir_all(&staging).map_err(io(&staging))?;
    crate::data_dir::make_private(&data_dir)
        .map_err(|e| BackupError::Io { path: e.path, source: e.source })?;
    Ok(Restored { manifest, moved_aside })
}

/// A service using the data directory answers at the admin address it recorded.
async fn refuse_while_serving(data_dir: &Path) -> Result<(), BackupError> {
    let Ok(url) = std::fs::read_to_string(data_dir.join(ADMIN_URL_FILE)) else { return Ok(()) };
    let address = url.trim().trim_start_matches("http://").trim_start_matches("https://").to_owned();
    let connect = tokio::net::TcpStream::connect(address.clone());
    if let Ok(Ok(_)) = tokio::time::timeout(Duration::from_secs(1), connect).await {
        return Err(BackupError::Refused(format!(
            "a service is running on {} (its admin API answers at {address}): stop it before restoring",
            data_dir.display()
        )));
    }
    Ok(())
}

/// The files that make an installation, of those present.
fn installation_files(data_dir: &Path, key_file: &Path) -> Vec<PathBuf> {
    let mut present: Vec<PathBuf> = [DATABASE_FILE, opendls_pki::ca::CA_KEY_FILE, crate::ADMIN_TOKEN_FILE]
        .iter()
        .map(|name| data_dir.join(name))
        .chain(std::iter::once(key_file.to_owned()))
        .filter(|path| path.exists())
        .collect();
    present.dedup();
    present
}

/// Unpacks the archive into `staging`, refusing any entry outside the places a backup uses.
fn unpack(from: &Path, staging: &Path, passphrase: &str) -> Result<Manifest, BackupError> {
    let file = File::open(from).map_err(io(from))?;
    let reader = sealed::OpeningReader::new(BufReader::new(file), passphrase)?;
    let mut archive = tar::Archive::new(reader);
    let mut manifest = None;
    for entry in archive.entries().map_err(io(from))? {
        let mut entry = entry.map_err(io(from))?;
        let name = entry.path().map_err(io(from))?.to_string_lossy().into_owned();
        if name == MANIFEST {
            manifest = Some(manifest_of(&mut entry, from)?);
            continue;
        }
        let safe = Path::new(&name).components().all(|c| matches!(c, Component::Normal(_)));
        let known = name == DATABASE_ENTRY || name == SECRETS_KEY_ENTRY || name.starts_with(DATA_PREFIX);
        if !safe || !known || !entry.header().entry_type().is_file() {
            return Err(BackupError::Refused(format!("the backup holds an unexpected entry {name:?}")));
        }
        let target = staging.join(&name);
        let parent = target.parent().expect("a staged file has a directory");
        std::fs::create_dir_all(parent).map_err(io(parent))?;
        entry.unpack(&target).map_err(io(&target))?;
    }
    // The reader has checked that the file ended with its last chunk.
    manifest.ok_or_else(|| BackupError::Refused("the backup has no manifest".into()))
}

/// The staged backup is whole: its database opens with its key and holds what the manifest
/// counted; the configuration serves the same kind of database.
async fn check(config: &Config, staging: &Path, manifest: &Manifest) -> Result<(), BackupError> {
    let key = staging.join(SECRETS_KEY_ENTRY);
    if !key.is_file() {
        return Err(BackupError::Refused("the backup holds no secrets key".into()));
    }
    let on_sqlite = matches!(Backend::of(&config.database.url), Ok(Backend::Sqlite));
    match (manifest.database.as_str(), on_sqlite) {
        ("sqlite", true) => {
            let database = staging.join(DATABASE_ENTRY);
            let counted = count(&database, &key).await?;
            let expected = (manifest.devices, manifest.certificates, manifest.jobs);
            if counted != expected {
                return Err(BackupError::Refused(format!(
                    "the database copy holds (devices, certificates, jobs) = {counted:?}, its manifest says \
                     {expected:?}"
                )));
            }
            Ok(())
        }
        ("sqlite", false) => Err(BackupError::Refused(
            "this backup holds a SQLite database but the configuration names PostgreSQL: restore it without \
             --database, then move it with opendls migrate"
                .into(),
        )),
        ("postgresql", _) => Ok(()),
        (other, _) => Err(BackupError::Refused(format!("unknown database kind {other:?} in the manifest"))),
    }
}

/// Moves the installation's files into `replaced-<time>/` in the data directory (the secrets
/// key, when kept elsewhere, beside itself).
fn move_aside(data_dir: &Path, key_file: &Path, existing: &[PathBuf]) -> Result<PathBuf, BackupError> {
    let aside = data_dir.join(format!("{REPLACED}{}", crate::phone::unix_now()));
    std::fs::create_dir_all(&aside).map_err(io(&aside))?;
    for entry in std::fs::read_dir(data_dir).map_err(io(data_dir))? {
        let path = entry.map_err(io(data_dir))?.path();
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        if is_leftover(&name) {
            continue;
        }
        std::fs::rename(&path, aside.join(&name)).map_err(io(&path))?;
    }
    if !key_file.starts_with(data_dir) && existing.iter().any(|p| p == key_file) {
        let beside = key_file.with_extension(format!("{REPLACED}{}", crate::phone::unix_now()));
        std::fs::rename(key_file, &beside).map_err(io(key_file))?;
    }
    Ok(aside)
}

/// Moves the staged files to where the service reads them.
fn put_in_place(staging: &Path, data_dir: &Path, key_file: &Path) -> Result<(), BackupError> {
    let database = staging.join(DATABASE_ENTRY);
    if database.is_file() {
        let target = data_dir.join(DATABASE_FILE);
        std::fs::rename(&database, &target).map_err(io(&target))?;
    }
    let key = staging.join(SECRETS_KEY_ENTRY);
    if let Some(parent) = key_file.parent() {
        std::fs::create_dir_all(parent).map_err(io(parent))?;
    }
    // Copied, not renamed: the key may live on another file system (`secrets_key_file`).
    opendls_pki::write_private(key_file, &std::fs::read(&key).map_err(io(&key))?)
        .map_err(|e| BackupError::Refused(format!("{}: {e}", key_file.display())))?;
    let data = staging.join(DATA_PREFIX.trim_end_matches('/'));
    let mut pending = vec![data.clone()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries {
            let path = entry.map_err(io(&dir))?.path();
            let target = data_dir.join(path.strip_prefix(&data).expect("under the staged data"));
            if path.is_dir() {
                std::fs::create_dir_all(&target).map_err(io(&target))?;
                pending.push(path);
            } else {
                std::fs::rename(&path, &target).map_err(io(&target))?;
            }
        }
    }
    Ok(())
}
