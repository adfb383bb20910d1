//! Plug & play with simulated phones: devices prepared before the phones exist are bound by MAC
//! and by the E.164 they report, a second claim on one number is refused and recorded, an
//! unknown phone is quarantined (read, never written) until approved.

use std::time::Duration;

use opendls_phonesim::live::{self, LivePhone};
use opendls_phonesim::{PhoneProfile, SimPhone};
use serde_json::{Value, json};

use crate::jobs::{behaviour, target, until_booted};
use crate::support::{TestServer, quick_jobs, until_finished};

async fn spawn(server: &TestServer, profile: PhoneProfile) -> LivePhone {
    live::spawn(SimPhone::new(profile), target(server), behaviour()).await.unwrap()
}

fn history_kinds(device: &Value) -> Vec<String> {
    device["history"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prepared_devices_are_bound_conflicts_refused_and_strangers_quarantined_until_approved() {
    let server = TestServer::start_with(|config| {
        quick_jobs(config);
        config.protocol.unknown_devices = opendls_engine::UnknownDevicePolicy::Quarantine;
        config.protocol.unknown_device_group = Some("new".into());
    })
    .await;
    let templates = json!({"scope": "global", "values": [
        {"name": "sip-user-id", "value": "{{device.e164}}"},
        {"name": "display-id-unicode", "value": "{{device.var.name}}"},
        {"name": "sip-pwd", "value": "{{device.var.sip}}"},
    ]});
    server.admin_json("PUT", "/api/config", Some(&templates.to_string()), 200).await;
    let shared_number = "4930999";
    let prepared = json!({"devices": [
        {"mac": "00:1a:e8:00:00:01", "e164": "4930111", "group": "berlin", "variables": {"name": "Alice"},
         "secret_variables": {"sip": "s3cret-alice"}},
        {"e164": "498972200002", "group": "munich", "variables": {"name": "Bob"}},
        {"e164": shared_number, "variables": {"name": "Carol"}},
    ]});
    let added = server.admin_json("POST", "/api/provisioned", Some(&prepared.to_string()), 200).await;
    assert_eq!(added["ids"].as_array().unwrap().len(), 3, "{added:#}");

    // Phone 1 by MAC, phone 2 by the number it reports, phone 3 unknown, phone 4 claims Carol's
    // number first; phone 5 claims it too, later.
    let mut profiles: Vec<PhoneProfile> = (1..6).map(PhoneProfile::numbered).collect();
    profiles[3].e164 = shared_number.into();
    profiles[4].e164 = shared_number.into();
    let mut phones = Vec::new();
    for profile in profiles.iter().take(4) {
        phones.push(spawn(&server, profile.clone()).await);
    }
    until_booted(&phones).await;
    let late = spawn(&server, profiles[4].clone()).await;
    until_booted(std::slice::from_ref(&late)).await;
    let stranger = phones.remove(2);
    let mut stopped = Vec::new();
    for phone in phones.into_iter().chain([late]) {
        stopped.push(phone.stop().await);
    }
    let (alice, bob, carol, intruder) = (&stopped[0], &stopped[1], &stopped[2], &stopped[3]);
    assert_eq!(alice.value("display-id-unicode", None), Some("Alice"));
    assert_eq!(alice.value("sip-pwd", None), Some("s3cret-alice"), "a prepared secret reaches its phone");
    for path in ["/api/provisioned", "/api/variables", "/api/config/effective/00:1A:E8:00:00:01"] {
        let shown = server.admin_json("GET", path, None, 200).await.to_string();
        assert!(!shown.contains("s3cret-alice"), "{path} shows the secret: {shown}");
    }
    assert_eq!(alice.value("e164", None), Some("4930111"), "the prepared number is configured on the phone");
    assert_eq!(alice.value("sip-user-id", None), Some("4930111"), "templates use the configured number");
    assert_eq!(bob.value("display-id-unicode", None), Some("Bob"));
    assert_eq!(carol.value("display-id-unicode", None), Some("Carol"));
    assert_ne!(intruder.value("display-id-unicode", None), Some("Carol"), "a second claim is never guessed");

    let device = |mac: &'static str| {
        let server = &server;
        async move { server.admin_json("GET", &format!("/api/devices/{mac}"), None, 200).await }
    };
    let alice_view = device("00:1A:E8:00:00:01").await;
    assert_eq!(
        (alice_view["device"]["group"].as_str(), alice_view["device"]["approval"].as_str()),
        (Some("berlin"), Some("approved"))
    );
    assert_eq!(device("00:1A:E8:00:00:02").await["device"]["group"], "munich");
    let intruder_view = device("00:1A:E8:00:00:05").await;
    assert_eq!(intruder_view["device"]["approval"], "pending", "an unbound claimant falls to the policy");
    let listed = server.admin_json("GET", "/api/provisioned", None, 200).await;
    let carol_entry = listed.as_array().unwrap().iter().find(|p| p["e164"] == shared_number).unwrap();
    assert_eq!(carol_entry["bound"][0], "00:1A:E8:00:00:04");
    let conflict = carol_entry["conflict"].as_str().unwrap();
    assert!(conflict.starts_with("00:1A:E8:00:00:05 claims provisioned device"), "{conflict}");

    // The stranger was registered and read, into the default group, and nothing was written.
    let pending = server.admin_json("GET", "/api/devices?approval=pending", None, 200).await;
    let pending: Vec<&str> = pending.as_array().unwrap().iter().map(|d| d["mac"].as_str().unwrap()).collect();
    assert_eq!(pending, ["00:1A:E8:00:00:03", "00:1A:E8:00:00:05"]);
    let quarantined = device("00:1A:E8:00:00:03").await;
    assert_eq!(quarantined["device"]["group"], "new");
    assert!(quarantined["inventory_read_at"].is_i64(), "read in full");
    assert!(
        !history_kinds(&quarantined).contains(&"item-written".to_owned()),
        "{:?}",
        history_kinds(&quarantined)
    );

    // Approved and pushed: configured now.
    let approval = json!({"macs": ["00:1A:E8:00:00:03"]}).to_string();
    let approved = server.admin_json("POST", "/api/devices/approve", Some(&approval), 200).await;
    assert_eq!(approved["approved"], json!(["00:1A:E8:00:00:03"]));
    let push =
        json!({"kind": "apply-configuration", "targets": {"by": "devices", "macs": ["00:1A:E8:00:00:03"]}});
    let job = server.admin_json("POST", "/api/jobs", Some(&push.to_string()), 201).await;
    let finished = until_finished(&server, job["id"].as_i64().unwrap(), Duration::from_secs(60)).await;
    assert_eq!(finished["summary"]["counts"]["done"], 1, "{finished:#}");
    let stranger = stranger.stop().await;
    assert_eq!(stranger.value("sip-user-id", None), Some(stranger.profile.e164.as_str()));
    let written = device("00:1A:E8:00:00:03").await;
    assert!(history_kinds(&written).contains(&"item-written".to_owned()));
    let approve_again = server.admin("POST", "/api/devices/approve", Some(&approval)).await;
    assert_eq!(approve_again.status, 404, "{}", approve_again.text());
}

#[tokio::test]
async fn preparing_devices_is_all_or_nothing_with_every_problem_named() {
    let server = TestServer::start().await;
    let batch = json!({"devices": [
        {"mac": "00:1A:E8:00:01:01", "e164": "4930201"},
        {"mac": "not-a-mac"},
        {"group": "sales"},
        {"e164": "49-30"},
        {"mac": "00-1a-e8-00-01-01"},
        {"e164": "4930202", "variables": {"bad name": "x"}},
    ]});
    let reply = server.admin("POST", "/api/provisioned", Some(&batch.to_string())).await;
    assert_eq!(reply.status, 422, "{}", reply.text());
    let result: Value = serde_json::from_str(&reply.text()).unwrap();
    let indexes: Vec<u64> =
        result["refused"].as_array().unwrap().iter().map(|r| r["index"].as_u64().unwrap()).collect();
    assert_eq!(indexes, [1, 2, 3, 4, 5], "{result:#}");
    assert_eq!(result["refused"][3]["reason"], "MAC 00:1A:E8:00:01:01 is given twice", "{result:#}");
    assert_eq!(result["refused"][3]["same_as"], 0, "{result:#}");
    assert_eq!(
        server.admin_json("GET", "/api/provisioned", None, 200).await,
        json!([]),
        "nothing half-added"
    );

    let one = json!({"devices": [{"mac": "00:1A:E8:00:01:01", "e164": "4930201"}]}).to_string();
    let dry = json!({"devices": [{"mac": "00:1A:E8:00:01:01"}], "dry_run": true}).to_string();
    assert_eq!(server.admin_json("POST", "/api/provisioned", Some(&dry), 200).await["applied"], false);
    server.admin_json("POST", "/api/provisioned", Some(&one), 200).await;
    let again = server.admin("POST", "/api/provisioned", Some(&one)).await;
    assert_eq!(again.status, 422);
    assert!(again.text().contains("prepared already"), "{}", again.text());
    let dry_again = server.admin("POST", "/api/provisioned", Some(&dry)).await;
    assert_eq!(dry_again.status, 422, "a dry run runs the store's checks too: {}", dry_again.text());
    assert_eq!(server.admin("DELETE", "/api/provisioned/99", None).await.status, 404);
}
