//! Key material every node of a cluster holds alike, shared through the PostgreSQL database:
//! the key that seals secrets (a node must open what another sealed: interaction states, SIP
//! passwords, PINs), the Secure Mode CA (every node issues and checks device certificates), the
//! admin token and the key of download links (either node answers any request).
//!
//! At start, under a lock in the database: files the cluster shares are written into the data
//! directory where they are missing; a file that differs from the shared one stops the start
//! (a node with its own CA would issue certificates the others refuse); what this node has and
//! the cluster does not is created if needed and shared. The rest of the start then reads the
//! files as a single node does.

use std::path::{Path, PathBuf};

use opendls_store::postgres::SharedFiles;

use crate::{ADMIN_TOKEN_FILE, Config, StartError, data_dir, file_server, load_or_create_token};

/// The name the key that seals secrets is shared under.
pub const SECRETS_KEY: &str = "secrets-key";

/// The files shared, by the name they are shared under, and where this node keeps each.
fn shared_files(config: &Config) -> Vec<(&'static str, PathBuf)> {
    let dir = &config.data_dir;
    vec![
        (SECRETS_KEY, config.secrets_key_path()),
        ("admin-token", dir.join(ADMIN_TOKEN_FILE)),
        ("metrics-token", dir.join(crate::metrics::METRICS_TOKEN_FILE)),
        ("file-token-key", dir.join(file_server::TOKEN_KEY_FILE)),
        ("ca-cert", dir.join(opendls_pki::ca::CA_CERT_FILE)),
        ("ca-key", dir.join(opendls_pki::ca::CA_KEY_FILE)),
    ]
}

/// Why a node cannot join the cluster.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// A file of this node differs from the one the other nodes share.
    #[error(
        "{} differs from the {name} the other nodes of this database share: this node was started \
         alone before. Move the file away to take the cluster's (docs/scale-out.md)",
        path.display()
    )]
    Differs {
        /// The shared name.
        name: &'static str,
        /// This node's file.
        path: PathBuf,
    },
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// Takes the cluster's shared files into this node's data directory, and shares what the
/// cluster does not have yet (the first node's).
pub async fn share_key_material(config: &Config, url: &str, now: i64) -> Result<(), StartError> {
    data_dir::make_private(&config.data_dir)?;
    let shared = SharedFiles::lock(url).await?;
    let result = take_and_share(config, &shared, now).await;
    shared.unlock().await;
    result
}

async fn take_and_share(config: &Config, shared: &SharedFiles, now: i64) -> Result<(), StartError> {
    let files = shared_files(config);
    for (name, path) in &files {
        let local = read(path)?;
        match (shared.get(name).await?, local) {
            (Some(theirs), Some(ours)) if theirs != ours => match (*name, newer_key_file(&ours, &theirs)) {
                (SECRETS_KEY, Some(Newer::Ours)) => {
                    shared.replace(name, &ours, now).await?;
                    tracing::info!(file = %path.display(), "the key rotated here is shared with the other nodes");
                }
                (SECRETS_KEY, Some(Newer::Theirs)) => write_private(path, &theirs)?,
                _ => return Err(ClusterError::Differs { name, path: path.clone() }.into()),
            },
            (Some(theirs), None) => write_private(path, &theirs)?,
            _ => {}
        }
    }
    // What is still missing is made here, as a single node makes it, then shared.
    load_or_create_token(&config.data_dir.join(ADMIN_TOKEN_FILE))?;
    load_or_create_token(&config.data_dir.join(crate::metrics::METRICS_TOKEN_FILE))?;
    load_or_create_token(&config.data_dir.join(file_server::TOKEN_KEY_FILE))?;
    opendls_store::secrets::SecretKeys::load_or_create(&config.secrets_key_path())?;
    opendls_pki::CertificateAuthority::load_or_create(&config.data_dir)?;
    for (name, path) in &files {
        if shared.get(name).await?.is_none() {
            let content = read(path)?.ok_or_else(|| ClusterError::Io {
                path: path.clone(),
                source: std::io::Error::new(std::io::ErrorKind::NotFound, "made moments ago, now missing"),
            })?;
            shared.put(name, &content, now).await?;
            tracing::info!(file = %path.display(), "shared with the other nodes of this database");
        }
    }
    Ok(())
}

/// Which of two secrets key files is the later one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Newer {
    Ours,
    Theirs,
}

/// Which of two secrets key files (one key per line, the current one first) follows from the
/// other by `opendls secrets rotate` (a new current key, the old kept) or by retiring old keys
/// (the current kept, old ones gone); `None` when neither does (unrelated keys).
fn newer_key_file(ours: &[u8], theirs: &[u8]) -> Option<Newer> {
    let keys = |file: &[u8]| -> Vec<String> {
        String::from_utf8_lossy(file)
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect()
    };
    let (ours, theirs) = (keys(ours), keys(theirs));
    let (our_current, their_current) = (ours.first()?, theirs.first()?);
    let within = |small: &[String], large: &[String]| small.iter().all(|key| large.contains(key));
    if our_current != their_current {
        return match (ours.contains(their_current), theirs.contains(our_current)) {
            (true, false) => Some(Newer::Ours),
            (false, true) => Some(Newer::Theirs),
            _ => None,
        };
    }
    match (within(&ours, &theirs), within(&theirs, &ours)) {
        (true, false) => Some(Newer::Ours),
        (false, true) => Some(Newer::Theirs),
        _ => None,
    }
}

fn read(path: &Path) -> Result<Option<Vec<u8>>, ClusterError> {
    match std::fs::read(path) {
        Ok(content) => Ok(Some(content)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(ClusterError::Io { path: path.to_owned(), source }),
    }
}

/// Writes a file only its owner may read, as every key file of the data directory (through a
/// new file renamed over it: a crash leaves the old file or the new one, never half of one).
fn write_private(path: &Path, content: &[u8]) -> Result<(), ClusterError> {
    use std::io::Write;
    let io = |source| ClusterError::Io { path: path.to_owned(), source };
    let incoming = path.with_extension("incoming");
    let _ = std::fs::remove_file(&incoming);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&incoming).map_err(io)?;
    file.write_all(content).and_then(|()| file.sync_all()).map_err(io)?;
    std::fs::rename(&incoming, path).map_err(io)?;
    tracing::info!(file = %path.display(), "taken from the other nodes of this database");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{Newer, newer_key_file};

    #[test]
    fn a_rotated_or_retired_key_file_is_told_from_the_one_before() {
        let (old, new) = ("k1 aa\n", "k2 bb\nk1 aa\n");
        assert_eq!(newer_key_file(new.as_bytes(), old.as_bytes()), Some(Newer::Ours), "rotated here");
        assert_eq!(newer_key_file(old.as_bytes(), new.as_bytes()), Some(Newer::Theirs), "rotated elsewhere");
        let retired = "k2 bb\n";
        assert_eq!(newer_key_file(retired.as_bytes(), new.as_bytes()), Some(Newer::Ours), "retired here");
        assert_eq!(
            newer_key_file(new.as_bytes(), retired.as_bytes()),
            Some(Newer::Theirs),
            "retired elsewhere"
        );
        assert_eq!(newer_key_file(b"k3 cc\n", old.as_bytes()), None, "another cluster's key");
        assert_eq!(newer_key_file(old.as_bytes(), retired.as_bytes()), None, "too far behind to tell");
    }
}
