//! The ECDSA certificate beside the RSA one on the Default port: a client that accepts ECDSA
//! P-256 gets it (and the device's record says so), a client that offers only RSA signatures,
//! or TLS 1.2 with only RSA suites, gets the RSA certificate as before, and
//! `secure_mode.ecdsa = false` serves RSA to everyone.

use opendls_phonesim::fleet::{FleetConfig, run_fleet};
use opendls_phonesim::interaction::Target;
use rustls::{CipherSuite, SignatureScheme};

use crate::support::*;

const RSA_ONLY: [SignatureScheme; 3] =
    [SignatureScheme::RSA_PSS_SHA256, SignatureScheme::RSA_PKCS1_SHA256, SignatureScheme::RSA_PSS_SHA384];

/// The key type of the certificate the server presents to a client offering `schemes` (and,
/// when `tls12_suites` is given, only TLS 1.2 with those suites).
async fn served_key(
    server: &TestServer,
    schemes: &[SignatureScheme],
    tls12_suites: Option<&[CipherSuite]>,
) -> String {
    let mut provider = rustls::crypto::aws_lc_rs::default_provider();
    let versions: &[&rustls::SupportedProtocolVersion] = match tls12_suites {
        Some(suites) => {
            provider.cipher_suites.retain(|s| suites.contains(&s.suite()));
            &[&rustls::version::TLS12]
        }
        None => rustls::DEFAULT_VERSIONS,
    };
    let config =
        opendls_phonesim::transport::default_mode_client_offering(provider, versions, schemes.to_vec());
    let stream = opendls_phonesim::transport::connect(server.phone_addr(), config).await.unwrap();
    let (_, connection) = stream.get_ref();
    let leaf = connection.peer_certificates().unwrap()[0].as_ref().to_vec();
    let key = openssl::x509::X509::from_der(&leaf).unwrap().public_key().unwrap();
    match key.id() {
        openssl::pkey::Id::RSA => "rsa".into(),
        openssl::pkey::Id::EC => "ecdsa".into(),
        other => format!("{other:?}"),
    }
}

#[tokio::test]
async fn clients_that_accept_ecdsa_get_it_and_rsa_only_clients_get_rsa() {
    let server = TestServer::start().await;
    let modern = [SignatureScheme::ECDSA_NISTP256_SHA256, SignatureScheme::RSA_PSS_SHA256];
    assert_eq!(served_key(&server, &modern, None).await, "ecdsa");
    assert_eq!(served_key(&server, &RSA_ONLY, None).await, "rsa");
    // TLS 1.2: ECDSA signatures accepted, but only an RSA suite offered.
    let rsa_suite = [CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256];
    assert_eq!(served_key(&server, &modern, Some(&rsa_suite)).await, "rsa");
    let ecdsa_suite = [CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256];
    assert_eq!(served_key(&server, &modern, Some(&ecdsa_suite)).await, "ecdsa");

    // The simulated phones accept ECDSA: their records say which certificate they took.
    let report = run_fleet(
        &FleetConfig { phones: 3, ..FleetConfig::default() },
        &Target::default_mode(server.phone_addr()),
    )
    .await;
    assert_eq!(report.completed, 3);
    let devices = server.admin_json("GET", "/api/devices", None, 200).await;
    for device in devices.as_array().unwrap() {
        let offer = device["tls_offer"].as_str().unwrap();
        assert!(offer.ends_with("; modern; ECDSA certificate"), "{offer}");
    }
    let metrics = server.scrape().await;
    let ecdsa: f64 = metrics
        .0
        .lines()
        .filter(|l| l.starts_with("opendls_tls_handshakes_total") && l.contains("key=\"ecdsa\""))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    // The two test clients above that took ECDSA, and every request of the phones.
    assert_eq!(ecdsa, 2.0 + report.requests as f64, "{}", metrics.0);
}

#[tokio::test]
async fn with_ecdsa_off_everyone_gets_rsa() {
    let server = TestServer::start_with(|config| config.secure_mode.ecdsa = false).await;
    let modern = [SignatureScheme::ECDSA_NISTP256_SHA256, SignatureScheme::RSA_PSS_SHA256];
    assert_eq!(served_key(&server, &modern, None).await, "rsa");
    assert!(!server.running().data_dir.join("server-ecdsa-key.pem").exists(), "no ECDSA key is made");
}

/// The simulated phones' ClientHello, as the service reads it: the classical key exchanges a
/// phone offers, not rustls's post-quantum hybrid, which phone firmware predates and which made
/// every simulated handshake dearer than a phone's.
#[tokio::test]
async fn simulated_phones_offer_classical_key_exchanges_only() {
    use tokio::io::AsyncReadExt;
    const X25519: u16 = 0x001d;
    const X25519_MLKEM768: u16 = 0x11ec;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let phone = tokio::spawn(async move {
        opendls_phonesim::transport::connect_phone(addr, &opendls_phonesim::transport::PhoneTls::modern())
            .await
    });
    let (mut socket, _) = listener.accept().await.unwrap();
    let mut record = vec![0u8; 5];
    socket.read_exact(&mut record).await.unwrap();
    let length = usize::from(u16::from_be_bytes([record[3], record[4]]));
    record.resize(5 + length, 0);
    socket.read_exact(&mut record[5..]).await.unwrap();
    let hello = opendls_server::client_hello::parse_client_hello(&record).unwrap();
    assert!(hello.groups.contains(&X25519), "groups offered: {:04x?}", hello.groups);
    assert!(!hello.groups.contains(&X25519_MLKEM768), "groups offered: {:04x?}", hello.groups);
    drop(socket);
    let _ = phone.await;
}
