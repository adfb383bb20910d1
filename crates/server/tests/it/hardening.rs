//! Attacks from one hostile host on loopback (issue 12): each test failed before its fix.

use opendls_wpi::Action;

use opendls_phonesim::hostile::{SlowClients, StalledStartUps, TRICKLED_CLIENT_HELLO, TRICKLED_REQUEST};

use crate::support::*;

fn cleanup_reason(message: &opendls_wpi::DlsMessage) -> String {
    message.items.iter().find(|i| i.name == "cleanup-reason").map(|i| i.value.clone()).unwrap_or_default()
}

fn database_bytes(server: &TestServer) -> u64 {
    let dir = &server.running().data_dir;
    ["opendls.db", "opendls.db-wal"]
        .iter()
        .filter_map(|name| std::fs::metadata(dir.join(name)).ok())
        .map(|meta| meta.len())
        .sum()
}

/// A start-up, then `fragment="next"` replies of 40 kB values (each under the body limit):
/// before, 100 such fragments were gathered, stored and served back by the API; now the reply
/// is refused once it passes `max_reply_bytes`, with a security event and nothing stored.
#[tokio::test]
async fn a_fragment_bomb_is_refused_and_nothing_of_it_is_stored() {
    let logs = log_capture();
    let server = TestServer::start().await;
    let addr = server.phone_addr();
    let mac = "00:1A:E8:00:0B:01";
    let start = phone_post(addr, start_up(mac).as_bytes(), None).await;
    let session = start.session().expect("an interaction starts");
    assert_eq!(start.dls().action, Action::ReadAllItems);
    let before = database_bytes(&server);

    let value = "A".repeat(40_000);
    let mut refused_at = None;
    for fragment in 0..30 {
        let name = format!("attack-{fragment}");
        let body = reply_to("ReadAllItems", "accepted", "next", &format!("F{fragment}"), &[(&name, &value)]);
        let answer = phone_post(addr, body.as_bytes(), Some(&session)).await.dls();
        if answer.action == Action::CleanUp {
            assert!(cleanup_reason(&answer).contains("reply exceeds"), "{answer:?}");
            refused_at = Some(fragment);
            break;
        }
        assert_eq!(answer.action, Action::GetNextFragment);
    }
    let refused_at = refused_at.expect("the reply was refused before 30 fragments of 40 kB");
    println!("fragment bomb: refused at fragment {refused_at} (40 kB each)");
    assert!(logs.contains(&["opendls::security", "reply exceeds"]), "a security event is logged");

    // Nothing of it was stored: no attack item, and the database did not grow by the megabytes.
    let view = server.admin_json("GET", &format!("/api/devices/{mac}"), None, 200).await;
    assert!(!view.to_string().contains("attack-"), "no item of the refused reply is stored");
    let kinds: Vec<&str> =
        view["history"].as_array().unwrap().iter().filter_map(|h| h["kind"].as_str()).collect();
    assert!(kinds.contains(&"security"), "{kinds:?}");
    let grown = database_bytes(&server).saturating_sub(before);
    println!("fragment bomb: database grew by {grown} bytes");
    assert!(grown < 10 * 1024 * 1024, "database grew by {grown} bytes");

    // The interaction is over: the next fragment finds none.
    let late = reply_to("ReadAllItems", "accepted", "next", "late", &[("x", "y")]);
    let answer = phone_post(addr, late.as_bytes(), Some(&session)).await.dls();
    assert!(cleanup_reason(&answer).contains("without an interaction"), "{answer:?}");
}

/// One item longer than `max_item_value_bytes`, in a message under the body limit, is refused
/// before anything is stored, whatever the message's reason.
#[tokio::test]
async fn an_oversized_value_is_refused_in_any_message() {
    let server = TestServer::start_with(|config| config.limits.max_item_value_bytes = 2048).await;
    let mac = "00:1A:E8:00:0B:02";
    let big = start_up(mac)
        .replace("</ItemList>", &format!("<Item name=\"huge\">{}</Item></ItemList>", "B".repeat(3000)));
    let answer = phone_post(server.phone_addr(), big.as_bytes(), None).await.dls();
    assert!(cleanup_reason(&answer).contains("value of huge is longer than 2048 bytes"), "{answer:?}");
    let device = server.admin("GET", &format!("/api/devices/{mac}"), None).await;
    assert_eq!(device.status, 404, "the device was not registered from a refused message");
}

/// A device's stored inventory is bounded: a phone reporting more than `max_inventory_bytes`
/// is refused and keeps what it had.
#[tokio::test]
async fn the_stored_inventory_is_bounded() {
    let server = TestServer::start_with(|config| config.limits.max_inventory_bytes = 60_000).await;
    let addr = server.phone_addr();
    let mac = "00:1A:E8:00:0B:03";
    let session = phone_post(addr, start_up(mac).as_bytes(), None).await.session().unwrap();
    let filler: Vec<(String, String)> = (0..40).map(|n| (format!("filler-{n}"), "C".repeat(2000))).collect();
    let mut items = inventory(mac, &[]);
    items.extend(filler);
    let answer =
        phone_post(addr, reply_with("ReadAllItems", "R", "final", &items).as_bytes(), Some(&session))
            .await
            .dls();
    assert!(cleanup_reason(&answer).contains("inventory would exceed 60000 bytes"), "{answer:?}");
    let view = server.admin_json("GET", &format!("/api/devices/{mac}"), None, 200).await;
    assert!(!view.to_string().contains("filler-"));
}

/// The device view is paged: history and inventory never come back whole.
#[tokio::test]
async fn device_answers_are_paged() {
    let server = TestServer::start().await;
    let addr = server.phone_addr();
    let mac = "00:1A:E8:00:0B:04";
    // Each start-up reports another number: one history entry each.
    for number in 0..3 {
        let body = start_up(mac).replace(">49897223290<", &format!(">4989722329{number}<"));
        phone_post(addr, body.as_bytes(), None).await.dls();
    }
    let first = server.admin_json("GET", &format!("/api/devices/{mac}?history=1"), None, 200).await;
    assert_eq!(first["history"].as_array().unwrap().len(), 1);
    assert_eq!(first["history_more"], true);
    let second =
        server.admin_json("GET", &format!("/api/devices/{mac}?history=1&history_offset=1"), None, 200).await;
    assert_ne!(first["history"][0], second["history"][0], "the second page starts after the first");
    let huge = server.admin_json("GET", &format!("/api/devices/{mac}?history=4000000000"), None, 200).await;
    assert!(huge["history"].as_array().unwrap().len() <= 1000);
    let items =
        server.admin_json("GET", &format!("/api/devices/{mac}?items=2&items_offset=1"), None, 200).await;
    assert_eq!(items["reported"].as_array().unwrap().len(), 2);
    assert!(items["reported_total"].as_u64().unwrap() > 2);
}

/// `mkdir -m 0755 X; opendls serve --data-dir X` left X open and the database 0644: now the
/// directory is 0700 and every file the service writes in it 0600, at every start.
#[cfg(unix)]
#[tokio::test]
async fn an_existing_open_data_directory_is_made_private() {
    use std::os::unix::fs::PermissionsExt;
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("data");
    std::fs::create_dir(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(dir.join("admin-token"), "0123456789abcdef\n").unwrap();
    std::fs::set_permissions(dir.join("admin-token"), std::fs::Permissions::from_mode(0o644)).unwrap();
    let server = opendls_server::start(opendls_server::Config::loopback(dir.clone())).await.unwrap();
    // A write, so the WAL exists too.
    phone_post(server.phone_addr, start_up("00:1A:E8:00:0B:05").as_bytes(), None).await.dls();
    let mode = |path: &std::path::Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir), 0o700);
    let mut files = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        assert_eq!(mode(&path) & 0o077, 0, "{} is open to others", path.display());
        files += 1;
    }
    assert!(files >= 6, "database, WAL, keys, certificates and token: {files} files");
    assert!(dir.join("opendls.db-wal").exists());
    server.stop().await;
}

async fn fleet_beside(server: &TestServer, first_number: u32) -> opendls_phonesim::fleet::FleetReport {
    fleet_of(server, 50, first_number).await
}

async fn fleet_of(
    server: &TestServer,
    phones: u32,
    first_number: u32,
) -> opendls_phonesim::fleet::FleetReport {
    use opendls_phonesim::fleet::{FleetConfig, run_fleet};
    let config = FleetConfig {
        phones,
        first_number,
        boot_within: std::time::Duration::from_secs(5),
        // As real phones do (guide p. 72). The phones share this process and its two threads
        // with the server and the attacker: when the machine is loaded, a phone's own
        // ClientHello can be late enough to look like the attacker's, and lose its connection.
        // Starvation shows as phones giving up or as many retries (`assert_not_starved`).
        connection_retries: 5,
        ..FleetConfig::default()
    };
    run_fleet(&config, &opendls_phonesim::interaction::Target::default_mode(server.phone_addr())).await
}

fn summary(report: &opendls_phonesim::fleet::FleetReport) -> String {
    format!(
        "{}/{} completed, {} failed, interaction p50 {:.0} ms p99 {:.0} ms, errors {:?}, connections retried {:?}",
        report.completed,
        report.phones,
        report.failed,
        report.interaction_latency.p50_ms,
        report.interaction_latency.p99_ms,
        report.errors,
        report.retried_connections
    )
}

/// Every phone completed, and at most one in five needed a second connection for it (unloaded,
/// none do; a machine loaded by two busy loops beside the test cost 7-8 of 50).
fn assert_not_starved(report: &opendls_phonesim::fleet::FleetReport) {
    assert_eq!(report.completed, report.phones, "{}", summary(report));
    assert!(report.retried_then_completed <= report.phones / 5, "{}", summary(report));
}

/// One host holding 2,000 slow connections (a ClientHello trickled a byte a second) took the
/// phone port's 1,024 connections and starved real phones (22/50 and 9/50 completed). Now one
/// address holds at most its share, and a silent connection gives its place to a newcomer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_slow_host_does_not_starve_the_phones() {
    let _heavy = heavy_test().await;
    let server = TestServer::start_with(|config| config.limits.max_connections_per_address = 512).await;
    let attacker: std::net::IpAddr = "127.0.0.2".parse().unwrap();
    let slow = SlowClients::start(
        server.phone_addr(),
        attacker,
        2000,
        TRICKLED_CLIENT_HELLO,
        std::time::Duration::from_secs(1),
    )
    .await;
    let report = fleet_beside(&server, 1000).await;
    let opened = slow.stop().await;
    println!("slowloris from another address ({opened} connections opened): {}", summary(&report));
    assert_not_starved(&report);
}

/// The same host on the phones' own address (a hostile device behind the site's NAT): the
/// per-address cap cannot tell them apart, but silence can.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_host_behind_the_phones_nat_address_does_not_starve_them() {
    let _heavy = heavy_test().await;
    let server = TestServer::start().await;
    let slow = SlowClients::start(
        server.phone_addr(),
        "127.0.0.1".parse().unwrap(),
        2000,
        TRICKLED_CLIENT_HELLO,
        std::time::Duration::from_secs(1),
    )
    .await;
    let report = fleet_beside(&server, 2000).await;
    let opened = slow.stop().await;
    println!("slowloris from the phones' address ({opened} connections opened): {}", summary(&report));
    assert_not_starved(&report);
}

/// 1,100 half-sent requests held on the DCMP port made the process run out of descriptors
/// ("accept failed: Too many open files") and no phone was served. Now the DCMP and admin
/// listeners have the phone ports' discipline; the phones and a real DCMP poll are served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_dcmp_and_admin_connections_cannot_exhaust_the_service() {
    let _heavy = heavy_test().await;
    let server = TestServer::start().await;
    let dcmp = server.running().dcmp_addr.unwrap();
    let pace = std::time::Duration::from_secs(1);
    // A hostile host beside the phones; the phones, the real poll and the administrator are on
    // 127.0.0.1.
    let attacker: std::net::IpAddr = "127.0.0.2".parse().unwrap();
    let on_dcmp = SlowClients::start(dcmp, attacker, 1100, TRICKLED_REQUEST, pace).await;
    let on_admin =
        SlowClients::start(server.running().admin_addr, attacker, 300, TRICKLED_REQUEST, pace).await;
    let report = fleet_beside(&server, 3000).await;
    let poll = tokio::net::TcpStream::connect(dcmp).await.unwrap();
    let answer = exchange(poll, "GET", "/dcmp/contact-me?device-id=00:1A:E8:00:0B:09", &[], b"").await;
    let health = server.admin("GET", "/api/health", None).await;
    let opened = on_dcmp.stop().await + on_admin.stop().await;
    println!("idle DCMP/admin connections ({opened} opened): {}", summary(&report));
    assert_not_starved(&report);
    assert_eq!(answer.status, 200, "a real DCMP poll is answered");
    assert_eq!(health.status, 200, "the admin API answers");
}

/// Start-ups never continued, 20 a second from one client, held the 64 interaction slots for
/// 30 s each: the fleet's boot went from ~10 s to ~60 s and 3% of phones gave up. Now such
/// interactions cost their sender: its address holds only its share of stalled first steps,
/// and a stalled first step gives way to a phone starting a new interaction.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_ups_never_continued_do_not_hold_the_fleet_back() {
    let _heavy = heavy_test().await;
    let server = TestServer::start().await;
    let quiet = fleet_of(&server, 150, 4000).await;
    let attacker = StalledStartUps::start(server.phone_addr(), "127.0.0.2".parse().unwrap(), 20, |n| {
        start_up(&format!("00:1A:E9:{:02X}:{:02X}:{:02X}", (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff))
            .into_bytes()
    });
    // Four seconds of it: more stalled start-ups than there are slots.
    tokio::time::sleep(std::time::Duration::from_secs(4)).await;
    let attacked = fleet_of(&server, 150, 5000).await;
    let stalled = attacker.stop().await;
    println!(
        "interaction slots: quiet boot {:.1} s ({} overload answers); beside {} stalled start-ups ({} admitted): \
         {:.1} s ({} overload answers), {}",
        quiet.elapsed_secs,
        quiet.overload_answers,
        stalled.sent,
        stalled.admitted,
        attacked.elapsed_secs,
        attacked.overload_answers,
        summary(&attacked)
    );
    assert_eq!(attacked.completed, 150, "{}", summary(&attacked));
    assert!(stalled.sent >= 64, "the attacker ran: {stalled:?}");
    // Before, every phone starting while the slots were held was told overload (and retried);
    // a count, not a time, so a slow machine cannot fail it.
    assert!(attacked.overload_answers < 15, "{} overload answers", attacked.overload_answers);
}

/// A phone reporting a `contact-me-uri` on another host: contact-me goes only to the address
/// the phone connects from, unless that network is trusted to report others.
#[tokio::test]
async fn contact_me_is_not_steered_to_another_host() {
    use opendls_phonesim::interaction::{Manner, Target, run_interaction};
    use opendls_phonesim::phone::{PhoneProfile, SimPhone};
    for trusted in [false, true] {
        // The "other host": a listener on 127.0.0.2 that counts who knocks.
        let other = tokio::net::TcpListener::bind("127.0.0.2:0").await.unwrap();
        let other_addr = other.local_addr().unwrap();
        let server = TestServer::start_with(|config| {
            config.jobs.tick_millis = 100;
            if trusted {
                config.jobs.trusted_contact_networks = vec!["127.0.0.2/32".into()];
            }
        })
        .await;
        let mut profile = PhoneProfile::numbered(7100 + u32::from(trusted));
        profile.contact_me_uri = format!("http://{other_addr}/contact_dls.html/ContactDLS");
        let mac = profile.mac.clone();
        let mut phone = SimPhone::new(profile);
        let first = phone.contact(opendls_wpi::Reason::StartUp, &[]);
        run_interaction(&mut phone, &Target::default_mode(server.phone_addr()), first, &Manner::default())
            .await
            .unwrap();
        let request = serde_json::json!({"kind": "restart", "targets": {"by": "devices", "macs": [mac]}});
        let job = server.admin_json("POST", "/api/jobs", Some(&request.to_string()), 201).await;
        let knocked = tokio::time::timeout(std::time::Duration::from_secs(3), other.accept()).await.is_ok();
        let shown = server.admin_json("GET", &format!("/api/jobs/{}", job["id"]), None, 200).await;
        println!("trusted {trusted}: knocked {knocked}, {}", shown["targets"][0]);
        assert_eq!(knocked, trusted, "contact-me to another host only from a trusted network");
        if !trusted {
            let detail = shown["targets"][0]["detail"].as_str().unwrap_or_default();
            assert!(detail.contains("reported 127.0.0.2 but connects from 127.0.0.1"), "{detail}");
        }
    }
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack.windows(needle.len()).any(|window| window == needle.as_bytes())
}

/// Secrets at rest: an administrator's SIP password, a phone-reported `user-pwd` and a PIN are
/// not in the database files; the phone still receives the password, also after the key is
/// rotated, and a database copied without its key file opens none of them.
#[tokio::test]
async fn secrets_are_sealed_at_rest() {
    const PASSWORD: &str = "sip-password-4711";
    const PIN: &str = "83562014";
    let mut server = TestServer::start().await;
    let set = format!(r#"{{"scope":"global","name":"sip-pwd","value":"{PASSWORD}"}}"#);
    assert_eq!(server.admin("PUT", "/api/config", Some(&set)).await.status, 200);
    let pin = format!(r#"{{"pin":"{PIN}"}}"#);
    assert_eq!(server.admin("PUT", "/api/groups/lobby/pin", Some(&pin)).await.status, 200);
    let addr = server.phone_addr();
    let mac = "00:1A:E8:00:0B:0A";
    let reported_password = "123456"; // the p. 33 start-up's user-pwd
    let receive_password = |server_addr| async move {
        let first = phone_post(server_addr, start_up(mac).as_bytes(), None).await;
        let session = first.session();
        // A phone read moments ago is written to at once; a new one is read first.
        let mut answer = first.dls();
        if answer.action == Action::ReadAllItems {
            let body = reply_with("ReadAllItems", "R", "final", &inventory(mac, &[]));
            answer = phone_post(server_addr, body.as_bytes(), session.as_deref()).await.dls();
        }
        answer.items.iter().find(|i| i.name == "sip-pwd").map(|i| i.value.clone())
    };
    assert_eq!(receive_password(addr).await.as_deref(), Some(PASSWORD), "the phone gets the value");
    let dir = server.running().data_dir.clone();
    let stored = server.database_contents().await;
    assert!(!contains(&stored, PASSWORD), "the SIP password is sealed");
    assert!(!contains(&stored, PIN), "the PIN is sealed");
    assert!(contains(&stored, "sealed:v1:"));
    assert!(
        !contains(&stored, &format!(">{reported_password}<"))
            && !contains(&stored, &format!("\"{reported_password}\""))
    );

    // Rotation with the service stopped: a new key, every secret re-sealed, the old key retired.
    server.server.take().unwrap().stop().await;
    let key_file = dir.join(opendls_store::secrets::KEY_FILE);
    let old_key = std::fs::read_to_string(&key_file).unwrap();
    opendls_store::secrets::rotate_key_file(&key_file).unwrap();
    if !crate::support::on_postgres() {
        let keys = opendls_store::secrets::SecretKeys::load_or_create(&key_file).unwrap();
        let store = opendls_store::SqliteStore::open_with_keys(&dir.join("opendls.db"), keys).await.unwrap();
        assert!(store.reseal_secrets().await.unwrap() >= 2);
        assert_eq!(
            store.reseal_secrets_if_key_changed().await.unwrap(),
            0,
            "a start with the same key reads nothing"
        );
        store.close().await;
    } else {
        // The service re-seals at its start when the key changed.
        server.restart_stopped().await;
        server.server.take().unwrap().stop().await;
    }
    opendls_store::secrets::retire_old_keys(&key_file).unwrap();
    assert!(!std::fs::read_to_string(&key_file).unwrap().contains(old_key.trim()));
    server.restart_stopped().await;
    assert_eq!(receive_password(server.phone_addr()).await.as_deref(), Some(PASSWORD), "after rotation too");

    // The database without its key file: nothing secret opens.
    assert!(
        server.desired_read_without_the_key().await.is_err(),
        "another key cannot open the sealed values"
    );
}

/// The kernel's view of a listening socket: `ss` prints its backlog as Send-Q.
fn backlog_of(port: u16) -> Option<u32> {
    let out = std::process::Command::new("ss").args(["-ltnH", &format!("sport = :{port}")]).output().ok()?;
    let line = String::from_utf8_lossy(&out.stdout).lines().next()?.to_owned();
    line.split_whitespace().nth(2)?.parse().ok()
}

#[tokio::test]
async fn listeners_queue_as_many_connections_as_configured() {
    let server = TestServer::start_with(|config| config.limits.listen_backlog = 1000).await;
    let running = server.running();
    for port in [running.phone_addr.port(), running.admin_addr.port()] {
        // tokio's own bind asks for 128: a boot storm overflowed it.
        assert_eq!(backlog_of(port), Some(1000), "port {port} (is iproute2's ss installed?)");
    }
}
