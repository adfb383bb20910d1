//! Guide §3.5: phone-driven interactions (start-up p. 32-36, local changes p. 37-40).

use std::time::Duration;

use opendls_phonesim::live::{self, Behaviour, LiveStats};
use opendls_phonesim::{PhoneProfile, SimPhone};
use serde_json::json;

use crate::support::*;

/// §3.5.1: start-up registers the phone, the service reads everything and writes what differs.
#[tokio::test]
async fn s3_5_1_start_up() {
    let server = Server::start().await;
    server.set(json!({"scope": "global", "name": "sntp-addr", "value": "time.nist.gov"})).await;
    server.set(json!({"scope": "global", "name": "XML-app-name", "index": 1, "value": "phonebook"})).await;
    let phone = SimPhone::new(PhoneProfile::numbered(1));
    let mac = phone.profile.mac.clone();
    let live = live::spawn(phone, server.target(), Behaviour::default()).await.unwrap();
    assert!(
        eventually(Duration::from_secs(10), async || LiveStats::get(&live.stats.interactions) >= 1).await
    );
    let phone = live.stop().await;
    assert_eq!(phone.value("sntp-addr", None), Some("time.nist.gov"));
    assert_eq!(phone.value("XML-app-name", Some(1)), Some("phonebook"));

    let view = server.device(&mac).await;
    assert_eq!(view["device"]["device_type"], "OpenStage 20");
    assert!(view["reported"].as_array().unwrap().len() >= 300);
    assert_eq!(view["pending"].as_array().unwrap().len(), 0);
    let kinds = history_kinds(&view);
    assert!(
        kinds.contains(&"registered".to_owned()) && kinds.contains(&"item-written".to_owned()),
        "{kinds:?}"
    );
}

async fn local_changes(attach: bool) {
    let server = Server::start().await;
    server.set(json!({"scope": "global", "name": "sntp-tz-offset", "value": "60"})).await;
    let phone = SimPhone::new(PhoneProfile::numbered(2));
    let mac = phone.profile.mac.clone();
    let behaviour = Behaviour {
        local_change_every: Some(Duration::from_millis(300)),
        attach_local_changes: attach,
        ..Behaviour::default()
    };
    let live = live::spawn(phone, server.target(), behaviour).await.unwrap();
    assert!(
        eventually(Duration::from_secs(15), async || LiveStats::get(&live.stats.local_changes) >= 4).await
    );
    let stats = live.stats.clone();
    let phone = live.stop().await;
    assert_eq!(LiveStats::get(&stats.errors), 0);
    // The managed item is put back after every local change (default policy); unmanaged ones stay.
    assert_eq!(phone.value("sntp-tz-offset", None), Some("60"));
    let view = server.device(&mac).await;
    let local: Vec<&serde_json::Value> =
        view["history"].as_array().unwrap().iter().filter(|h| h["kind"] == "local-change").collect();
    assert!(!local.is_empty(), "{view}");
    assert!(local.iter().all(|h| h["detail"].as_str().unwrap().starts_with("source phone")));
}

/// §3.5.2, V2R2 and later: the changed items are attached to the message (p. 40).
#[tokio::test]
async fn s3_5_2_local_changes_with_attached_items() {
    local_changes(true).await;
}

/// §3.5.2, up to V2R1: only `configuration-changed-flag`; the service reads everything (p. 37-38).
#[tokio::test]
async fn s3_5_2_local_changes_flag_only() {
    local_changes(false).await;
}

/// §3.3.4 (p. 28): `inventory-changes` after a key module is attached; the service records the
/// new inventory.
#[tokio::test]
async fn s3_3_4_inventory_changes() {
    let server = Server::start().await;
    let phone = SimPhone::new(PhoneProfile::numbered(7));
    let mac = phone.profile.mac.clone();
    let behaviour =
        Behaviour { inventory_change_every: Some(Duration::from_millis(200)), ..Behaviour::default() };
    let live = live::spawn(phone, server.target(), behaviour).await.unwrap();
    assert!(
        eventually(Duration::from_secs(10), async || LiveStats::get(&live.stats.inventory_changes) >= 2
            && LiveStats::get(&live.stats.interactions) >= 3)
        .await
    );
    let stats = live.stats.clone();
    live.stop().await;
    assert_eq!(LiveStats::get(&stats.errors), 0);
    let view = server.device(&mac).await;
    let modules = view["reported"].as_array().unwrap().iter().find(|i| i["name"] == "km15-modules").unwrap();
    assert_ne!(modules["value"], "0");
    assert_eq!(view["device"]["last_reason"], "inventory-changes");
    assert!(
        view["history"]
            .as_array()
            .unwrap()
            .iter()
            .any(|h| h["item"] == "km15-modules" && h["kind"] == "item-changed")
    );
}
