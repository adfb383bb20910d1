//! The service's TLS identity.
//!
//! In Default Mode phones accept any server certificate (guide p. 12), so on first start the
//! service makes a self-signed one: RSA-2048 with SHA-256, the key type the Unify wiki documents
//! for OpenStage and the one every TLS stack of the phones' era can use.
//!
//! Secure Mode (guide p. 62-68) has its own [`ca::CertificateAuthority`], which signs the secure
//! port's certificate and one client certificate per device; [`bundle`] packs what phones receive.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair, PKCS_RSA_SHA256};

pub mod bundle;
pub mod ca;

pub use ca::{CertificateAuthority, DeviceCertificate};

/// File names inside the data directory.
pub const SERVER_CERT_FILE: &str = "server-cert.pem";
/// The server's private key (mode 0600).
pub const SERVER_KEY_FILE: &str = "server-key.pem";

/// A certificate chain and its private key, PEM-encoded.
#[derive(Clone)]
pub struct ServerIdentity {
    /// The certificate (PEM).
    pub cert_pem: String,
    /// The private key (PKCS#8 PEM). Never logged: `Debug` hides it.
    pub key_pem: String,
    /// Where the certificate is stored.
    pub cert_path: PathBuf,
}

impl std::fmt::Debug for ServerIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerIdentity")
            .field("cert_path", &self.cert_path)
            .field("key_pem", &"<redacted>")
            .finish()
    }
}

/// Why the identity could not be loaded or made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PkiError {
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// Key or certificate generation failed.
    #[error("certificate generation failed: {0}")]
    Generate(#[from] rcgen::Error),
    /// A certificate, key or bundle is not usable (an imported CA whose key does not match, ...).
    #[error("{0}")]
    Invalid(String),
}

pub(crate) fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> PkiError + '_ {
    move |source| PkiError::Io { path: path.to_owned(), source }
}

/// Loads the identity from `dir`, or generates and stores one for `names` (host names and IP
/// addresses phones use to reach the service) on first start.
pub fn load_or_create_server_identity(dir: &Path, names: &[String]) -> Result<ServerIdentity, PkiError> {
    let cert_path = dir.join(SERVER_CERT_FILE);
    let key_path = dir.join(SERVER_KEY_FILE);
    if cert_path.exists() && key_path.exists() {
        return Ok(ServerIdentity {
            cert_pem: fs::read_to_string(&cert_path).map_err(io_error(&cert_path))?,
            key_pem: fs::read_to_string(&key_path).map_err(io_error(&key_path))?,
            cert_path,
        });
    }
    let key = KeyPair::generate_for(&PKCS_RSA_SHA256)?;
    let mut params = CertificateParams::default();
    let mut subject = DistinguishedName::new();
    subject.push(DnType::CommonName, names.first().cloned().unwrap_or_else(|| "opendls".into()));
    subject.push(DnType::OrganizationName, "opendls");
    params.distinguished_name = subject;
    params.subject_alt_names = ca::subject_alt_names(names)?;
    let now = std::time::SystemTime::now();
    params.not_before = now.into();
    params.not_after = (now + std::time::Duration::from_secs(10 * 365 * 24 * 3600)).into();
    let cert = params.self_signed(&key)?;
    let identity =
        ServerIdentity { cert_pem: cert.pem(), key_pem: key.serialize_pem(), cert_path: cert_path.clone() };
    write_private(&key_path, identity.key_pem.as_bytes())?;
    write_private(&cert_path, identity.cert_pem.as_bytes())?;
    Ok(identity)
}

/// Writes a file readable only by its owner (0600), created that way so no window exists in
/// which another user could read it.
pub fn write_private(path: &Path, contents: &[u8]) -> Result<(), PkiError> {
    // Written beside and renamed over: a crash mid-write leaves the old file or the new one,
    // never half of a key.
    let partial = path.with_extension("partial");
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&partial).map_err(io_error(&partial))?;
    file.write_all(contents).map_err(io_error(&partial))?;
    file.sync_all().map_err(io_error(&partial))?;
    drop(file);
    fs::rename(&partial, path).map_err(io_error(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_is_created_once_and_its_key_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let names = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
        let first = load_or_create_server_identity(dir.path(), &names).unwrap();
        assert!(first.cert_pem.starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(first.key_pem.contains("PRIVATE KEY"));
        let second = load_or_create_server_identity(dir.path(), &names).unwrap();
        assert_eq!(first.cert_pem, second.cert_pem, "a restart keeps the identity");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(dir.path().join(SERVER_KEY_FILE)).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(!format!("{first:?}").contains("PRIVATE KEY"));
    }
}
