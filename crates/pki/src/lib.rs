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
/// The ECDSA P-256 server certificate offered beside the RSA one (Default and file ports).
pub const ECDSA_SERVER_CERT_FILE: &str = "server-ecdsa-cert.pem";
/// Its private key.
pub const ECDSA_SERVER_KEY_FILE: &str = "server-ecdsa-key.pem";

/// A certificate chain and its private key, PEM-encoded.
#[derive(Clone)]
pub struct ServerIdentity {
    /// The certificate (PEM).
    pub cert_pem: String,
    /// The private key (PKCS#8 PEM). Never logged: `Debug` hides it.
    pub key_pem: String,
    /// Where the certificate is stored.
    pub cert_path: PathBuf,
    /// Whether it was issued at this load, and why.
    pub issued: Issued,
}

/// Why a server certificate was loaded or issued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Issued {
    /// The stored one still fits.
    No,
    /// There was none.
    First,
    /// The stored one lacked these names (the public address or host names changed).
    NamesChanged {
        /// The names it lacked.
        missing: Vec<String>,
    },
    /// The stored one was near its end, or not signed by the CA.
    Renewed,
    /// An administrator asked for it.
    OnRequest,
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
/// addresses phones use to reach the service) on first start, when the stored certificate lacks
/// one of `names` (the public address changed), or when `force` is set.
pub fn load_or_create_server_identity(
    dir: &Path,
    names: &[String],
    force: bool,
) -> Result<ServerIdentity, PkiError> {
    load_or_create_identity(dir, names, force, (SERVER_CERT_FILE, SERVER_KEY_FILE), &PKCS_RSA_SHA256)
}

/// As [`load_or_create_server_identity`], with an ECDSA P-256 key ([`ECDSA_SERVER_CERT_FILE`]):
/// offered beside the RSA certificate to clients that accept it (a signature is several times
/// cheaper to make than an RSA-2048 one).
pub fn load_or_create_ecdsa_server_identity(
    dir: &Path,
    names: &[String],
    force: bool,
) -> Result<ServerIdentity, PkiError> {
    let files = (ECDSA_SERVER_CERT_FILE, ECDSA_SERVER_KEY_FILE);
    load_or_create_identity(dir, names, force, files, &rcgen::PKCS_ECDSA_P256_SHA256)
}

fn load_or_create_identity(
    dir: &Path,
    names: &[String],
    force: bool,
    (cert_file, key_file): (&str, &str),
    algorithm: &'static rcgen::SignatureAlgorithm,
) -> Result<ServerIdentity, PkiError> {
    let cert_path = dir.join(cert_file);
    let key_path = dir.join(key_file);
    let issued = match (fs::read_to_string(&cert_path), fs::read_to_string(&key_path)) {
        (Ok(_), Ok(_)) if force => Issued::OnRequest,
        (Ok(cert_pem), Ok(key_pem)) => match names_missing(&cert_pem, names) {
            missing if missing.is_empty() => {
                return Ok(ServerIdentity { cert_pem, key_pem, cert_path, issued: Issued::No });
            }
            missing => Issued::NamesChanged { missing },
        },
        _ => Issued::First,
    };
    let key = KeyPair::generate_for(algorithm)?;
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
    let identity = ServerIdentity {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
        cert_path: cert_path.clone(),
        issued,
    };
    write_private(&key_path, identity.key_pem.as_bytes())?;
    write_private(&cert_path, identity.cert_pem.as_bytes())?;
    Ok(identity)
}

/// The names of `names` that the first certificate of `cert_pem` does not carry as a subject
/// alternative name (all of them when it cannot be read).
pub fn names_missing(cert_pem: &str, names: &[String]) -> Vec<String> {
    let carried = certificate_names(cert_pem);
    names.iter().filter(|name| !carried.iter().any(|c| c.eq_ignore_ascii_case(name))).cloned().collect()
}

/// The DNS names and IP addresses the first certificate of `cert_pem` is valid for.
pub fn certificate_names(cert_pem: &str) -> Vec<String> {
    let Ok(cert) = openssl::x509::X509::from_pem(cert_pem.as_bytes()) else { return Vec::new() };
    let Some(names) = cert.subject_alt_names() else { return Vec::new() };
    names
        .iter()
        .filter_map(|name| {
            let ip = name.ipaddress().and_then(|bytes| match bytes.len() {
                4 => Some(std::net::IpAddr::from(<[u8; 4]>::try_from(bytes).ok()?)),
                16 => Some(std::net::IpAddr::from(<[u8; 16]>::try_from(bytes).ok()?)),
                _ => None,
            });
            name.dnsname().map(str::to_owned).or(ip.map(|ip| ip.to_string()))
        })
        .collect()
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
        let first = load_or_create_server_identity(dir.path(), &names, false).unwrap();
        assert!(first.cert_pem.starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(first.key_pem.contains("PRIVATE KEY"));
        assert_eq!(first.issued, Issued::First);
        let second = load_or_create_server_identity(dir.path(), &names, false).unwrap();
        assert_eq!(first.cert_pem, second.cert_pem, "a restart keeps the identity");
        assert_eq!(second.issued, Issued::No);
        assert_eq!(certificate_names(&second.cert_pem), names);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(dir.path().join(SERVER_KEY_FILE)).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(!format!("{first:?}").contains("PRIVATE KEY"));
    }

    #[test]
    fn a_new_public_address_reissues_the_certificate() {
        let dir = tempfile::tempdir().unwrap();
        let local = vec!["localhost".to_owned(), "::1".to_owned()];
        let first = load_or_create_server_identity(dir.path(), &local, false).unwrap();
        let public = vec!["10.1.2.3".to_owned(), "localhost".to_owned(), "::1".to_owned()];
        let second = load_or_create_server_identity(dir.path(), &public, false).unwrap();
        assert_eq!(second.issued, Issued::NamesChanged { missing: vec!["10.1.2.3".into()] });
        assert_ne!(first.cert_pem, second.cert_pem);
        assert!(names_missing(&second.cert_pem, &public).is_empty());
        let fewer = load_or_create_server_identity(dir.path(), &local, false).unwrap();
        assert_eq!(fewer.issued, Issued::No, "extra names do no harm");
        let forced = load_or_create_server_identity(dir.path(), &local, true).unwrap();
        assert_eq!(forced.issued, Issued::OnRequest);
    }
}
