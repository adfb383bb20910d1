//! Guide §3.6: service-driven interactions. Most need jobs and contact-me on the server side.

use opendls_phonesim::interaction::{Manner, run_interaction};
use opendls_phonesim::{PhoneProfile, SimPhone};
use opendls_wpi::Reason;
use std::time::Duration;

use opendls_phonesim::live::LiveStats;
use opendls_phonesim::transport::http_request;
use serde_json::json;

use crate::support::*;

/// §3.6.4 with §3.8: writing, with per-item errors recorded and held back (p. 77-83).
#[tokio::test]
async fn s3_6_4_write_with_errors() {
    let server = Server::start().await;
    server.set(json!({"scope": "global", "name": "sntp-addr", "value": "time.nist.gov"})).await;
    let unknown = json!({"name": "future-item", "value": "1"});
    server.set(json!({"scope": "global", "values": [unknown], "allow_unknown": true})).await;
    let mut phone = SimPhone::new(PhoneProfile::numbered(3));
    let mac = phone.profile.mac.clone();
    let first = phone.contact(Reason::StartUp, &[]);
    let done = run_interaction(&mut phone, &server.target(), first, &Manner::default()).await.unwrap();
    let actions: Vec<&str> = done.steps.iter().map(|(a, _)| a.as_str()).collect();
    assert_eq!(actions, ["ReadAllItems", "WriteItems", "CleanUp"]);
    assert_eq!(phone.value("sntp-addr", None), Some("time.nist.gov"));
    let view = server.device(&mac).await;
    let pending = view["pending"].as_array().unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0]["name"], "future-item");
    assert_eq!(pending[0]["held"], "refused by the phone: unknown item");
    // The next start-up does not send the refused value again.
    let first = phone.contact(Reason::StartUp, &[]);
    let again = run_interaction(&mut phone, &server.target(), first, &Manner::default()).await.unwrap();
    assert_eq!(again.steps.len(), 1);
}

/// Creates a job through the admin API; returns its number.
async fn job(server: &Server, request: serde_json::Value) -> i64 {
    let (status, job) = server.admin("POST", "/api/jobs", Some(request)).await;
    assert_eq!(status, 201, "{job}");
    job["id"].as_i64().unwrap()
}

async fn target_state(server: &Server, id: i64) -> String {
    let (_, job) = server.admin("GET", &format!("/api/jobs/{id}"), None).await;
    job["targets"][0]["state"].as_str().unwrap_or("").to_owned()
}

/// A phone known to the service, then called in `solicited` (as after a contact-me).
async fn registered(server: &Server, number: u32) -> SimPhone {
    let mut phone = SimPhone::new(PhoneProfile::numbered(number));
    let first = phone.contact(Reason::StartUp, &[]);
    run_interaction(&mut phone, &server.target(), first, &Manner::default()).await.unwrap();
    phone
}

/// §3.6.3: a read job is answered with ReadItems listing the wanted items (p. 42-45).
#[tokio::test]
async fn s3_6_3_read_items() {
    let server = Server::start().await;
    let mut phone = registered(&server, 1).await;
    let request = json!({"kind": "read-items", "items": ["sntp-addr", "e164"], "contact_me": false,
        "targets": {"by": "devices", "macs": [phone.profile.mac]}});
    let id = job(&server, request).await;
    // A value the service has not seen yet: only the read reveals it.
    phone.change_item("sntp-addr", None, "read.example");
    let first = phone.contact(Reason::Solicited, &[]);
    let done = run_interaction(&mut phone, &server.target(), first, &Manner::default()).await.unwrap();
    let actions: Vec<&str> = done.steps.iter().map(|(a, _)| a.as_str()).collect();
    assert_eq!(actions, ["ReadItems", "CleanUp"]);
    assert_eq!(target_state(&server, id).await, "done");
    let view = server.device(&phone.profile.mac).await;
    let sntp =
        view["reported"].as_array().unwrap().iter().find(|i| i["name"] == "sntp-addr").unwrap().clone();
    assert_eq!(sntp["value"], "read.example");
}

/// §3.6.5: Restart ends the interaction; the job is done at the next start-up (p. 50).
#[tokio::test]
async fn s3_6_5_restart() {
    let server = Server::start().await;
    let mut phone = registered(&server, 2).await;
    let request = json!({"kind": "restart", "contact_me": false, "targets": {"by": "devices", "macs": [phone.profile.mac]}});
    let id = job(&server, request).await;
    let first = phone.contact(Reason::Solicited, &[]);
    let done = run_interaction(&mut phone, &server.target(), first, &Manner::default()).await.unwrap();
    assert!(done.rebooted);
    assert_eq!(target_state(&server, id).await, "running");
    let first = phone.contact(Reason::StartUp, &[]);
    run_interaction(&mut phone, &server.target(), first, &Manner::default()).await.unwrap();
    assert_eq!(target_state(&server, id).await, "done");
}

/// §3.6.6: Restart with restart-password 124816 and restart-type FactoryReset (p. 51); the
/// phone comes back in delivery state and is read in full.
#[tokio::test]
async fn s3_6_6_factory_reset() {
    let server = Server::start().await;
    server.set(json!({"scope": "global", "name": "sntp-addr", "value": "time.nist.gov"})).await;
    let mut phone = registered(&server, 3).await;
    assert_eq!(phone.value("sntp-addr", None), Some("time.nist.gov"));
    let request = json!({"kind": "factory-reset", "confirm_factory_reset": true, "contact_me": false,
        "targets": {"by": "devices", "macs": [phone.profile.mac]}});
    let id = job(&server, request).await;
    let first = phone.contact(Reason::Solicited, &[]);
    let done = run_interaction(&mut phone, &server.target(), first, &Manner::default()).await.unwrap();
    assert!(done.rebooted);
    assert_ne!(phone.value("sntp-addr", None), Some("time.nist.gov"), "delivery state");
    let first = phone.contact(Reason::StartUp, &[]);
    let back = run_interaction(&mut phone, &server.target(), first, &Manner::default()).await.unwrap();
    let actions: Vec<&str> = back.steps.iter().map(|(a, _)| a.as_str()).collect();
    assert_eq!(actions, ["ReadAllItems", "WriteItems", "CleanUp"]);
    assert_eq!(phone.value("sntp-addr", None), Some("time.nist.gov"), "configured again");
    assert_eq!(target_state(&server, id).await, "done");
}

fn actions(done: &opendls_phonesim::interaction::Interaction) -> Vec<&str> {
    done.steps.iter().map(|(action, _)| action.as_str()).collect()
}

async fn target_detail(server: &Server, id: i64) -> String {
    let (_, job) = server.admin("GET", &format!("/api/jobs/{id}"), None).await;
    job["targets"][0]["detail"].as_str().unwrap_or("").to_owned()
}

/// §3.6.7: a single file is reported with `status` (p. 52-54); several files and deletions are
/// not (p. 55), so the service reads the phone's `file-deployment-*` items back (p. 245).
#[tokio::test]
async fn s3_6_7_file_deployment_single_multiple_delete() {
    let server = Server::start().await;
    let mut phone = registered(&server, 4).await;
    let mac = phone.profile.mac.clone();
    let devices = json!({"by": "devices", "macs": [mac]});
    let ring = server.upload("kind=file&type=RINGTONE&name=ring.wav", &[7u8; 4096]).await;
    let logo = server.upload("kind=file&type=LOGO&name=logo.png", &[9u8; 2048]).await;
    let moh = server.upload("kind=file&type=MOH&name=hold.wav", &[3u8; 8192]).await;

    // Single: FileDeployment, the phone fetches the file and sends status, the service ends.
    let id = job(
        &server,
        json!({"kind": "deploy-file", "files": [ring.to_string()], "contact_me": false, "targets": devices}),
    )
    .await;
    let first = phone.contact(Reason::Solicited, &[]);
    let done = run_interaction(&mut phone, &server.target(), first, &Manner::default()).await.unwrap();
    assert_eq!(actions(&done), ["FileDeployment", "CleanUp"], "the status is answered with CleanUp");
    assert_eq!(done.files, [("ring.wav".to_owned(), true)], "fetched from the built-in file server");
    assert_eq!(target_state(&server, id).await, "done");
    assert!(target_detail(&server, id).await.contains("ring.wav (RINGTONE) ok"));

    // Multiple: FileDeployment with index; nothing comes back, the next contact reads it.
    let request = json!({"kind": "deploy-files", "files": [logo.to_string(), moh.to_string()],
        "contact_me": false, "targets": devices});
    let id = job(&server, request).await;
    let first = phone.contact(Reason::Solicited, &[]);
    let done = run_interaction(&mut phone, &server.target(), first, &Manner::default()).await.unwrap();
    assert_eq!(actions(&done), ["FileDeployment"], "no status for several files (p. 55)");
    assert_eq!(done.files.len(), 2);
    assert_eq!(target_state(&server, id).await, "running");
    let (_, job_view) = server.admin("GET", &format!("/api/jobs/{id}"), None).await;
    assert_eq!(job_view["targets"][0]["phase"], "verifying");
    let first = phone.contact(Reason::Solicited, &[]);
    let done = run_interaction(&mut phone, &server.target(), first, &Manner::default()).await.unwrap();
    assert_eq!(actions(&done), ["ReadAllItems", "CleanUp"]);
    assert_eq!(target_state(&server, id).await, "done");
    assert!(target_detail(&server, id).await.contains("2 files on the phone"));

    // Delete: by stored file and by TYPE:NAME; verified the same way.
    let request = json!({"kind": "delete-files", "files": [ring.to_string(), "LOGO:logo.png"],
        "contact_me": false, "targets": devices});
    let id = job(&server, request).await;
    let first = phone.contact(Reason::Solicited, &[]);
    let done = run_interaction(&mut phone, &server.target(), first, &Manner::default()).await.unwrap();
    assert_eq!(actions(&done), ["FileDeployment"]);
    let first = phone.contact(Reason::Solicited, &[]);
    run_interaction(&mut phone, &server.target(), first, &Manner::default()).await.unwrap();
    assert_eq!(target_state(&server, id).await, "done", "{}", target_detail(&server, id).await);
    let names: Vec<String> =
        (1..=8).filter_map(|i| phone.value("file-deployment-name", Some(i)).map(str::to_owned)).collect();
    assert!(names.contains(&"hold.wav".to_owned()), "{names:?}");
    assert!(!names.iter().any(|name| name == "ring.wav" || name == "logo.png"), "deleted: {names:?}");
    let history = history_kinds(&server.device(&mac).await);
    assert!(history.iter().any(|kind| kind == "file-status"), "{history:?}");
}

/// §3.6.8: SoftwareDeployment; the phone fetches the image, reboots and starts up with the new
/// `software-version` (p. 56-57). A phone in a call refuses a normal-priority deployment (p. 56)
/// and is tried again; one that comes back with its old version fails, and is not sent the image
/// again.
#[tokio::test]
async fn s3_6_8_firmware_deployment() {
    let server = Server::start().await;
    let mut phone = registered(&server, 3).await;
    assert_eq!(phone.value("software-version", None), Some("V3 R5.12.0"));
    let devices = json!({"by": "devices", "macs": [phone.profile.mac]});
    let image = server.upload("kind=firmware&name=OS_SIP_V3_R5_13_0.img", &[1u8; 65536]).await;
    let id = job(&server, json!({"kind": "deploy-firmware", "files": [image.to_string()], "contact_me": false, "targets": devices})).await;

    phone.in_call = true;
    let first = phone.contact(Reason::Solicited, &[]);
    let busy = run_interaction(&mut phone, &server.target(), first, &Manner::default()).await.unwrap();
    assert_eq!(actions(&busy), ["SoftwareDeployment", "CleanUp"]);
    assert!(busy.send_solicited, "the phone is asked to call back when idle");
    assert_eq!(target_state(&server, id).await, "waiting-busy");

    phone.in_call = false;
    let first = phone.contact(Reason::Solicited, &[]);
    let done = run_interaction(&mut phone, &server.target(), first, &Manner::default()).await.unwrap();
    assert_eq!(actions(&done), ["SoftwareDeployment"]);
    assert!(done.rebooted && done.files == [("OS_SIP_V3_R5_13_0.img".to_owned(), true)], "{done:?}");
    assert_eq!(target_state(&server, id).await, "running");
    let first = phone.contact(Reason::StartUp, &[]);
    run_interaction(&mut phone, &server.target(), first, &Manner::default()).await.unwrap();
    assert_eq!(target_state(&server, id).await, "done");
    assert_eq!(server.device(&phone.profile.mac).await["device"]["software_version"], "V3 R5.13.0");

    // A second phone reboots into its old firmware: failed with the reason, never sent again.
    let mut other = registered(&server, 6).await;
    let old = other.value("software-version", None).unwrap().to_owned();
    let devices = json!({"by": "devices", "macs": [other.profile.mac]});
    let newer = server.upload("kind=firmware&name=OS_SIP_V3_R9_1_0.img", &[2u8; 4096]).await;
    let id = job(&server, json!({"kind": "deploy-firmware", "files": [newer.to_string()], "contact_me": false, "targets": devices})).await;
    let first = other.contact(Reason::Solicited, &[]);
    let done = run_interaction(&mut other, &server.target(), first, &Manner::default()).await.unwrap();
    assert!(done.rebooted);
    other.change_item("software-version", None, &old);
    for reason in [Reason::StartUp, Reason::Solicited] {
        let first = other.contact(reason, &[]);
        let again = run_interaction(&mut other, &server.target(), first, &Manner::default()).await.unwrap();
        assert!(!actions(&again).contains(&"SoftwareDeployment"), "{:?}", again.steps);
    }
    assert_eq!(target_state(&server, id).await, "failed");
    let detail = target_detail(&server, id).await;
    assert!(detail.contains(&format!("started up again with {old}, not V3 R9.1.0")), "{detail}");

    // An older image is refused unless a downgrade is allowed.
    let older = server.upload("kind=firmware&name=OS_SIP_V3_R1_0_0.img", &[3u8; 4096]).await;
    let request = json!({"kind": "deploy-firmware", "files": [older.to_string()], "contact_me": false, "targets": {"by": "devices", "macs": [phone.profile.mac]}});
    let id = job(&server, request).await;
    let first = phone.contact(Reason::Solicited, &[]);
    let refused = run_interaction(&mut phone, &server.target(), first, &Manner::default()).await.unwrap();
    assert_eq!(actions(&refused), ["CleanUp"]);
    assert_eq!(target_state(&server, id).await, "failed");
    assert!(target_detail(&server, id).await.contains("a downgrade needs --allow-downgrade"));
}

/// §3.6.9: WriteItems `wbm-server-certificate` (base64 PKCS#12), then ReadItems
/// `wbm-server-certificate-info` to verify (p. 59-61).
#[tokio::test]
async fn s3_6_9_certificate_deployment() {
    let server = Server::start().await;
    let mut phone = registered(&server, 9).await;
    let request = json!({"kind": "deploy-wbm-certificate", "contact_me": false,
        "targets": {"by": "devices", "macs": [phone.profile.mac]}});
    let id = job(&server, request).await;
    let first = phone.contact(Reason::Solicited, &[]);
    let done = run_interaction(&mut phone, &server.target(), first, &Manner::default()).await.unwrap();
    let actions: Vec<&str> = done.steps.iter().map(|(a, _)| a.as_str()).collect();
    assert_eq!(actions, ["WriteItems", "ReadItems", "CleanUp"]);
    assert_eq!(target_state(&server, id).await, "done");
    let info = phone.value("wbm-server-certificate-info", None).unwrap().to_owned();
    assert!(info.contains("issuer=CN=opendls Secure Mode CA"), "{info}");
    let (_, job) = server.admin("GET", &format!("/api/jobs/{id}"), None).await;
    assert!(job["targets"][0]["detail"].as_str().unwrap().contains(&info));
    // The container itself (with its private key) is never shown.
    let view = server.device(&phone.profile.mac).await;
    assert!(!view.to_string().contains("MII"), "no certificate data in the device view");
}

/// §3.6.10: Secure Mode. Without PIN (p. 64-65): start-up -> WriteItems goto-secure-mode nopin ->
/// CleanUp -> start-up on the secure port with mutual TLS -> ReadAllItems. With PIN (p. 65-68):
/// WriteItems goto-secure-mode pin -> PIN typed -> secure start-up -> ReadItems bootstrapping-tan.
#[tokio::test]
async fn s3_6_10_secure_mode() {
    let server = Server::start().await;
    let mut nopin = SimPhone::new(PhoneProfile::numbered(10));
    let mut pin = SimPhone::new(PhoneProfile::numbered(11));
    for (phone, mode) in [(&nopin, "secure"), (&pin, "secure-pin")] {
        let body = json!({"scope": "device", "target": phone.profile.mac, "mode": mode});
        assert_eq!(server.admin("PUT", "/api/security/mode", Some(body)).await.0, 204);
    }
    let (_, generated) = server.admin("POST", &format!("/api/devices/{}/pin", pin.profile.mac), None).await;
    let secret = generated["pin"].as_str().unwrap().to_owned();

    let first = nopin.contact(Reason::StartUp, &[]);
    let done = run_interaction(&mut nopin, &server.target(), first, &Manner::default()).await.unwrap();
    let actions: Vec<&str> = done.steps.iter().map(|(a, _)| a.as_str()).collect();
    assert_eq!(actions, ["WriteItems", "CleanUp"]);
    let order = nopin.secure_mode.clone().expect("bootstrapped");
    assert_eq!(Some(order.port), server.running.secure_addr.map(|a| a.port()));
    let mut secure = server.target();
    secure.addr.set_port(order.port);
    secure.tls = opendls_phonesim::transport::PhoneTls::Modern(
        opendls_phonesim::transport::secure_mode_client(&order).unwrap(),
    );
    let first = nopin.contact(Reason::StartUp, &[]);
    let done = run_interaction(&mut nopin, &secure, first, &Manner::default()).await.unwrap();
    let actions: Vec<&str> = done.steps.iter().map(|(a, _)| a.as_str()).collect();
    assert_eq!(actions, ["ReadAllItems", "CleanUp"]);

    let first = pin.contact(Reason::StartUp, &[]);
    let done = run_interaction(&mut pin, &server.target(), first, &Manner::default()).await.unwrap();
    assert_eq!(done.steps.len(), 2);
    assert_eq!(pin.enter_pin(&secret), opendls_phonesim::phone::PinOutcome::Accepted);
    let order = pin.secure_mode.clone().expect("the PIN opened the bundle");
    secure.tls = opendls_phonesim::transport::PhoneTls::Modern(
        opendls_phonesim::transport::secure_mode_client(&order).unwrap(),
    );
    let first = pin.contact(Reason::StartUp, &[]);
    let done = run_interaction(&mut pin, &secure, first, &Manner::default()).await.unwrap();
    let actions: Vec<&str> = done.steps.iter().map(|(a, _)| a.as_str()).collect();
    assert_eq!(actions, ["ReadItems", "ReadAllItems", "CleanUp"]);
    let (_, view) = server.admin("GET", &format!("/api/devices/{}/security", pin.profile.mac), None).await;
    assert_eq!(view["state"], "secure");
}

/// §1.4.4.2: the service POSTs `ContactMe=true` (with where to call back), the phone answers
/// 204 and calls back `solicited` (p. 14-15, 41).
#[tokio::test]
async fn s1_4_4_2_contact_me() {
    let server = Server::start().await;
    let phone = opendls_phonesim::live::spawn(
        SimPhone::new(PhoneProfile::numbered(4)),
        server.target(),
        opendls_phonesim::live::Behaviour::default(),
    )
    .await
    .unwrap();
    let booted =
        eventually(Duration::from_secs(20), async || LiveStats::get(&phone.stats.interactions) >= 1).await;
    assert!(booted);
    let request =
        json!({"kind": "read-items", "items": ["e164"], "targets": {"by": "devices", "macs": [phone.mac]}});
    let id = job(&server, request).await;
    let done = eventually(Duration::from_secs(20), async || target_state(&server, id).await == "done").await;
    assert!(done, "the phone called back and the job ran");
    assert_eq!(LiveStats::get(&phone.stats.contact_me_accepted), 1);
    assert_eq!(LiveStats::get(&phone.stats.solicited), 1);
    phone.stop().await;
}

/// §1.4.4.3: a phone behind NAT polls `GET /dcmp/contact-me?device-id=MAC`: 202 while work is
/// pending, 200 otherwise (p. 15, 24).
#[tokio::test]
async fn s1_4_4_3_dcmp_polling() {
    let server = Server::start().await;
    let dcmp = server.running.dcmp_addr.unwrap();
    let mac = registered(&server, 5).await.profile.mac;
    let poll = async || {
        let path = format!("/dcmp/contact-me?device-id={}", mac.to_lowercase());
        http_request(dcmp, "GET", &path, &[], b"", Duration::from_secs(5)).await.unwrap().status
    };
    assert_eq!(poll().await, 200);
    let request = json!({"kind": "restart", "targets": {"by": "devices", "macs": [mac]}});
    let id = job(&server, request).await;
    assert_eq!(poll().await, 202);
    server.admin("POST", &format!("/api/jobs/{id}/cancel"), None).await;
    assert_eq!(poll().await, 200);
}
