//! What a phone receives: PKCS#12 bundles and their encodings on the wire. Every encoding choice
//! the guide leaves open is made here, once (evidence in docs/secure-mode-data.md):
//!
//! * `dls-client-certificate` (p. 64 shows only `.....`): base64 of a PKCS#12 holding the client
//!   certificate and key with an empty password, by analogy with `wbm-server-certificate`, which
//!   the guide documents as base64 PKCS#12 (p. 60).
//! * `secure-mode-data` (p. 65-67, "packed, encrypted and Base64-encoded"): behind
//!   [`SecureModeDataFormat`]; the default, [`OpendlsContainerV1`], is opendls' own and unverified
//!   against real firmware.
//! * `wbm-server-certificate` (p. 60): base64 PKCS#12, no password.
//!
//! PKCS#12 uses the legacy profile (3DES, SHA-1 MAC): the phones' embedded OpenSSL of the V3 era
//! cannot read the PBES2/AES-256 default of modern tools (docs/rust-stack.md §1.5).

use opendls_wpi::bootstrap::{SecureModeData, split_pin};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkcs12::Pkcs12;
use openssl::pkey::PKey;
use openssl::stack::Stack;
use openssl::x509::X509;

use crate::PkiError;
use crate::ca::{CertificateAuthority, DeviceCertificate};

fn invalid(what: &'static str) -> impl FnOnce(openssl::error::ErrorStack) -> PkiError {
    move |e| PkiError::Invalid(format!("{what}: {e}"))
}

/// A PKCS#12 (DER) of a certificate and its key, with the CA certificate as an extra certificate
/// when `ca` is given, encrypted under `password` with the legacy profile.
pub fn pkcs12(
    certificate: &DeviceCertificate,
    ca: Option<&CertificateAuthority>,
    password: &str,
) -> Result<Vec<u8>, PkiError> {
    let cert = X509::from_pem(certificate.cert_pem.as_bytes()).map_err(invalid("certificate"))?;
    let key = PKey::private_key_from_pem(certificate.key_pem.as_bytes()).map_err(invalid("key"))?;
    let mut builder = Pkcs12::builder();
    builder
        .name(&certificate.mac)
        .pkey(&key)
        .cert(&cert)
        .key_algorithm(Nid::PBE_WITHSHA1AND3_KEY_TRIPLEDES_CBC)
        .cert_algorithm(Nid::PBE_WITHSHA1AND3_KEY_TRIPLEDES_CBC)
        .mac_md(MessageDigest::sha1());
    if let Some(ca) = ca {
        let mut extra = Stack::new().map_err(invalid("CA chain"))?;
        extra
            .push(X509::from_der(ca.cert_der()).map_err(invalid("CA certificate"))?)
            .map_err(invalid("CA chain"))?;
        builder.ca(extra);
    }
    builder.build2(password).and_then(|p| p.to_der()).map_err(invalid("PKCS#12"))
}

/// The value of `dls-client-certificate` (p. 64): base64 PKCS#12, empty password.
pub fn dls_client_certificate(certificate: &DeviceCertificate) -> Result<String, PkiError> {
    Ok(openssl::base64::encode_block(&pkcs12(certificate, None, "")?))
}

/// The value of `wbm-server-certificate` (p. 60): base64 PKCS#12 with the CA, no password.
pub fn wbm_server_certificate(
    certificate: &DeviceCertificate,
    ca: &CertificateAuthority,
) -> Result<String, PkiError> {
    Ok(openssl::base64::encode_block(&pkcs12(certificate, Some(ca), "")?))
}

/// How `secure-mode-data` is packed (p. 65-67). The real firmware's format is not public: this
/// trait is the one place to change when it is known.
pub trait SecureModeDataFormat: Send + Sync {
    /// The item's value: the device's certificate and key, the CA and the secure port, sealed
    /// with the PIN (the phone opens it with the PIN less its last three characters, p. 67).
    fn seal(
        &self,
        certificate: &DeviceCertificate,
        ca: &CertificateAuthority,
        secure_port: u16,
        pin: &str,
    ) -> Result<String, PkiError>;
}

/// opendls' container, version 1 (docs/secure-mode-data.md): the secure port in a clear header,
/// then a PKCS#12 of certificate, key and CA under the PIN less its last three characters.
/// **Unverified against real firmware.**
#[derive(Debug, Clone, Copy, Default)]
pub struct OpendlsContainerV1;

impl SecureModeDataFormat for OpendlsContainerV1 {
    fn seal(
        &self,
        certificate: &DeviceCertificate,
        ca: &CertificateAuthority,
        secure_port: u16,
        pin: &str,
    ) -> Result<String, PkiError> {
        let (password, _tan) = split_pin(pin);
        let bundle = pkcs12(certificate, Some(ca), password)?;
        Ok(openssl::base64::encode_block(&SecureModeData { port: secure_port, bundle }.to_bytes()))
    }
}

/// A random PIN of `digits` decimal digits (at least 4: the last three are the TAN, p. 68).
pub fn generate_pin(digits: usize) -> String {
    let digits = digits.max(4);
    let mut bytes = vec![0u8; digits];
    getrandom::fill(&mut bytes).expect("the operating system's random source is available");
    // 250 is the largest multiple of 10 below 256: rejection keeps the digits uniform.
    let mut pin = String::with_capacity(digits);
    while pin.len() < digits {
        for byte in &bytes {
            if *byte < 250 && pin.len() < digits {
                pin.push(char::from(b'0' + byte % 10));
            }
        }
        getrandom::fill(&mut bytes).expect("the operating system's random source is available");
    }
    pin
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn bundles_open_with_the_right_password_only() {
        let dir = tempfile::tempdir().unwrap();
        let ca = CertificateAuthority::load_or_create(dir.path()).unwrap();
        let device = ca.issue_device_certificate("00:1A:E8:00:00:02", Duration::from_secs(3600)).unwrap();

        let plain = openssl::base64::decode_block(&dls_client_certificate(&device).unwrap()).unwrap();
        let opened = Pkcs12::from_der(&plain).unwrap().parse2("").unwrap();
        assert_eq!(opened.cert.unwrap().to_pem().unwrap(), device.cert_pem.as_bytes());
        assert!(opened.pkey.is_some());

        let sealed = OpendlsContainerV1.seal(&device, &ca, 18444, "4711321").unwrap();
        let raw = openssl::base64::decode_block(&sealed).unwrap();
        let data = SecureModeData::from_bytes(&raw).unwrap();
        assert_eq!(data.port, 18444);
        let p12 = Pkcs12::from_der(&data.bundle).unwrap();
        assert!(p12.parse2("4711321").is_err(), "the TAN is not part of the password");
        let opened = p12.parse2("4711").unwrap();
        assert_eq!(opened.ca.unwrap().len(), 1, "the CA travels along");
    }

    #[test]
    fn pins_are_digits_of_the_asked_length() {
        let pin = generate_pin(8);
        assert_eq!(pin.len(), 8);
        assert!(pin.chars().all(|c| c.is_ascii_digit()));
        assert_eq!(generate_pin(2).len(), 4);
        assert_ne!(generate_pin(12), generate_pin(12));
    }
}
