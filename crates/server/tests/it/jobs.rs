//! Jobs end to end: live simulated phones (contact-me listeners, calls, DCMP polling, reboots)
//! against the real server, all on 127.0.0.1.

use std::time::{Duration, Instant};

use opendls_phonesim::interaction::{Manner, Target, run_interaction};
use opendls_phonesim::live::{self, Behaviour, LivePhone, LiveStats};
use opendls_phonesim::phone::{PhoneProfile, SimPhone};
use opendls_wpi::Reason;
use serde_json::{Value, json};

use crate::support::{TestServer, quick_jobs, until_finished};

pub(crate) fn behaviour() -> Behaviour {
    Behaviour {
        contact_gap: Duration::from_secs(3),
        call_duration: Duration::from_secs(3),
        reboot_delay: Duration::from_millis(200),
        ..Behaviour::default()
    }
}

pub(crate) fn target(server: &TestServer) -> Target {
    let mut target = Target::default_mode(server.phone_addr());
    target.timeout = Duration::from_secs(20);
    target
}

pub(crate) async fn spawn_phones(
    server: &TestServer,
    numbers: std::ops::Range<u32>,
    behaviour: &Behaviour,
) -> Vec<LivePhone> {
    let mut phones = Vec::new();
    for n in numbers {
        let phone = SimPhone::new(PhoneProfile::numbered(n));
        phones.push(live::spawn(phone, target(server), behaviour.clone()).await.unwrap());
    }
    phones
}

/// Waits until every phone has finished its first interaction (registered and configured).
pub(crate) async fn until_booted(phones: &[LivePhone]) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while phones.iter().any(|p| LiveStats::get(&p.stats.interactions) == 0) {
        assert!(Instant::now() < deadline, "phones did not boot");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn create_job(server: &TestServer, request: Value) -> i64 {
    let job = server.admin_json("POST", "/api/jobs", Some(&request.to_string()), 201).await;
    job["id"].as_i64().unwrap()
}

fn states(job: &Value) -> std::collections::BTreeMap<String, usize> {
    let mut counts = std::collections::BTreeMap::new();
    for target in job["targets"].as_array().unwrap() {
        *counts.entry(target["state"].as_str().unwrap().to_owned()).or_default() += 1;
    }
    counts
}

fn state_of<'a>(job: &'a Value, mac: &str) -> &'a str {
    job["targets"].as_array().unwrap().iter().find(|t| t["mac"] == mac).unwrap()["state"].as_str().unwrap()
}

/// How many times the service wrote `name` to a device, from its history.
async fn writes_of(server: &TestServer, mac: &str, name: &str) -> usize {
    let device = server.admin_json("GET", &format!("/api/devices/{mac}?history=1000"), None, 200).await;
    device["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "item-written" && e["item"] == name)
        .count()
}

/// A phone that registered once and then went away: its contact-me address answers nothing.
async fn register_unreachable(server: &TestServer, n: u32) -> String {
    let mut profile = PhoneProfile::numbered(n);
    // Port 9 (discard) on loopback: nothing listens, the connection is refused at once.
    profile.contact_me_uri = "http://127.0.0.1:9/contact_dls.html/ContactDLS".into();
    let mac = profile.mac.clone();
    let mut phone = SimPhone::new(profile);
    // While the other phones boot, the service may answer `overload`: come back, as phones do.
    loop {
        let first = phone.contact(Reason::StartUp, &[]);
        let done = run_interaction(&mut phone, &target(server), first, &Manner::default()).await.unwrap();
        if done.cleanup_reason.as_deref() != Some("overload") {
            return mac;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Sends a contact-me the way a second service would, so the phone's contact gap starts now.
async fn contact_me_now(phone: &LivePhone) {
    let path = "/contact_dls.html/ContactDLS";
    let reply = opendls_phonesim::transport::http_request(
        phone.contact_me_addr,
        "POST",
        path,
        &["Content-Type: application/x-www-form-urlencoded".to_owned()],
        b"ContactMe=true",
        Duration::from_secs(5),
    )
    .await
    .unwrap();
    assert_eq!(reply.status, 204);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_configuration_push_reaches_100_phones_busy_gapped_or_unreachable_each_exactly_once() {
    let server = TestServer::start_with(quick_jobs).await;
    let plain = spawn_phones(&server, 1..81, &behaviour()).await;
    let busy = spawn_phones(&server, 81..91, &behaviour()).await;
    // Firmware before V3R3 ignores send-solicited (guide p. 72): only a new contact-me helps.
    let old = Behaviour { honours_send_solicited: false, ..behaviour() };
    let mut old_busy = Vec::new();
    for n in 91..96 {
        let mut profile = PhoneProfile::numbered(n);
        profile.firmware = "V3 R1.41.0".into();
        old_busy.push(live::spawn(SimPhone::new(profile), target(&server), old.clone()).await.unwrap());
    }
    let mut unreachable = Vec::new();
    for n in 96..101 {
        unreachable.push(register_unreachable(&server, n).await);
    }
    let everyone: Vec<&LivePhone> = plain.iter().chain(&busy).chain(&old_busy).collect();
    until_booted(&plain).await;
    until_booted(&busy).await;
    until_booted(&old_busy).await;

    server
        .admin_json(
            "PUT",
            "/api/config",
            Some(r#"{"scope":"global","name":"sntp-addr","value":"pushed.example"}"#),
            200,
        )
        .await;
    for phone in busy.iter().chain(&old_busy) {
        phone.start_call(Duration::from_secs(3)).await;
    }
    // Ten phones just answered someone else's contact-me: they ignore ours for 3 s.
    for phone in &plain[..10] {
        contact_me_now(phone).await;
    }
    let id = create_job(
        &server,
        json!({"kind": "apply-configuration", "targets": {"by": "all"}, "give_up_after_secs": 20}),
    )
    .await;
    let job = until_finished(&server, id, Duration::from_secs(60)).await;

    assert_eq!(states(&job), [("done".to_owned(), 95), ("timed-out".to_owned(), 5)].into(), "{job:#}");
    for mac in &unreachable {
        assert_eq!(state_of(&job, mac), "timed-out");
    }
    let gapped_ignored: u32 = plain[..10].iter().map(|p| LiveStats::get(&p.stats.contact_me_ignored)).sum();
    assert!(gapped_ignored >= 1, "the phones inside their contact gap ignored a contact-me");
    // The metrics saw the same: answers, the five that never answered, and contact-me sent
    // again to phones that answered without calling back.
    let metrics = server.scrape().await;
    let contact = |result: &str| metrics.value(&format!("opendls_contact_me_total{{result=\"{result}\"}}"));
    assert!(contact("answered") >= 95.0, "{}", metrics.0);
    assert!(contact("unreachable") >= 5.0, "{}", metrics.0);
    assert!(contact("ignored") >= 1.0, "{}", metrics.0);
    assert_eq!(metrics.value("opendls_jobs{kind=\"apply-configuration\",state=\"finished\"}"), 1.0);
    for phone in &everyone {
        let mac = &phone.mac;
        assert_eq!(writes_of(&server, mac, "sntp-addr").await, 1, "{mac} written exactly once");
    }
    for phone in plain.into_iter().chain(busy).chain(old_busy) {
        let state = phone.stop().await;
        assert_eq!(state.value("sntp-addr", None), Some("pushed.example"), "{}", state.profile.mac);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dcmp_phones_behind_nat_are_picked_up_by_polling_and_a_restart_job_finishes_at_their_start_up() {
    // Contact-me is allowed only to a network the phones are not in: polling is their only way.
    let server = TestServer::start_with(|config| {
        quick_jobs(config);
        config.jobs.allowed_networks = vec!["10.0.0.0/8".into()];
    })
    .await;
    let nat = json!({"scope": "global", "enabled": true, "interval_secs": 1});
    let reply = server.admin("PUT", "/api/behind-nat", Some(&nat.to_string())).await;
    assert_eq!(reply.status, 204, "{}", reply.text());
    let phones = spawn_phones(&server, 1..4, &behaviour()).await;
    until_booted(&phones).await;

    let id =
        create_job(&server, json!({"kind": "restart", "targets": {"by": "all"}, "give_up_after_secs": 30}))
            .await;
    let job = until_finished(&server, id, Duration::from_secs(30)).await;
    assert_eq!(states(&job), [("done".to_owned(), 3)].into(), "{job:#}");
    for phone in &phones {
        assert!(LiveStats::get(&phone.stats.dcmp_pending) >= 1, "the poll answered 202");
        assert_eq!(LiveStats::get(&phone.stats.contact_me_accepted), 0, "no contact-me reached the phone");
        assert_eq!(LiveStats::get(&phone.stats.reboots), 1, "restarted exactly once");
    }
    // Nothing pending any more: 200 (guide p. 24).
    let dcmp = server.running().dcmp_addr.unwrap();
    let path = format!("/dcmp/contact-me?device-id={}", phones[0].mac);
    let reply =
        opendls_phonesim::transport::http_request(dcmp, "GET", &path, &[], b"", Duration::from_secs(5))
            .await
            .unwrap();
    assert_eq!(reply.status, 200);
    let reply = opendls_phonesim::transport::http_request(
        dcmp,
        "GET",
        "/dcmp/contact-me?device-id=nope",
        &[],
        b"",
        Duration::from_secs(5),
    )
    .await
    .unwrap();
    assert_eq!(reply.status, 400);
    let metrics = server.scrape().await;
    assert!(metrics.value("opendls_dcmp_polls_total{answer=\"work\"}") >= 3.0, "{}", metrics.0);
    assert!(metrics.value("opendls_dcmp_polls_total{answer=\"nothing\"}") >= 1.0);
    assert_eq!(metrics.value("opendls_dcmp_polls_total{answer=\"refused\"}"), 1.0);
    assert_eq!(
        metrics.value("opendls_contact_me_total{result=\"answered\"}"),
        0.0,
        "no contact-me reached a phone"
    );
    assert!(
        metrics.value("opendls_contact_me_total{result=\"deferred\"}") >= 1.0,
        "outside the allowed networks"
    );
    for phone in phones {
        phone.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_survives_a_server_restart_and_nothing_is_done_twice() {
    let mut server = TestServer::start_with(quick_jobs).await;
    let old = Behaviour { honours_send_solicited: false, ..behaviour() };
    let mut phones = Vec::new();
    for n in 1..7 {
        let mut profile = PhoneProfile::numbered(n);
        profile.firmware = "V3 R1.41.0".into();
        phones.push(live::spawn(SimPhone::new(profile), target(&server), old.clone()).await.unwrap());
    }
    until_booted(&phones).await;
    // Half the phones are on the phone for a while: their targets wait while the server restarts.
    for phone in &phones[..3] {
        phone.start_call(Duration::from_secs(4)).await;
    }
    let setting = r#"{"scope":"global","name":"sntp-addr","value":"after-restart.example"}"#;
    server.admin_json("PUT", "/api/config", Some(setting), 200).await;
    let request = json!({"kind": "apply-configuration", "targets": {"by": "all"}, "give_up_after_secs": 60});
    let id = create_job(&server, request).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let job = server.admin_json("GET", &format!("/api/jobs/{id}"), None, 200).await;
        if states(&job).get("waiting-busy") == Some(&3) {
            break;
        }
        assert!(Instant::now() < deadline, "busy phones never refused: {job:#}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    server.restart().await;
    let job = until_finished(&server, id, Duration::from_secs(40)).await;
    assert_eq!(states(&job), [("done".to_owned(), 6)].into(), "{job:#}");
    for phone in phones {
        assert_eq!(
            writes_of(&server, &phone.mac, "sntp-addr").await,
            1,
            "{} written exactly once",
            phone.mac
        );
        let state = phone.stop().await;
        assert_eq!(state.value("sntp-addr", None), Some("after-restart.example"));
    }
}

#[tokio::test]
async fn jobs_are_checked_listed_and_cancelled_through_the_api() {
    let server = TestServer::start_with(quick_jobs).await;
    let mac = register_unreachable(&server, 1).await;
    let refused =
        server.admin("POST", "/api/jobs", Some(r#"{"kind":"factory-reset","targets":{"by":"all"}}"#)).await;
    assert_eq!(refused.status, 400);
    assert!(refused.text().contains("confirm"), "{}", refused.text());
    let nobody = server
        .admin("POST", "/api/jobs", Some(r#"{"kind":"restart","targets":{"by":"group","name":"nobody"}}"#))
        .await;
    assert_eq!(nobody.status, 422, "{}", nobody.text());
    let unread =
        server.admin("POST", "/api/jobs", Some(r#"{"kind":"read-items","targets":{"by":"all"}}"#)).await;
    assert_eq!(unread.status, 400);

    let request = json!({"kind": "factory-reset", "confirm_factory_reset": true,
        "targets": {"by": "devices", "macs": [mac.to_lowercase()]}, "contact_me": false});
    let id = create_job(&server, request).await;
    let jobs = server.admin_json("GET", "/api/jobs", None, 200).await;
    assert_eq!(jobs[0]["id"], id);
    assert_eq!(jobs[0]["counts"], json!({"queued": 1}));
    let cancelled = server.admin_json("POST", &format!("/api/jobs/{id}/cancel"), None, 200).await;
    assert_eq!(state_of(&cancelled, &mac), "cancelled");
    // The cancelled work is never sent: the phone's next contact ends with a plain CleanUp.
    let mut profile = PhoneProfile::numbered(1);
    profile.contact_me_uri = "http://127.0.0.1:9/contact_dls.html/ContactDLS".into();
    let mut phone = SimPhone::new(profile);
    let first = phone.contact(Reason::Solicited, &[]);
    let done = run_interaction(&mut phone, &target(&server), first, &Manner::default()).await.unwrap();
    assert!(!done.rebooted);
    assert_eq!(server.admin("POST", "/api/jobs/999/cancel", None).await.status, 404);
}
