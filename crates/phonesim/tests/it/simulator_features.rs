//! The simulator's own behaviours, against a scripted service built from the guide's flows,
//! until opendls offers the service side (issues 5 and 6).

use std::time::Duration;

use opendls_phonesim::interaction::Target;
use opendls_phonesim::live::{self, Behaviour, Dcmp, LiveStats};
use opendls_phonesim::transport::http_request;
use opendls_phonesim::{PhoneProfile, SimPhone};
use opendls_wpi::{Action, Item, Reason};

use crate::scripted::{ScriptedDls, dcmp_responder};
use crate::support::eventually;

fn clean_up_always() -> crate::scripted::Script {
    Box::new(|_| (Action::CleanUp, vec![]))
}

/// p. 14-15: contact-me is answered 204 `Server: DlsClient`; the phone calls back `solicited` to
/// the address given, and ignores further requests within its contact gap.
#[tokio::test]
async fn contact_me_is_answered_and_the_contact_gap_honoured() {
    let dls = ScriptedDls::start(clean_up_always()).await;
    let behaviour = Behaviour { contact_gap: Duration::from_secs(60), ..Behaviour::default() };
    let live =
        live::spawn(SimPhone::new(PhoneProfile::numbered(30)), Target::default_mode(dls.addr), behaviour)
            .await
            .unwrap();
    assert!(eventually(Duration::from_secs(5), async || LiveStats::get(&live.stats.interactions) >= 1).await);
    let body = format!("ContactMe=true&dls_ip_addr=127.0.0.1&dls_ip_port={}", dls.addr.port());
    let headers = vec!["Content-Type: application/x-www-form-urlencoded; charset=utf-8".to_owned()];
    for _ in 0..2 {
        let reply = http_request(
            live.contact_me_addr,
            "POST",
            "/contact_dls.html/ContactDLS",
            &headers,
            body.as_bytes(),
            Duration::from_secs(5),
        )
        .await
        .unwrap();
        assert_eq!((reply.status, reply.header("server")), (204, Some("DlsClient")));
    }
    assert!(eventually(Duration::from_secs(5), async || LiveStats::get(&live.stats.solicited) >= 1).await);
    assert_eq!(LiveStats::get(&live.stats.contact_me_accepted), 1);
    assert_eq!(
        LiveStats::get(&live.stats.contact_me_ignored),
        1,
        "the second one fell within the contact gap"
    );
    live.stop().await;
    assert_eq!(dls.reasons(), ["start-up", "solicited"]);
}

/// p. 15, 24: the phone polls `/dcmp/contact-me?device-id=MAC`; 202 makes it call back.
#[tokio::test]
async fn dcmp_polling_calls_back_when_work_is_pending() {
    let dls = ScriptedDls::start(clean_up_always()).await;
    let (dcmp, polls) = dcmp_responder(1).await;
    let behaviour = Behaviour {
        dcmp: Some(Dcmp { server: dcmp, interval: Duration::from_millis(100) }),
        ..Behaviour::default()
    };
    let phone = SimPhone::new(PhoneProfile::numbered(31));
    let mac = phone.profile.mac.clone();
    let live = live::spawn(phone, Target::default_mode(dls.addr), behaviour).await.unwrap();
    assert!(eventually(Duration::from_secs(5), async || LiveStats::get(&live.stats.dcmp_polls) >= 3).await);
    live.stop().await;
    assert_eq!(polls.lock().unwrap()[0], format!("/dcmp/contact-me?device-id={mac}"));
    assert_eq!(dls.reasons().iter().filter(|r| *r == "solicited").count(), 1);
}

/// p. 50-51: Restart reboots the phone, which starts up again; a factory reset restores defaults.
#[tokio::test]
async fn restart_and_factory_reset_reboot_the_phone() {
    let mut answers = vec![
        (Action::Restart, vec![]),
        (
            Action::Restart,
            vec![Item::new("restart-password", "124816"), Item::new("restart-type", "FactoryReset")],
        ),
    ];
    let dls = ScriptedDls::start(Box::new(move |_| {
        if answers.is_empty() { (Action::CleanUp, vec![]) } else { answers.remove(0) }
    }))
    .await;
    let mut phone = SimPhone::new(PhoneProfile::numbered(32));
    phone.change_locally("sntp-addr", None, "changed.example");
    let live = live::spawn(phone, Target::default_mode(dls.addr), Behaviour::default()).await.unwrap();
    assert!(eventually(Duration::from_secs(10), async || LiveStats::get(&live.stats.start_ups) >= 3).await);
    let stats = live.stats.clone();
    let phone = live.stop().await;
    assert_eq!(LiveStats::get(&stats.reboots), 2);
    assert_ne!(phone.value("sntp-addr", None), Some("changed.example"), "factory reset restored the default");
    assert_eq!(dls.reasons(), ["start-up", "start-up", "start-up"]);
}

/// p. 52-54: a single file is fetched over HTTPS and reported with `status`.
#[tokio::test]
async fn file_deployment_fetches_over_https_and_reports_status() {
    let dls_port = std::sync::Arc::new(std::sync::Mutex::new(0u16));
    let port = dls_port.clone();
    let mut sent = false;
    let dls = ScriptedDls::start(Box::new(move |message| {
        if message.reason.reason == Reason::StartUp && !sent {
            sent = true;
            let url = format!("https://127.0.0.1:{}/media/ring.wav", port.lock().unwrap());
            (
                Action::FileDeployment,
                vec![Item::new("file-type", "RINGTONE"), Item::new("file-https-base-url", url)],
            )
        } else {
            (Action::CleanUp, vec![])
        }
    }))
    .await;
    *dls_port.lock().unwrap() = dls.addr.port();
    let mut phone = SimPhone::new(PhoneProfile::numbered(33));
    let first = phone.contact(Reason::StartUp, &[]);
    let done = opendls_phonesim::interaction::run_interaction(
        &mut phone,
        &Target::default_mode(dls.addr),
        first,
        &Default::default(),
    )
    .await
    .unwrap();
    assert_eq!(done.files, vec![("ring.wav".to_owned(), true)]);
    assert_eq!(dls.downloads.lock().unwrap().as_slice(), ["/media/ring.wav"]);
    let received = dls.received.lock().unwrap();
    let status = received.iter().find(|m| m.reason.reason == Reason::Status).expect("a status message");
    assert_eq!(status.value("file-deployment-status"), Some("ok"));
    assert_eq!(status.value("file-deployment-type"), Some("RINGTONE"));
}

/// p. 56-57: new firmware is fetched, installed, and the phone starts up with it.
#[tokio::test]
async fn firmware_deployment_reboots_into_the_new_version() {
    let dls_port = std::sync::Arc::new(std::sync::Mutex::new(0u16));
    let port = dls_port.clone();
    let dls = ScriptedDls::start(Box::new(move |message| {
        if message.value("software-version") == Some("V3 R5.12.0") {
            let url = format!("https://127.0.0.1:{}/OS40_SIP_V3_R5_13_0.img", port.lock().unwrap());
            let items = vec![
                Item::new("file-https-base-url", url),
                Item::new("file-type", "APP"),
                Item::new("file-sw-type", "Siemens SIP"),
                Item::new("file-sw-version", "3.5.13.0"),
                Item::new("file-priority", "immediate"),
            ];
            (Action::SoftwareDeployment, items)
        } else {
            (Action::CleanUp, vec![])
        }
    }))
    .await;
    *dls_port.lock().unwrap() = dls.addr.port();
    let mut profile = PhoneProfile::numbered(33);
    profile.firmware = "V3 R5.12.0".into();
    let live = live::spawn(SimPhone::new(profile), Target::default_mode(dls.addr), Behaviour::default())
        .await
        .unwrap();
    assert!(eventually(Duration::from_secs(10), async || LiveStats::get(&live.stats.start_ups) >= 2).await);
    let phone = live.stop().await;
    assert_eq!(phone.value("software-version", None), Some("V3 R5.13.0"));
    let versions: Vec<Option<String>> =
        dls.received.lock().unwrap().iter().map(|m| m.value("software-version").map(str::to_owned)).collect();
    assert_eq!(versions, [Some("V3 R5.12.0".into()), Some("V3 R5.13.0".into())]);
}

/// A CA, a secure-port service trusting only certificates it issued, and a phone certificate.
struct SecurePki {
    ca_pem: String,
    client_der: Vec<u8>,
    /// PKCS#12 of the phone's certificate and key (and the CA) under `password`.
    bundle: Vec<u8>,
    secure: ScriptedDls,
}

async fn secure_pki(mac: &str, password: &str, secure_script: crate::scripted::Script) -> SecurePki {
    use rcgen::{
        BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    };
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(DnType::CommonName, "test DLS CA");
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let server_key = KeyPair::generate().unwrap();
    let server_cert =
        CertificateParams::new(vec!["127.0.0.1".to_owned()]).unwrap().signed_by(&server_key, &ca).unwrap();
    let client_key = KeyPair::generate().unwrap();
    let mut client_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    client_params.distinguished_name.push(DnType::CommonName, mac.to_owned());
    client_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let client_cert = client_params.signed_by(&client_key, &ca).unwrap();
    let mut chain = openssl::stack::Stack::new().unwrap();
    chain.push(openssl::x509::X509::from_der(ca.der()).unwrap()).unwrap();
    let bundle = openssl::pkcs12::Pkcs12::builder()
        .name("phone")
        .pkey(&openssl::pkey::PKey::private_key_from_pem(client_key.serialize_pem().as_bytes()).unwrap())
        .cert(&openssl::x509::X509::from_pem(client_cert.pem().as_bytes()).unwrap())
        .ca(chain)
        .build2(password)
        .unwrap()
        .to_der()
        .unwrap();

    let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.der().clone()).unwrap();
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        std::sync::Arc::new(roots),
        provider.clone(),
    )
    .build()
    .unwrap();
    let secure_config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_single_cert(
            vec![CertificateDer::from(server_cert.der().to_vec())],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server_key.serialize_der())),
        )
        .unwrap();
    let secure = ScriptedDls::start_with(secure_config, secure_script, tempfile::tempdir().unwrap()).await;
    SecurePki { ca_pem: ca.pem(), client_der: client_cert.der().to_vec(), bundle, secure }
}

/// A default-port service that answers the first start-up with `bootstrap` and everything else
/// with CleanUp.
async fn bootstrapping_dls(bootstrap: Vec<Item>) -> ScriptedDls {
    let mut sent = false;
    ScriptedDls::start(Box::new(move |message| {
        if message.reason.reason == Reason::StartUp && !sent {
            sent = true;
            (Action::WriteItems, bootstrap.clone())
        } else {
            (Action::CleanUp, vec![])
        }
    }))
    .await
}

/// p. 62-65, Secure Mode without PIN: the phone takes its certificate, key, the service's CA and
/// the secure port from a bootstrap `WriteItems`, answers accepted, and after `CleanUp` starts up
/// on the secure port with mutual TLS, checking the service against the CA it received.
#[tokio::test]
async fn secure_mode_without_pin_switches_to_mutual_tls() {
    let phone = SimPhone::new(PhoneProfile::numbered(50));
    let pki = secure_pki(&phone.profile.mac, "", clean_up_always()).await;
    let default = bootstrapping_dls(vec![
        Item::new("goto-secure-mode", "nopin"),
        Item::new("dls-client-certificate", openssl::base64::encode_block(&pki.bundle)),
        Item::indexed("dls-server-ca", 0, pki.ca_pem.clone()),
        Item::new("dls-secure-port", pki.secure.addr.port().to_string()),
    ])
    .await;

    let live = live::spawn(phone, Target::default_mode(default.addr), Behaviour::default()).await.unwrap();
    assert!(
        eventually(Duration::from_secs(10), async || !pki.secure.received.lock().unwrap().is_empty()).await
    );
    let stats = live.stats.clone();
    let phone = live.stop().await;
    assert_eq!(LiveStats::get(&stats.secure_mode), 1);
    assert_eq!(LiveStats::get(&stats.errors), 0);
    assert_eq!(phone.secure_mode.as_ref().map(|s| s.port), Some(pki.secure.addr.port()));
    let reply = &default.received.lock().unwrap()[1];
    assert_eq!(reply.reason.status, Some(opendls_wpi::ReplyStatus::Accepted));
    assert!(reply.items.is_empty(), "the bootstrap was accepted without item errors: {:?}", reply.items);
    assert_eq!(pki.secure.reasons(), ["start-up"]);
    let presented = pki.secure.client_certificates.lock().unwrap()[0].clone().expect("a client certificate");
    assert_eq!(presented, pki.client_der, "the phone presented the certificate it was given");
}

fn pin_bootstrap(pki: &SecurePki) -> Vec<Item> {
    let container =
        opendls_wpi::bootstrap::SecureModeData { port: pki.secure.addr.port(), bundle: pki.bundle.clone() }
            .to_bytes();
    vec![
        Item::new("goto-secure-mode", "pin"),
        Item::new("secure-mode-data", openssl::base64::encode_block(&container)),
        Item::new("max-pin-retries", "3"),
    ]
}

/// p. 65-68, Secure Mode with PIN: the bundle opens with the PIN less its last three characters,
/// the phone starts up on the secure port, and answers `bootstrapping-tan` with those three.
#[tokio::test]
async fn secure_mode_with_pin_reports_the_tan() {
    let phone = SimPhone::new(PhoneProfile::numbered(52));
    let secure_script: crate::scripted::Script = Box::new(|message| {
        if message.reason.reason == Reason::StartUp {
            (Action::ReadItems, vec![Item::request("bootstrapping-tan")])
        } else {
            (Action::CleanUp, vec![])
        }
    });
    let pki = secure_pki(&phone.profile.mac, "1234", secure_script).await;
    let default = bootstrapping_dls(pin_bootstrap(&pki)).await;
    let behaviour = Behaviour { pins: vec!["9999999".into(), "1234321".into()], ..Behaviour::default() };
    let live = live::spawn(phone, Target::default_mode(default.addr), behaviour).await.unwrap();
    assert!(
        eventually(Duration::from_secs(10), async || pki.secure.received.lock().unwrap().len() >= 2).await
    );
    live.stop().await;
    let received = pki.secure.received.lock().unwrap();
    assert_eq!(received[1].value("bootstrapping-tan"), Some("321"));
    assert!(pki.secure.client_certificates.lock().unwrap()[0].is_some());
}

/// p. 83: after `max-pin-retries` wrong PINs the phone sends `clean-up` with
/// `password retries exceeded` and stays in Default Mode.
#[tokio::test]
async fn too_many_wrong_pins_are_reported() {
    let phone = SimPhone::new(PhoneProfile::numbered(53));
    let pki = secure_pki(&phone.profile.mac, "1234", clean_up_always()).await;
    let default = bootstrapping_dls(pin_bootstrap(&pki)).await;
    let behaviour = Behaviour {
        pins: vec!["0000000".into(), "1111111".into(), "2222222".into()],
        ..Behaviour::default()
    };
    let live = live::spawn(phone, Target::default_mode(default.addr), behaviour).await.unwrap();
    assert!(eventually(Duration::from_secs(10), async || default.reasons().len() >= 3).await);
    let phone = live.stop().await;
    assert_eq!(default.reasons(), ["start-up", "reply-to", "clean-up"]);
    assert_eq!(
        default.received.lock().unwrap()[2].value("cleanup-reason"),
        Some("password retries exceeded")
    );
    assert!(phone.secure_mode.is_none());
    assert!(pki.secure.received.lock().unwrap().is_empty());
}

/// A bundle the phone cannot read is refused item by item, and the phone stays in Default Mode.
#[tokio::test]
async fn a_broken_bootstrap_is_refused() {
    let mut phone = SimPhone::new(PhoneProfile::numbered(51));
    phone.contact(Reason::StartUp, &[]);
    let message = opendls_wpi::DlsMessage::with_items(
        phone.last_nonce.clone(),
        Action::WriteItems,
        vec![
            Item::new("goto-secure-mode", "nopin"),
            Item::new("dls-client-certificate", "bm90IGEgYnVuZGxl"),
            Item::new("dls-secure-port", "18444"),
        ],
    );
    let opendls_phonesim::Next::Reply(reply) = phone.answer(&message) else { panic!("expected a reply") };
    assert_eq!(reply.items[0].name, "dls-client-certificate");
    assert_eq!(reply.items[0].status, Some(opendls_wpi::ItemStatus::InvalidData));
    phone.answer(&opendls_wpi::DlsMessage::new(phone.last_nonce.clone(), Action::CleanUp));
    assert!(phone.secure_mode.is_none());
}

/// p. 72 speaks of the phones' "normal connection-retry process": a phone whose connection fails
/// starts its contact again, as many times as configured, and each retry is counted by kind.
#[tokio::test]
async fn failed_connections_are_retried_as_configured_and_counted() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = closed.local_addr().unwrap();
    drop(closed);
    let fleet = opendls_phonesim::fleet::FleetConfig {
        phones: 3,
        boot_within: Duration::from_millis(10),
        connection_retries: 2,
        overload_backoff: (Duration::from_millis(5), Duration::from_millis(10)),
        ..Default::default()
    };
    let report = opendls_phonesim::fleet::run_fleet(&fleet, &Target::default_mode(addr)).await;
    assert_eq!(report.failed, 3);
    assert_eq!(report.retried_connections.get("connect"), Some(&6), "{report:?}");
    assert_eq!(report.errors.get("connect"), Some(&3), "the third failure is final");
    assert_eq!(report.retried_then_completed, 0);
}
