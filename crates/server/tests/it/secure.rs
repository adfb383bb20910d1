//! Secure Mode end to end (guide p. 62-68): simulated phones bootstrapped with and without PIN,
//! mutual TLS on the secure port, refusals (Default port after bootstrap, revoked certificate,
//! another CA, another device's certificate), and legacy TLS on the same ports.

use std::time::{Duration, Instant};

use opendls_phonesim::interaction::{Interaction, InteractionError, Manner, Target, run_interaction};
use opendls_phonesim::live::{self, Behaviour, LiveStats};
use opendls_phonesim::phone::{PhoneProfile, SecureModeOrder, SimPhone};
use opendls_phonesim::transport::{PhoneTls, TransportError, secure_mode_client};
use opendls_wpi::Reason;
use serde_json::{Value, json};

use crate::support::{TestServer, log_capture};

fn behaviour(pins: &[&str]) -> Behaviour {
    Behaviour { pins: pins.iter().map(|p| p.to_string()).collect(), ..Behaviour::default() }
}

pub(crate) async fn set_mode(server: &TestServer, scope: &str, target: Option<&str>, mode: &str) {
    let body = json!({ "scope": scope, "target": target, "mode": mode }).to_string();
    server.admin_json("PUT", "/api/security/mode", Some(&body), 204).await;
}

async fn security(server: &TestServer, mac: &str) -> Value {
    server.admin_json("GET", &format!("/api/devices/{mac}/security"), None, 200).await
}

/// Boots a live phone and waits until its Secure Mode state is `state` (or fails after 30 s).
pub(crate) async fn boot_until(server: &TestServer, n: u32, pins: &[&str], state: &str) -> (SimPhone, Value) {
    let phone = SimPhone::new(PhoneProfile::numbered(n));
    let mac = phone.profile.mac.clone();
    let live = live::spawn(phone, Target::default_mode(server.phone_addr()), behaviour(pins)).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let view = server.admin("GET", &format!("/api/devices/{mac}/security"), None).await;
        if view.status == 200 {
            let view: Value = serde_json::from_str(&view.text()).unwrap();
            if view["state"] == state && LiveStats::get(&live.stats.interactions) > 0 {
                // Let the phone finish what it is doing before it is stopped.
                tokio::time::sleep(Duration::from_millis(300)).await;
                let errors = LiveStats::get(&live.stats.errors);
                return (live.stop().await, json!({ "view": view, "errors": errors }));
            }
        }
        assert!(Instant::now() < deadline, "{mac} never reached {state}: {}", view.text());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The phone's own Secure Mode target: the secure port with its client certificate.
pub(crate) fn secure_target(order: &SecureModeOrder, server: &TestServer) -> Target {
    let mut target = Target::default_mode(server.running().secure_addr.unwrap());
    target.tls = PhoneTls::Modern(secure_mode_client(order).unwrap());
    target
}

pub(crate) async fn start_up(phone: &mut SimPhone, target: &Target) -> Result<Interaction, InteractionError> {
    let message = phone.contact(Reason::StartUp, &[]);
    run_interaction(phone, target, message, &Manner::default()).await
}

fn history_details(device: &Value) -> Vec<String> {
    device["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["detail"].as_str().unwrap_or("").to_owned())
        .collect()
}

#[tokio::test]
async fn no_pin_bootstrap_then_secure_start_up_then_the_default_port_is_refused() {
    let server = TestServer::start().await;
    set_mode(&server, "global", None, "secure").await;
    let (mut phone, seen) = boot_until(&server, 501, &[], "secure").await;
    assert_eq!(seen["errors"], 0);
    let mac = phone.profile.mac.clone();
    let view = &seen["view"];
    let certificates = view["certificates"].as_array().unwrap();
    assert_eq!(certificates.len(), 1, "{view:#}");
    assert_eq!(certificates[0]["state"], "active");
    assert_eq!(certificates[0]["mac"], mac.as_str());
    assert_eq!(view["certificate_serial"], certificates[0]["serial"]);
    assert!(view["tls_offer"].as_str().unwrap().contains("modern"), "{view:#}");
    let listed = server.admin_json("GET", "/api/devices", None, 200).await;
    assert_eq!(listed[0]["security_state"], "secure", "the device list shows the state");

    // The secure start-up went on normally: the phone was read in full (p. 65 step 6).
    let device = server.admin_json("GET", &format!("/api/devices/{mac}?history=200"), None, 200).await;
    assert!(device["reported"].as_array().unwrap().len() > 100, "read on the secure port");
    let details = history_details(&device);
    assert!(details.iter().any(|d| d.contains("bootstrap sent (without PIN)")), "{details:#?}");
    assert!(details.iter().any(|d| d.contains("Secure Mode established")), "{details:#?}");
    // The bootstrap material itself is never in the history.
    assert!(!device.to_string().contains("BEGIN CERTIFICATE"));

    // Later contacts on the secure port are served as usual.
    let order = phone.secure_mode.clone().expect("the phone holds its bootstrap");
    let secure = secure_target(&order, &server);
    let again = start_up(&mut phone, &secure).await.unwrap();
    assert_eq!(again.cleanup_reason, None);

    // guide p. 65, 68: the Default port is closed to a secure device (a phone, or an impostor
    // with its MAC).
    let refused = start_up(&mut phone, &Target::default_mode(server.phone_addr())).await.unwrap();
    assert!(refused.cleanup_reason.unwrap().contains("Secure Mode"));
    let metrics = server.scrape().await;
    assert_eq!(metrics.value("opendls_certificates_issued_total"), 1.0);
    assert_eq!(metrics.value("opendls_certificates{state=\"active\"}"), 1.0, "{}", metrics.0);
    assert_eq!(metrics.value("opendls_devices_by_security_state{state=\"secure\"}"), 1.0);
    let secure_handshakes = metrics.value(
        "opendls_tls_handshakes_total{port=\"secure\",stack=\"rustls\",version=\"TLSv1.3\",kind=\"full\",key=\"rsa\"}",
    ) + metrics.value(
        "opendls_tls_handshakes_total{port=\"secure\",stack=\"rustls\",version=\"TLSv1.2\",kind=\"full\",key=\"rsa\"}",
    );
    assert!(secure_handshakes >= 2.0, "{}", metrics.0);
    assert!(
        metrics.value("opendls_phone_messages_total{reason=\"start-up\",outcome=\"protocol_error\"}") >= 1.0
    );
    let device = server.admin_json("GET", &format!("/api/devices/{mac}?history=5"), None, 200).await;
    assert!(history_details(&device)[0].contains("contacted the Default port although it is in Secure Mode"));

    // An administrator resets the device: Default port again (and a new bootstrap, since the
    // global mode is still secure; here the mode is set back first).
    set_mode(&server, "device", Some(&mac), "default").await;
    server.admin("POST", &format!("/api/devices/{mac}/security/reset"), None).await;
    let served = start_up(&mut phone, &Target::default_mode(server.phone_addr())).await.unwrap();
    assert_eq!(served.cleanup_reason, None);
    let view = security(&server, &mac).await;
    assert_eq!(view["state"], "default");
    assert_eq!(view["certificates"][0]["state"], "revoked");
}

#[tokio::test]
async fn pin_bootstrap_with_the_right_pin_a_wrong_tan_and_too_many_wrong_pins() {
    let server = TestServer::start().await;
    set_mode(&server, "group", Some("front-desk"), "secure-pin").await;
    let macs: Vec<String> = (511..514).map(|n| PhoneProfile::numbered(n).mac).collect();
    let mut pins = Vec::new();
    for mac in &macs {
        // PIN mode is configured before the phone ever registers (p. 66 preconditions).
        set_mode(&server, "device", Some(mac), "secure-pin").await;
        let pin = server.admin_json("POST", &format!("/api/devices/{mac}/pin"), None, 200).await;
        pins.push(pin["pin"].as_str().unwrap().to_owned());
    }
    assert_eq!(pins[0].len(), 8);

    // The right PIN: the phone opens the bundle, starts up on the secure port, reports the TAN.
    let (_, seen) = boot_until(&server, 511, &[&pins[0]], "secure").await;
    assert_eq!(seen["errors"], 0);
    assert_eq!(seen["view"]["certificates"][0]["state"], "active");
    let device = server.admin_json("GET", &format!("/api/devices/{}?history=200", macs[0]), None, 200).await;
    let details = history_details(&device);
    assert!(details.iter().any(|d| d.contains("TAN correct")), "{details:#?}");
    assert!(!device.to_string().contains(&pins[0]), "the PIN is never shown again");

    // The PIN's first part right, its last three wrong: the bundle opens, the TAN is wrong.
    let wrong_tan = format!("{}999", &pins[1][..pins[1].len() - 3]);
    let wrong_tan =
        if wrong_tan == pins[1] { format!("{}998", &pins[1][..pins[1].len() - 3]) } else { wrong_tan };
    let (_, seen) = boot_until(&server, 512, &[&wrong_tan], "locked").await;
    assert_eq!(seen["view"]["certificates"][0]["state"], "revoked");
    assert_eq!(seen["view"]["certificates"][0]["ended_reason"], "wrong TAN from device");

    // Three wrong PINs: the phone gives up and says so (p. 83); the pending certificate is revoked.
    let (_, seen) = boot_until(&server, 513, &["00000000", "11111111", "22222222"], "default").await;
    let view = &seen["view"];
    assert_eq!(view["certificates"][0]["state"], "revoked", "{view:#}");
    assert_eq!(view["certificates"][0]["ended_reason"], "password retries exceeded");
    assert!(view["detail"].as_str().unwrap().contains("PIN retries"));
}

#[tokio::test]
async fn revoked_foreign_and_borrowed_certificates_are_refused() {
    let server = TestServer::start().await;
    set_mode(&server, "global", None, "secure").await;
    let (mut phone, _) = boot_until(&server, 521, &[], "secure").await;
    let mac = phone.profile.mac.clone();
    let order = phone.secure_mode.clone().unwrap();

    // Another device's certificate: the phone reporting 522 presents 521's certificate.
    let mut impostor = SimPhone::new(PhoneProfile::numbered(522));
    let refused = start_up(&mut impostor, &secure_target(&order, &server)).await.unwrap();
    assert_eq!(refused.cleanup_reason.as_deref(), Some("client certificate belongs to another device"));
    let victim = server.admin_json("GET", &format!("/api/devices/{mac}?history=3"), None, 200).await;
    assert!(
        history_details(&victim)[0]
            .contains(&format!("was presented by a phone reporting {}", impostor.profile.mac))
    );

    // A certificate from another CA: the TLS handshake itself fails.
    let other_dir = tempfile::tempdir().unwrap();
    let other_ca = opendls_pki::CertificateAuthority::load_or_create(other_dir.path()).unwrap();
    let foreign = other_ca.issue_device_certificate(&mac, Duration::from_secs(3600)).unwrap();
    let foreign_order = SecureModeOrder {
        client_bundle: opendls_pki::bundle::pkcs12(&foreign, None, "").unwrap(),
        bundle_password: String::new(),
        server_cas: order.server_cas.clone(),
        port: order.port,
    };
    let mut twin = SimPhone::new(PhoneProfile::numbered(521));
    let failed = start_up(&mut twin, &secure_target(&foreign_order, &server)).await;
    assert!(
        matches!(failed, Err(InteractionError::Transport(TransportError::Tls(_) | TransportError::Io(_)))),
        "{failed:?}"
    );

    // Revoked: the phone's own certificate stops working at once.
    let revoked = server.admin_json("POST", &format!("/api/devices/{mac}/security/revoke"), None, 200).await;
    assert_eq!(revoked["revoked"], 1);
    let refused = start_up(&mut phone, &secure_target(&order, &server)).await.unwrap();
    assert_eq!(refused.cleanup_reason.as_deref(), Some("client certificate revoked"));
    // ... and the Default port stays closed until an administrator resets the device.
    let refused = start_up(&mut phone, &Target::default_mode(server.phone_addr())).await.unwrap();
    assert!(refused.cleanup_reason.unwrap().contains("Secure Mode"));
}

#[tokio::test]
async fn the_ca_and_server_certificates_are_exported_and_chain() {
    let server = TestServer::start().await;
    let ca = server.admin("GET", "/api/security/ca", None).await;
    assert_eq!(ca.status, 200);
    let chain = server.admin("GET", "/api/security/server-certificate", None).await;
    let ca = openssl::x509::X509::from_pem(&ca.body).unwrap();
    let leaf = openssl::x509::X509::stack_from_pem(&chain.body).unwrap().remove(0);
    assert!(leaf.verify(&ca.public_key().unwrap()).unwrap());
    let bad = json!({ "scope": "global", "mode": "paranoid" }).to_string();
    let refused = server.admin_json("PUT", "/api/security/mode", Some(&bad), 422).await;
    assert!(refused["error"].as_str().unwrap().contains("secure-pin"), "the modes are named: {refused}");
    let modes = server.admin_json("GET", "/api/security/modes", None, 200).await;
    assert_eq!(modes, json!([]));
    // Group default PINs can be set and shown again; individual ones cannot.
    let set = server.admin_json("PUT", "/api/groups/lab/pin", Some(r#"{"pin":"12345678"}"#), 200).await;
    assert_eq!(set["pin"], "12345678");
    let shown = server.admin_json("GET", "/api/groups/lab/pin", None, 200).await;
    assert_eq!(shown["pin"], "12345678");
    server.admin_json("PUT", "/api/groups/lab/pin", Some(r#"{"pin":"12"}"#), 400).await;
    // Bootstrap items and certificates are not configuration values.
    for name in ["goto-secure-mode", "dls-client-certificate", "wbm-server-certificate"] {
        let body = json!({ "scope": "global", "name": name, "value": "x" }).to_string();
        server.admin_json("PUT", "/api/config", Some(&body), 422).await;
    }
}

#[tokio::test]
#[cfg_attr(not(feature = "legacy-tls"), ignore = "needs the legacy-tls feature")]
async fn a_tls_1_0_phone_is_served_with_legacy_tls_and_refused_with_a_clear_log_line_without() {
    let logs = log_capture();
    for legacy in [true, false] {
        let server = TestServer::start_with(|config| config.secure_mode.legacy_tls = legacy).await;
        let mut phone = SimPhone::new(PhoneProfile::numbered(530 + u32::from(legacy)));
        let mut target = Target::default_mode(server.phone_addr());
        target.tls = PhoneTls::legacy();
        target.timeout = Duration::from_secs(10);
        let result = start_up(&mut phone, &target).await;
        let mac = phone.profile.mac.clone();
        if legacy {
            let done = result.unwrap();
            assert_eq!(done.cleanup_reason, None);
            // The inventory records what the phone offered, so an admin sees who needs legacy TLS.
            let device = server.admin_json("GET", &format!("/api/devices/{mac}/security"), None, 200).await;
            let offer = device["tls_offer"].as_str().unwrap();
            assert!(offer.starts_with("TLS1.0,TLS1.1;") && offer.ends_with("legacy only"), "{offer}");
            let listed = server.admin_json("GET", "/api/devices", None, 200).await;
            let entry = listed.as_array().unwrap().iter().find(|d| d["mac"] == mac.as_str()).unwrap().clone();
            assert_eq!(
                (entry["tls_offer"].as_str(), entry["security_state"].as_str()),
                (Some(offer), Some("default"))
            );
            let metrics = server.scrape().await;
            // It offers TLS 1.0 and 1.1; OpenSSL takes the newer.
            let served = "opendls_tls_handshakes_total{port=\"default\",stack=\"legacy\",version=\"TLSv1.1\",kind=\"full\",key=\"rsa\"}";
            assert!(metrics.value(served) >= 1.0, "{}", metrics.0);
        } else {
            assert!(result.is_err(), "refused without legacy TLS");
            let port = server.phone_addr().port();
            let deadline = Instant::now() + Duration::from_secs(5);
            while !logs.contains(&["refused a legacy TLS client", "OPENDLS_LEGACY_TLS=on"]) {
                assert!(Instant::now() < deadline, "no log line for port {port}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            let refused = "opendls_tls_handshake_failures_total{port=\"default\",stack=\"legacy\",why=\"legacy_refused\"}";
            assert!(server.scrape().await.value(refused) >= 1.0);
        }
    }
}

async fn until_job_finished(server: &TestServer, id: i64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let job = server.admin_json("GET", &format!("/api/jobs/{id}"), None, 200).await;
        let states: Vec<&str> =
            job["targets"].as_array().unwrap().iter().map(|t| t["state"].as_str().unwrap()).collect();
        if states.iter().all(|s| matches!(*s, "done" | "failed" | "timed-out" | "cancelled")) {
            return job;
        }
        assert!(Instant::now() < deadline, "job {id} did not finish: {job:#}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// "One setting, and the fleet moves": secure mode set globally and pushed by contact-me; later
/// jobs reach the secure phones through the secure port; an expiring certificate is renewed.
#[tokio::test]
async fn the_fleet_moves_by_contact_me_and_certificates_are_renewed() {
    let server = TestServer::start_with(|config| {
        config.jobs.tick_millis = 200;
        config.jobs.contact_me_spacing_secs = 1;
        config.jobs.contact_gap_secs = 1;
    })
    .await;
    let quick = Behaviour {
        contact_gap: Duration::from_secs(1),
        reboot_delay: Duration::from_millis(200),
        ..Behaviour::default()
    };
    let mut phones = Vec::new();
    for n in 541..545 {
        let phone = SimPhone::new(PhoneProfile::numbered(n));
        phones.push(
            live::spawn(phone, Target::default_mode(server.phone_addr()), quick.clone()).await.unwrap(),
        );
    }
    while phones.iter().any(|p| LiveStats::get(&p.stats.interactions) == 0) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    set_mode(&server, "global", None, "secure").await;
    let push = json!({"kind": "apply-configuration", "targets": {"by": "all"}});
    let job = server.admin_json("POST", "/api/jobs", Some(&push.to_string()), 201).await;
    let job = until_job_finished(&server, job["id"].as_i64().unwrap()).await;
    assert!(job["targets"].as_array().unwrap().iter().all(|t| t["state"] == "done"), "{job:#}");
    for phone in &phones {
        assert_eq!(security(&server, &phone.mac).await["state"], "secure");
        assert_eq!(LiveStats::get(&phone.stats.secure_mode), 1);
    }

    // One certificate is about to expire: the next secure contact renews it (a no-PIN bootstrap
    // over the authenticated channel) and the phone comes back with the new one.
    let renewed = &phones[0].mac;
    server
        .database_execute(
            "UPDATE certificates SET not_after = strftime('%s', 'now') + 3600 WHERE mac = ?1",
            "UPDATE certificates SET not_after = extract(epoch FROM now())::bigint + 3600 WHERE mac = $1",
            renewed,
        )
        .await;
    // A restart job reaches every secure phone by contact-me, called back to the secure port.
    let restart = json!({"kind": "restart", "targets": {"by": "all"}});
    let job = server.admin_json("POST", "/api/jobs", Some(&restart.to_string()), 201).await;
    let job = until_job_finished(&server, job["id"].as_i64().unwrap()).await;
    assert!(job["targets"].as_array().unwrap().iter().all(|t| t["state"] == "done"), "{job:#}");
    let view = security(&server, renewed).await;
    let states: Vec<&str> =
        view["certificates"].as_array().unwrap().iter().map(|c| c["state"].as_str().unwrap()).collect();
    assert_eq!(states, ["active", "superseded"], "{view:#}");
    assert_eq!(LiveStats::get(&phones[0].stats.secure_mode), 2, "the phone switched to the new certificate");
    for (n, phone) in phones.into_iter().enumerate() {
        assert_eq!(LiveStats::get(&phone.stats.errors), 0);
        // The renewed phone's start-up with its new certificate already counts as the restart
        // (a start-up after the job was created finishes a restart job).
        if n > 0 {
            assert_eq!(LiveStats::get(&phone.stats.reboots), 1);
        }
        phone.stop().await;
    }
}

/// A phone of old firmware in Secure Mode: legacy TLS with its client certificate is served by
/// the OpenSSL path of the secure port, which checks the certificate against the CA; without a
/// certificate the handshake fails.
#[tokio::test]
#[cfg_attr(not(feature = "legacy-tls"), ignore = "needs the legacy-tls feature")]
async fn a_legacy_tls_phone_is_served_on_the_secure_port_with_its_certificate() {
    let server = TestServer::start().await;
    set_mode(&server, "global", None, "secure").await;
    let (mut phone, _) = boot_until(&server, 551, &[], "secure").await;
    let order = phone.secure_mode.clone().unwrap();
    let mut target = secure_target(&order, &server);
    target.tls = opendls_phonesim::transport::legacy_secure_mode_client(&order).unwrap();
    let done = start_up(&mut phone, &target).await.unwrap();
    assert_eq!(done.cleanup_reason, None);
    let view = security(&server, &phone.profile.mac).await;
    assert!(view["tls_offer"].as_str().unwrap().ends_with("legacy only"), "{view:#}");

    // Revocation holds on this path too.
    server
        .admin_json("POST", &format!("/api/devices/{}/security/revoke", phone.profile.mac), None, 200)
        .await;
    let refused = start_up(&mut phone, &target).await.unwrap();
    assert_eq!(refused.cleanup_reason.as_deref(), Some("client certificate revoked"));

    // No certificate at all: the secure port refuses the handshake.
    let mut anonymous = SimPhone::new(PhoneProfile::numbered(552));
    let mut target = secure_target(&order, &server);
    target.tls = PhoneTls::legacy();
    assert!(start_up(&mut anonymous, &target).await.is_err());
}

/// The CA, the secure port's certificate and every device's state survive a restart: a secure
/// phone goes on talking to the restarted service with the certificate it has.
#[tokio::test]
async fn secure_phones_keep_working_across_a_restart() {
    let mut server = TestServer::start().await;
    set_mode(&server, "global", None, "secure").await;
    let (mut phone, _) = boot_until(&server, 561, &[], "secure").await;
    let order = phone.secure_mode.clone().unwrap();
    let ca_before = server.admin("GET", "/api/security/ca", None).await.body;
    server.restart().await;
    assert_eq!(server.admin("GET", "/api/security/ca", None).await.body, ca_before);
    let done = start_up(&mut phone, &secure_target(&order, &server)).await.unwrap();
    assert_eq!(done.cleanup_reason, None);
    assert_eq!(security(&server, &phone.profile.mac).await["certificates"].as_array().unwrap().len(), 1);
}

/// A fleet booting together while Secure Mode is already wanted: every phone is bootstrapped
/// (key generation is queued, one per core), each with its own certificate, none fails.
#[tokio::test]
async fn a_fleet_booting_together_is_bootstrapped_without_errors() {
    let server = TestServer::start().await;
    set_mode(&server, "global", None, "secure").await;
    let mut phones = Vec::new();
    for n in 571..595 {
        let phone = SimPhone::new(PhoneProfile::numbered(n));
        phones.push(
            live::spawn(phone, Target::default_mode(server.phone_addr()), behaviour(&[])).await.unwrap(),
        );
    }
    let deadline = Instant::now() + Duration::from_secs(90);
    while phones
        .iter()
        .any(|p| LiveStats::get(&p.stats.secure_mode) == 0 || LiveStats::get(&p.stats.interactions) < 2)
    {
        assert!(Instant::now() < deadline, "not every phone reached Secure Mode");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut serials = std::collections::HashSet::new();
    for phone in phones {
        assert_eq!(LiveStats::get(&phone.stats.errors), 0, "{}", phone.mac);
        let view = security(&server, &phone.mac).await;
        assert_eq!(view["state"], "secure", "{view:#}");
        assert!(serials.insert(view["certificate_serial"].as_str().unwrap().to_owned()));
        phone.stop().await;
    }
}

#[tokio::test]
async fn a_prepared_phone_gets_its_groups_secure_mode_and_pin_at_its_first_contact() {
    let server = TestServer::start().await;
    set_mode(&server, "group", Some("berlin"), "secure").await;
    let prepared = json!({"devices": [{"mac": "00:1A:E8:00:02:01", "group": "berlin"}]}).to_string();
    server.admin_json("POST", "/api/provisioned", Some(&prepared), 200).await;
    let mut phone = SimPhone::new(PhoneProfile::numbered(513));
    let mac = phone.profile.mac.clone();
    assert_eq!(mac, "00:1A:E8:00:02:01");
    let first = start_up(&mut phone, &Target::default_mode(server.phone_addr())).await.unwrap();
    let device = server.admin_json("GET", &format!("/api/devices/{mac}?history=50"), None, 200).await;
    let details = history_details(&device);
    assert!(details.iter().any(|d| d.contains("bootstrap sent (without PIN)")), "{first:?}\n{details:#?}");

    // Prepared by number in a PIN group: the group's PIN is used at the contact that binds it.
    set_mode(&server, "group", Some("lobby"), "secure-pin").await;
    let pin = server.admin_json("PUT", "/api/groups/lobby/pin", None, 200).await;
    assert_eq!(pin["pin"].as_str().map(str::len), Some(8));
    let profile = PhoneProfile::numbered(514);
    let prepared = json!({"devices": [{"e164": profile.e164, "group": "lobby"}]}).to_string();
    server.admin_json("POST", "/api/provisioned", Some(&prepared), 200).await;
    let mut phone = SimPhone::new(profile.clone());
    start_up(&mut phone, &Target::default_mode(server.phone_addr())).await.unwrap();
    let device =
        server.admin_json("GET", &format!("/api/devices/{}?history=200", profile.mac), None, 200).await;
    let details = history_details(&device);
    let bootstrap = details.iter().position(|d| d.contains("bootstrap sent (with PIN)"));
    let bound = details.iter().position(|d| d.contains("bound to provisioned device 2 by E.164"));
    assert_eq!((bootstrap.is_some(), bound.is_some()), (true, true), "{details:#?}");
}
