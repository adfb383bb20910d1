//! Attacks from one hostile host on loopback (issue 12): each test failed before its fix.

use opendls_wpi::Action;

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
    assert!(grown < 8 * 1024 * 1024, "database grew by {grown} bytes");

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
