//! The Secure Mode CA (guide p. 62-68): made on first start (RSA-2048, SHA-256) or imported by an
//! administrator; it signs the secure port's server certificate and one client certificate per
//! device (subject CN = the MAC, EKU clientAuth, docs/rust-stack.md §1.3).

use std::fs;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
    KeyPair, KeyUsagePurpose, PKCS_RSA_SHA256, SanType, SerialNumber,
};

use crate::{Issued, PkiError, ServerIdentity, io_error, write_private};

/// The CA certificate inside the data directory.
pub const CA_CERT_FILE: &str = "ca-cert.pem";
/// The CA's private key (mode 0600).
pub const CA_KEY_FILE: &str = "ca-key.pem";
/// The secure port's server certificate, signed by the CA.
pub const SECURE_SERVER_CERT_FILE: &str = "secure-server-cert.pem";
/// The secure port's private key (mode 0600).
pub const SECURE_SERVER_KEY_FILE: &str = "secure-server-key.pem";

const DAY: u64 = 24 * 3600;
/// A CA made by opendls lives 20 years; phones cannot be told a new one without a new bootstrap.
const CA_VALIDITY: Duration = Duration::from_secs(20 * 365 * DAY);
/// The secure port's certificate lives 2 years and is renewed at start-up within 30 days of expiry.
const SERVER_VALIDITY: Duration = Duration::from_secs(2 * 365 * DAY);
const SERVER_RENEW_BEFORE: Duration = Duration::from_secs(30 * DAY);

/// The CA that issues Secure Mode certificates. `Debug` never shows its key.
pub struct CertificateAuthority {
    cert_pem: String,
    cert_der: Vec<u8>,
    issuer: Issuer<'static, KeyPair>,
}

impl std::fmt::Debug for CertificateAuthority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertificateAuthority").field("fingerprint", &fingerprint(&self.cert_der)).finish()
    }
}

/// A device's client certificate with its key, as issued (the key is only ever sent to the phone
/// inside its bootstrap bundle; it is not stored). `Debug` never shows the key.
#[derive(Clone)]
pub struct DeviceCertificate {
    /// The serial number, hex.
    pub serial: String,
    /// SHA-256 of the certificate's DER, hex: how the secure port recognises it.
    pub fingerprint: String,
    /// The MAC the subject names.
    pub mac: String,
    /// PEM.
    pub cert_pem: String,
    /// The private key, PKCS#8 PEM.
    pub key_pem: String,
    /// Validity start, Unix seconds.
    pub not_before: i64,
    /// Validity end, Unix seconds.
    pub not_after: i64,
}

impl std::fmt::Debug for DeviceCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceCertificate")
            .field("serial", &self.serial)
            .field("mac", &self.mac)
            .field("not_after", &self.not_after)
            .finish_non_exhaustive()
    }
}

/// SHA-256 of a DER certificate, lower-case hex.
pub fn fingerprint(der: &[u8]) -> String {
    hex::encode(openssl::sha::sha256(der))
}

fn unix(time: SystemTime) -> i64 {
    time.duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or_default()
}

fn random_serial() -> SerialNumber {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("the operating system's random source is available");
    bytes[0] &= 0x7f; // positive
    bytes[0] |= 0x01; // no leading zero byte, so the hex form is stable
    SerialNumber::from_slice(&bytes)
}

fn openssl_error(what: &str) -> impl FnOnce(openssl::error::ErrorStack) -> PkiError + '_ {
    move |e| PkiError::Invalid(format!("{what}: {e}"))
}

impl CertificateAuthority {
    /// Loads the CA from `dir`, or makes one on first start.
    pub fn load_or_create(dir: &Path) -> Result<CertificateAuthority, PkiError> {
        let (cert_path, key_path) = (dir.join(CA_CERT_FILE), dir.join(CA_KEY_FILE));
        if cert_path.exists() && key_path.exists() {
            let cert_pem = fs::read_to_string(&cert_path).map_err(io_error(&cert_path))?;
            let key_pem = fs::read_to_string(&key_path).map_err(io_error(&key_path))?;
            return CertificateAuthority::from_pem(&cert_pem, &key_pem);
        }
        let key = KeyPair::generate_for(&PKCS_RSA_SHA256)?;
        let mut params = CertificateParams::default();
        let mut subject = DistinguishedName::new();
        subject.push(DnType::CommonName, "opendls Secure Mode CA");
        subject.push(DnType::OrganizationName, "opendls");
        params.distinguished_name = subject;
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        params.serial_number = Some(random_serial());
        let now = SystemTime::now();
        params.not_before = (now - Duration::from_secs(3600)).into();
        params.not_after = (now + CA_VALIDITY).into();
        let cert = params.self_signed(&key)?;
        write_private(&key_path, key.serialize_pem().as_bytes())?;
        write_private(&cert_path, cert.pem().as_bytes())?;
        Ok(CertificateAuthority {
            cert_pem: cert.pem(),
            cert_der: cert.der().to_vec(),
            issuer: Issuer::new(params, key),
        })
    }

    /// Replaces the CA with an administrator's certificate and key (PEM; PKCS#1 or PKCS#8 key).
    /// The key must belong to the certificate. The secure port's certificate is re-issued at the
    /// next start; device certificates of the old CA stop working on the secure port.
    pub fn import(dir: &Path, cert_pem: &str, key_pem: &str) -> Result<CertificateAuthority, PkiError> {
        let cert =
            openssl::x509::X509::from_pem(cert_pem.as_bytes()).map_err(openssl_error("CA certificate"))?;
        let key = openssl::pkey::PKey::private_key_from_pem(key_pem.as_bytes())
            .map_err(openssl_error("CA private key"))?;
        let public = cert.public_key().map_err(openssl_error("CA certificate"))?;
        if !public.public_eq(&key) {
            return Err(PkiError::Invalid("the private key does not belong to the CA certificate".into()));
        }
        let pkcs8 = key.private_key_to_pem_pkcs8().map_err(openssl_error("CA private key"))?;
        let pkcs8 = String::from_utf8(pkcs8).map_err(|e| PkiError::Invalid(e.to_string()))?;
        let cert_pem = String::from_utf8(cert.to_pem().map_err(openssl_error("CA certificate"))?)
            .map_err(|e| PkiError::Invalid(e.to_string()))?;
        let ca = CertificateAuthority::from_pem(&cert_pem, &pkcs8)?;
        write_private(&dir.join(CA_KEY_FILE), pkcs8.as_bytes())?;
        let cert_path = dir.join(CA_CERT_FILE);
        write_private(&cert_path, cert_pem.as_bytes())?;
        for stale in [SECURE_SERVER_CERT_FILE, SECURE_SERVER_KEY_FILE] {
            let _ = fs::remove_file(dir.join(stale));
        }
        Ok(ca)
    }

    fn from_pem(cert_pem: &str, key_pem: &str) -> Result<CertificateAuthority, PkiError> {
        let key = KeyPair::from_pem(key_pem)?;
        let issuer = Issuer::from_ca_cert_pem(cert_pem, key)?;
        let der = openssl::x509::X509::from_pem(cert_pem.as_bytes())
            .and_then(|c| c.to_der())
            .map_err(openssl_error("CA certificate"))?;
        Ok(CertificateAuthority { cert_pem: cert_pem.to_owned(), cert_der: der, issuer })
    }

    /// The CA certificate, PEM: what phones receive as `dls-server-ca` (p. 64).
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The CA certificate, DER: the trust anchor of the secure port.
    pub fn cert_der(&self) -> &[u8] {
        &self.cert_der
    }

    /// The secure port's identity: loaded from `dir` when it was signed by this CA, is not
    /// within 30 days of expiry and carries every one of `names`; otherwise (or when `force` is
    /// set) issued anew for `names` and stored.
    pub fn secure_server_identity(
        &self,
        dir: &Path,
        names: &[String],
        force: bool,
    ) -> Result<ServerIdentity, PkiError> {
        let (cert_path, key_path) = (dir.join(SECURE_SERVER_CERT_FILE), dir.join(SECURE_SERVER_KEY_FILE));
        let issued = match (fs::read_to_string(&cert_path), fs::read_to_string(&key_path)) {
            (Ok(_), Ok(_)) if force => Issued::OnRequest,
            (Ok(cert_pem), Ok(key_pem)) if self.still_good(&cert_pem) => {
                match crate::names_missing(&cert_pem, names) {
                    missing if missing.is_empty() => {
                        return Ok(ServerIdentity { cert_pem, key_pem, cert_path, issued: Issued::No });
                    }
                    missing => Issued::NamesChanged { missing },
                }
            }
            (Ok(_), Ok(_)) => Issued::Renewed,
            _ => Issued::First,
        };
        let common_name = names.first().cloned().unwrap_or_else(|| "opendls".into());
        let issued_cert =
            self.issue(common_name, None, names, ExtendedKeyUsagePurpose::ServerAuth, SERVER_VALIDITY)?;
        // The chain the server presents: its certificate, then the CA.
        let chain = format!("{}{}", issued_cert.cert_pem, self.cert_pem);
        write_private(&key_path, issued_cert.key_pem.as_bytes())?;
        write_private(&cert_path, chain.as_bytes())?;
        Ok(ServerIdentity { cert_pem: chain, key_pem: issued_cert.key_pem, cert_path, issued })
    }

    /// Whether a stored server certificate was signed by this CA and is not about to expire.
    fn still_good(&self, cert_pem: &str) -> bool {
        let (Ok(cert), Ok(ca)) = (
            openssl::x509::X509::from_pem(cert_pem.as_bytes()),
            openssl::x509::X509::from_der(&self.cert_der),
        ) else {
            return false;
        };
        let signed = ca.public_key().and_then(|key| cert.verify(&key)).unwrap_or(false);
        let renew_at = openssl::asn1::Asn1Time::days_from_now((SERVER_RENEW_BEFORE.as_secs() / DAY) as u32);
        let fresh = renew_at.map(|at| cert.not_after() > at).unwrap_or(false);
        signed && fresh
    }

    /// Issues a device's client certificate (subject CN = the MAC, EKU clientAuth) valid for
    /// `validity` from now.
    pub fn issue_device_certificate(
        &self,
        mac: &str,
        validity: Duration,
    ) -> Result<DeviceCertificate, PkiError> {
        let unit = Some("OpenStage phone".to_owned());
        self.issue(mac.to_owned(), unit, &[], ExtendedKeyUsagePurpose::ClientAuth, validity)
            .map(|issued| DeviceCertificate { mac: mac.to_owned(), ..issued })
    }

    /// Issues a server certificate for a phone's own web server (WBM, guide p. 59-61), named by
    /// the phone's address and MAC.
    pub fn issue_wbm_certificate(
        &self,
        mac: &str,
        addresses: &[String],
        validity: Duration,
    ) -> Result<DeviceCertificate, PkiError> {
        let common_name = addresses.first().cloned().unwrap_or_else(|| mac.to_owned());
        let unit = Some(format!("OpenStage WBM {mac}"));
        self.issue(common_name, unit, addresses, ExtendedKeyUsagePurpose::ServerAuth, validity)
            .map(|issued| DeviceCertificate { mac: mac.to_owned(), ..issued })
    }

    /// A new RSA-2048 key and a certificate for it signed by this CA (`mac` left empty).
    fn issue(
        &self,
        common_name: String,
        unit: Option<String>,
        alt_names: &[String],
        usage: ExtendedKeyUsagePurpose,
        validity: Duration,
    ) -> Result<DeviceCertificate, PkiError> {
        let key = KeyPair::generate_for(&PKCS_RSA_SHA256)?;
        let mut params = CertificateParams::default();
        let mut subject = DistinguishedName::new();
        subject.push(DnType::CommonName, common_name);
        subject.push(DnType::OrganizationName, "opendls");
        if let Some(unit) = unit {
            subject.push(DnType::OrganizationalUnitName, unit);
        }
        params.distinguished_name = subject;
        params.subject_alt_names = subject_alt_names(alt_names)?;
        params.extended_key_usages = vec![usage];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
        let serial = random_serial();
        params.serial_number = Some(serial.clone());
        params.use_authority_key_identifier_extension = true;
        let now = SystemTime::now();
        // An hour back, for phones whose clock is a little behind.
        let (not_before, not_after) = (now - Duration::from_secs(3600), now + validity);
        params.not_before = not_before.into();
        params.not_after = not_after.into();
        let cert = params.signed_by(&key, &self.issuer)?;
        Ok(DeviceCertificate {
            serial: hex::encode(serial.to_bytes()),
            fingerprint: fingerprint(cert.der()),
            mac: String::new(),
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            not_before: unix(not_before),
            not_after: unix(not_after),
        })
    }
}

/// Host names and IP addresses as subject alternative names.
pub(crate) fn subject_alt_names(names: &[String]) -> Result<Vec<SanType>, PkiError> {
    Ok(names
        .iter()
        .map(|name| match name.parse() {
            Ok(ip) => Ok(SanType::IpAddress(ip)),
            Err(_) => name.clone().try_into().map(SanType::DnsName),
        })
        .collect::<Result<_, _>>()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ca_is_made_once_signs_the_server_and_devices_and_keeps_keys_private() {
        let dir = tempfile::tempdir().unwrap();
        let ca = CertificateAuthority::load_or_create(dir.path()).unwrap();
        let again = CertificateAuthority::load_or_create(dir.path()).unwrap();
        assert_eq!(ca.cert_pem(), again.cert_pem(), "a restart keeps the CA");
        let names = vec!["127.0.0.1".to_owned()];
        let server = ca.secure_server_identity(dir.path(), &names, false).unwrap();
        let server_again = again.secure_server_identity(dir.path(), &names, false).unwrap();
        assert_eq!(server.cert_pem, server_again.cert_pem, "a valid server certificate is kept");

        let ca_x509 = openssl::x509::X509::from_pem(ca.cert_pem().as_bytes()).unwrap();
        let device = ca.issue_device_certificate("00:1A:E8:00:00:01", Duration::from_secs(DAY)).unwrap();
        let cert = openssl::x509::X509::from_pem(device.cert_pem.as_bytes()).unwrap();
        assert!(cert.verify(&ca_x509.public_key().unwrap()).unwrap());
        let cn = cert.subject_name().entries_by_nid(openssl::nid::Nid::COMMONNAME).next().unwrap();
        assert_eq!(cn.data().as_slice(), b"00:1A:E8:00:00:01");
        assert_eq!(hex::encode(cert.serial_number().to_bn().unwrap().to_vec()), device.serial);
        assert_eq!(device.fingerprint, fingerprint(&cert.to_der().unwrap()));
        assert!(device.not_after - device.not_before >= DAY as i64);
        assert!(!format!("{device:?}").contains("PRIVATE"));
        #[cfg(unix)]
        for file in [CA_KEY_FILE, SECURE_SERVER_KEY_FILE] {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(dir.path().join(file)).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "{file}");
        }
    }

    #[test]
    fn an_imported_ca_must_match_its_key_and_replaces_the_server_certificate() {
        let dir = tempfile::tempdir().unwrap();
        let other = tempfile::tempdir().unwrap();
        let first = CertificateAuthority::load_or_create(dir.path()).unwrap();
        first.secure_server_identity(dir.path(), &["localhost".into()], false).unwrap();
        let theirs = CertificateAuthority::load_or_create(other.path()).unwrap();
        let their_key = fs::read_to_string(other.path().join(CA_KEY_FILE)).unwrap();
        let our_key = fs::read_to_string(dir.path().join(CA_KEY_FILE)).unwrap();
        let refused = CertificateAuthority::import(dir.path(), theirs.cert_pem(), &our_key);
        assert!(matches!(refused, Err(PkiError::Invalid(_))), "a key of another certificate is refused");
        // PKCS#1 keys, as many CAs export them, are accepted.
        let pkcs1 = openssl::pkey::PKey::private_key_from_pem(their_key.as_bytes())
            .unwrap()
            .rsa()
            .unwrap()
            .private_key_to_pem()
            .unwrap();
        let imported =
            CertificateAuthority::import(dir.path(), theirs.cert_pem(), std::str::from_utf8(&pkcs1).unwrap())
                .unwrap();
        assert_eq!(imported.cert_der(), theirs.cert_der());
        assert!(!dir.path().join(SECURE_SERVER_CERT_FILE).exists(), "re-issued at the next start");
        let reloaded = CertificateAuthority::load_or_create(dir.path()).unwrap();
        assert_eq!(reloaded.cert_der(), theirs.cert_der());
        let server = reloaded.secure_server_identity(dir.path(), &["localhost".into()], false).unwrap();
        let leaf = openssl::x509::X509::from_pem(server.cert_pem.as_bytes()).unwrap();
        let ca = openssl::x509::X509::from_der(theirs.cert_der()).unwrap();
        assert!(leaf.verify(&ca.public_key().unwrap()).unwrap());
    }
}
