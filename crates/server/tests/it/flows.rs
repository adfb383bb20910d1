//! The guide's flows, end to end.

use opendls_wpi::{Action, Item};

use crate::support::*;

const MAC: &str = "00:01:E3:00:A9:F3";

async fn set_global(server: &TestServer, name: &str, value: &str) {
    let body = format!(r#"{{"scope":"global","name":"{name}","value":"{value}"}}"#);
    let reply = server.admin("PUT", "/api/config", Some(&body)).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
}

/// start-up (p. 33) -> ReadAllItems -> reply -> WriteItems -> reply -> CleanUp.
#[tokio::test]
async fn start_up_read_write_clean_up() {
    let server = TestServer::start().await;
    set_global(&server, "sntp-addr", "time.nist.gov").await;
    set_global(&server, "sntp-tz-offset", "60").await;

    let first = phone_post(server.phone_addr(), guide("p33-start-up.xml").as_bytes(), None).await;
    let read = first.dls();
    assert_eq!(read.action, Action::ReadAllItems);
    assert_eq!(read.nonce, "ab15234de14f15a667c6f8d", "the nonce is echoed (guide p. 34)");
    let session = first.session().expect("the first answer sets the session cookie");

    let items = inventory(MAC, &[("sntp-addr", "pool.ntp.org"), ("sntp-tz-offset", "60")]);
    let body = reply_with("ReadAllItems", "ab15234de14f15a667c6f8d", "final", &items);
    let write = phone_post(server.phone_addr(), body.as_bytes(), Some(&session)).await.dls();
    assert_eq!(write.action, Action::WriteItems);
    assert_eq!(write.items, vec![Item::new("sntp-addr", "time.nist.gov")], "only the difference is written");

    let accepted = phone_post(
        server.phone_addr(),
        guide("p48-reply-write-items-accepted.xml").as_bytes(),
        Some(&session),
    )
    .await;
    let done = accepted.dls();
    assert_eq!((done.action, done.nonce.as_str()), (Action::CleanUp, "0A8D39A3253E92715EFA5F5F63C25FFB"));
    assert!(done.items.is_empty());

    let device = server.admin("GET", &format!("/api/devices/{MAC}"), None).await;
    assert_eq!(device.status, 200);
    let view: opendls_api::DeviceView = serde_json::from_slice(&device.body).unwrap();
    let sntp = view.reported.iter().find(|i| i.name == "sntp-addr").unwrap();
    assert_eq!(sntp.value, "time.nist.gov");
    assert!(view.pending.is_empty());
    assert!(view.history.iter().any(|h| h.kind == "item-written" && h.item.as_deref() == Some("sntp-addr")));
    let password = view.reported.iter().find(|i| i.name == "user-pwd").unwrap();
    assert_eq!(password.value, "******", "secrets are masked in the API");

    // The same phone starting again with an unchanged configuration is not read again.
    let again = phone_post(server.phone_addr(), guide("p33-start-up.xml").as_bytes(), None).await.dls();
    assert_eq!(again.action, Action::CleanUp);
}

/// A reply split in fragments is collected with GetNextFragment (p. 69-70).
#[tokio::test]
async fn fragmented_reply() {
    let server = TestServer::start().await;
    let first = phone_post(server.phone_addr(), guide("p33-start-up.xml").as_bytes(), None).await;
    let session = first.session().unwrap();
    let part1 = guide("p70-fragment-next.xml").replace("action=\"ReadItems\"", "action=\"ReadAllItems\"");
    let next = phone_post(server.phone_addr(), part1.as_bytes(), Some(&session)).await.dls();
    assert_eq!(
        (next.action, next.nonce.as_str()),
        (Action::GetNextFragment, "B0151B36FE9CEEA0F667FF3A208AC994")
    );
    let part2 = reply_with("ReadAllItems", "N2", "next", &inventory(MAC, &[]));
    assert_eq!(
        phone_post(server.phone_addr(), part2.as_bytes(), Some(&session)).await.dls().action,
        Action::GetNextFragment
    );
    let items = vec![("sntp-addr".to_owned(), "pool.ntp.org".to_owned())];
    let part3 = reply_with("ReadAllItems", "N3", "final", &items);
    let done = phone_post(server.phone_addr(), part3.as_bytes(), Some(&session)).await.dls();
    assert_eq!((done.action, done.nonce.as_str()), (Action::CleanUp, "N3"));

    let view: opendls_api::DeviceView =
        serde_json::from_slice(&server.admin("GET", &format!("/api/devices/{MAC}"), None).await.body)
            .unwrap();
    let names: Vec<&str> = view.reported.iter().map(|i| i.name.as_str()).collect();
    for name in ["related-device-type", "e164", "sntp-addr"] {
        assert!(names.contains(&name), "{name} from one of the three fragments is missing: {names:?}");
    }
    assert_eq!(view.reported.len(), 15, "14 distinct items in the first two fragments, 1 in the last");
}

/// busy (p. 76): CleanUp with send-solicited, and the write happens on the solicited call-back.
#[tokio::test]
async fn busy_then_solicited() {
    let server = TestServer::start().await;
    set_global(&server, "sntp-addr", "time.nist.gov").await;
    let first = phone_post(server.phone_addr(), guide("p33-start-up.xml").as_bytes(), None).await;
    let session = first.session().unwrap();
    let read = reply_with("ReadAllItems", "R1", "final", &inventory(MAC, &[]));
    assert_eq!(
        phone_post(server.phone_addr(), read.as_bytes(), Some(&session)).await.dls().action,
        Action::WriteItems
    );
    let busy =
        phone_post(server.phone_addr(), guide("p76-reply-busy.xml").as_bytes(), Some(&session)).await.dls();
    assert_eq!(busy.action, Action::CleanUp);
    assert_eq!(busy.items, vec![Item::new("send-solicited", "true")]);

    let solicited = guide("p43-solicited.xml");
    let callback =
        phone_post(server.phone_addr(), solicited.replace("00:01:E3:00:A9:F3", MAC).as_bytes(), None).await;
    let write = callback.dls();
    assert_eq!(write.action, Action::WriteItems);
    assert_eq!(write.items, vec![Item::new("sntp-addr", "time.nist.gov")]);
}

/// Per-item errors (p. 78, 81, 83) are recorded and the items are held back.
#[tokio::test]
async fn per_item_errors() {
    let server = TestServer::start().await;
    set_global(&server, "socketed-headset-mode", "0").await;
    set_global(&server, "sntp-addr", "time.nist.gov").await;
    let body = r#"{"scope":"global","name":"Canonical-lookup-international-code","index":6,"value":"00"}"#;
    assert_eq!(server.admin("PUT", "/api/config", Some(body)).await.status, 200);
    let first = phone_post(server.phone_addr(), guide("p33-start-up.xml").as_bytes(), None).await;
    let session = first.session().unwrap();
    let read = reply_with("ReadAllItems", "R1", "final", &inventory(MAC, &[]));
    let write = phone_post(server.phone_addr(), read.as_bytes(), Some(&session)).await.dls();
    assert_eq!(write.items.len(), 3);
    // The phone's answer combines the guide's three error examples: an unknown item (p. 78) and
    // an indexed item that could not be saved (p. 81), inside an accepted reply.
    let p78 = guide("p78-reply-unknown-item.xml");
    let p81_item = r#"<Item status="failed" name="Canonical-lookup-international-code" index="6"></Item>"#;
    let combined = p78.replace("</ItemList>", &format!("{p81_item}\n</ItemList>"));
    let refused = phone_post(server.phone_addr(), combined.as_bytes(), Some(&session)).await;
    assert_eq!(refused.dls().action, Action::CleanUp);

    let view: opendls_api::DeviceView =
        serde_json::from_slice(&server.admin("GET", &format!("/api/devices/{MAC}"), None).await.body)
            .unwrap();
    let held = |name: &str| view.pending.iter().find(|p| p.name == name).and_then(|p| p.held.clone());
    assert_eq!(held("socketed-headset-mode").as_deref(), Some("refused by the phone: unknown item"));
    assert_eq!(held("Canonical-lookup-international-code").as_deref(), Some("refused by the phone: failed"));
    assert!(view.history.iter().any(|h| h.kind == "write-failed" && h.detail == "unknown item"));
    assert!(!view.pending.iter().any(|p| p.name == "sntp-addr"), "the other item was accepted");

    // The refused values are not sent again on the next contact.
    let again = phone_post(server.phone_addr(), guide("p33-start-up.xml").as_bytes(), None).await.dls();
    assert_eq!(again.action, Action::CleanUp);

    // p. 83: a read-only item; an admin cannot even ask for it.
    let body = r#"{"scope":"global","name":"device-type","value":"OpenStage 80"}"#;
    assert_eq!(server.admin("PUT", "/api/config", Some(body)).await.status, 422);
}

/// Local changes with attached items (p. 40): a managed item is written back after the read.
#[tokio::test]
async fn local_changes_revert_managed_items() {
    let server = TestServer::start().await;
    set_global(&server, "dls-addr", "10.0.0.1").await;
    // Register and read the phone once.
    let first = phone_post(server.phone_addr(), guide("p33-start-up.xml").as_bytes(), None).await;
    let session = first.session().unwrap();
    let read = reply_with("ReadAllItems", "R1", "final", &inventory(MAC, &[("dls-addr", "10.0.0.1")]));
    assert_eq!(
        phone_post(server.phone_addr(), read.as_bytes(), Some(&session)).await.dls().action,
        Action::CleanUp
    );

    let change = phone_post(server.phone_addr(), guide("p40-local-changes-v2r2.xml").as_bytes(), None).await;
    assert_eq!(change.dls().action, Action::ReadAllItems, "configuration-changed-flag is true");
    let session = change.session().unwrap();
    let read = reply_with("ReadAllItems", "R2", "final", &inventory(MAC, &[("dls-addr", "192.168.1.150")]));
    let revert = phone_post(server.phone_addr(), read.as_bytes(), Some(&session)).await.dls();
    assert_eq!(revert.items, vec![Item::new("dls-addr", "10.0.0.1")]);

    let view: opendls_api::DeviceView =
        serde_json::from_slice(&server.admin("GET", &format!("/api/devices/{MAC}"), None).await.body)
            .unwrap();
    let local = view
        .history
        .iter()
        .find(|h| h.kind == "local-change" && h.item.as_deref() == Some("dls-addr"))
        .unwrap();
    assert!(local.detail.starts_with("source phone"), "{}", local.detail);
}

/// Keep-alive: several requests on one TLS connection work as well as one per connection.
#[tokio::test]
async fn keep_alive_connections_work() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let server = TestServer::start().await;
    let mut tls = tls_connect(server.phone_addr()).await;
    for mac in ["00:1A:E8:00:00:01", "00:1A:E8:00:00:02"] {
        let body = start_up(mac);
        let request = format!(
            "POST /DeploymentService/LoginService HTTP/1.1\r\nHost: x\r\nContent-Type: text/xml\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        tls.write_all(request.as_bytes()).await.unwrap();
        let mut buffer = vec![0u8; 8192];
        let mut raw = Vec::new();
        loop {
            let n = tls.read(&mut buffer).await.unwrap();
            raw.extend_from_slice(&buffer[..n]);
            if let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
                let reply = parse_reply(&raw);
                let length: usize = reply.header("content-length").unwrap().parse().unwrap();
                if raw.len() >= end + 4 + length {
                    assert_eq!(reply.dls().action, Action::ReadAllItems);
                    break;
                }
            }
        }
    }
}

/// The configured default local-change policy applies where no group or global policy is stored.
#[tokio::test]
async fn the_configured_default_policy_applies() {
    let server = TestServer::start_with(|config| {
        config.protocol.local_change_policy = opendls_engine::LocalChangePolicy::Flag;
    })
    .await;
    set_global(&server, "dls-addr", "10.0.0.1").await;
    let first = phone_post(server.phone_addr(), guide("p33-start-up.xml").as_bytes(), None).await;
    let session = first.session().unwrap();
    let read = reply_with("ReadAllItems", "R1", "final", &inventory(MAC, &[("dls-addr", "10.0.0.1")]));
    phone_post(server.phone_addr(), read.as_bytes(), Some(&session)).await.dls();

    let change = phone_post(server.phone_addr(), guide("p40-local-changes-v2r2.xml").as_bytes(), None).await;
    let session = change.session().unwrap();
    let read = reply_with("ReadAllItems", "R2", "final", &inventory(MAC, &[("dls-addr", "192.168.1.150")]));
    let done = phone_post(server.phone_addr(), read.as_bytes(), Some(&session)).await.dls();
    assert_eq!(done.action, Action::CleanUp, "a flagged change is not written back");
    let view: opendls_api::DeviceView =
        serde_json::from_slice(&server.admin("GET", &format!("/api/devices/{MAC}"), None).await.body)
            .unwrap();
    let pending = view.pending.iter().find(|p| p.name == "dls-addr").unwrap();
    assert_eq!(pending.held.as_deref(), Some("local change flagged"));
}
