//! Templates, variables and model scopes with simulated phones: what `config effective` shows
//! is exactly what each phone is sent, and a template that cannot be rendered is never written.

use opendls_phonesim::SimPhone;
use serde_json::{Value, json};

use crate::jobs::{behaviour, spawn_phones, until_booted};
use crate::support::TestServer;

async fn put(server: &TestServer, path: &str, body: Value) -> Value {
    server.admin_json("PUT", path, Some(&body.to_string()), 200).await
}

/// Boots phones `numbers`, lets each finish its first interaction, and returns their state.
async fn boot(server: &TestServer, numbers: std::ops::Range<u32>) -> Vec<SimPhone> {
    let phones = spawn_phones(server, numbers, &behaviour()).await;
    until_booted(&phones).await;
    let mut stopped = Vec::new();
    for phone in phones {
        stopped.push(phone.stop().await);
    }
    stopped
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn phones_get_their_rendered_templates_and_the_preview_matches() {
    let server = TestServer::start().await;
    // Variables come before the phones exist: pre-provisioning by MAC.
    let alice = json!({"scope": "device", "target": "00:1A:E8:00:00:01", "values": [{"name": "name", "value": "Alice"}]});
    put(&server, "/api/variables", alice).await;
    put(
        &server,
        "/api/variables",
        json!({"scope": "global", "values": [{"name": "ntp", "value": "ntp.example"}]}),
    )
    .await;
    let templates = json!({"scope": "global", "values": [
        {"name": "sip-user-id", "value": "{{device.e164}}"},
        {"name": "display-id-unicode", "value": "{{device.var.name}}"},
        {"name": "sntp-addr", "value": "{{global.var.ntp}}"},
        {"name": "sntp-tz-offset", "value": "0"},
    ]});
    put(&server, "/api/config", templates).await;
    // A model scope beats global: only the OpenStage 60 (phone 3) gets 60.
    put(
        &server,
        "/api/config",
        json!({"scope": "model", "target": "OpenStage 60", "name": "sntp-tz-offset", "value": "60"}),
    )
    .await;

    let phones = boot(&server, 1..6).await;
    for phone in &phones {
        let mac = &phone.profile.mac;
        let value = |name: &str| phone.value(name, None).map(str::to_owned);
        assert_eq!(value("sip-user-id"), Some(phone.profile.e164.clone()), "{mac}");
        assert_eq!(value("sntp-addr").as_deref(), Some("ntp.example"), "{mac}");
        let offset = if phone.profile.model == "OpenStage 60" { "60" } else { "0" };
        assert_eq!(value("sntp-tz-offset").as_deref(), Some(offset), "{mac} ({})", phone.profile.model);

        // The preview is computed by the engine's resolver: it names exactly what the phone has.
        let effective = server.admin_json("GET", &format!("/api/config/effective/{mac}"), None, 200).await;
        for item in effective["items"].as_array().unwrap() {
            let name = item["name"].as_str().unwrap();
            assert_eq!(item["value"].as_str(), phone.value(name, None), "{mac} {name}");
            assert_eq!(item["in_sync"], true, "{mac} {name}: {item}");
        }
    }
    let alice = &phones[0];
    assert_eq!(alice.value("display-id-unicode", None), Some("Alice"));
    let effective = server.admin_json("GET", "/api/config/effective/00:1A:E8:00:00:01", None, 200).await;
    let display =
        effective["items"].as_array().unwrap().iter().find(|i| i["name"] == "display-id-unicode").unwrap();
    assert_eq!(display["template"], "{{device.var.name}}");
    assert_eq!(display["variables"], json!(["device.var.name from device 00:1A:E8:00:00:01"]));

    // The others have no name: the item is held back for them, never written, and listed.
    for phone in &phones[1..] {
        let reported = phone.value("display-id-unicode", None).unwrap_or_default();
        assert!(!reported.contains("{{"), "a template is never sent: {reported}");
        assert_ne!(reported, "Alice");
    }
    let check = server.admin_json("GET", "/api/config/check", None, 200).await;
    assert_eq!(
        (check["devices_checked"].as_u64(), check["problems_total"].as_u64()),
        (Some(5), Some(4)),
        "{check:#}"
    );
    assert!(
        check["problems"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["reason"] == "the device has no variable name")
    );
    let device = server.admin_json("GET", "/api/devices/00:1A:E8:00:00:02", None, 200).await;
    let held =
        device["pending"].as_array().unwrap().iter().find(|p| p["name"] == "display-id-unicode").unwrap();
    assert_eq!(held["held"], "the template cannot be rendered: the device has no variable name");

    // A dry run of a variable counts the devices whose values change; storing it fixes the check.
    let bob = json!({"scope": "device", "target": "00:1A:E8:00:00:02", "values": [{"name": "name", "value": "Bob"}], "dry_run": true});
    let preview = put(&server, "/api/variables", bob.clone()).await;
    assert_eq!((preview["applied"].as_bool(), preview["devices_affected"].as_u64()), (Some(false), Some(1)));
    assert_eq!(preview["cannot_render_total"], 3);
    let mut bob = bob;
    bob["dry_run"] = json!(false);
    put(&server, "/api/variables", bob).await;
    let check = server.admin_json("GET", "/api/config/check", None, 200).await;
    assert_eq!(check["problems_total"], 3);
}

#[tokio::test]
async fn templates_and_variables_are_checked_when_set() {
    let server = TestServer::start().await;
    let refused = |body: Value| {
        let server = &server;
        async move {
            let reply = server.admin("PUT", "/api/config", Some(&body.to_string())).await;
            (reply.status, reply.text())
        }
    };
    let (status, text) =
        refused(json!({"scope": "global", "name": "sntp-addr", "value": "{{device.nope}}"})).await;
    assert_eq!(status, 422, "{text}");
    assert!(text.contains("unknown placeholder {{device.nope}}"), "{text}");
    let (status, text) =
        refused(json!({"scope": "global", "name": "sntp-addr", "value": "{{device.e164"})).await;
    assert_eq!(status, 422, "{text}");
    assert!(text.contains("not closed"), "{text}");
    // A template for a read-only item is refused before any value exists.
    let (status, text) =
        refused(json!({"scope": "global", "name": "device-type", "value": "{{device.var.x}}"})).await;
    assert_eq!(status, 422, "{text}");
    let (status, text) =
        refused(json!({"scope": "model", "target": "CP9*", "name": "sntp-addr", "value": "x"})).await;
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("matches no known model"), "{text}");
    // A short model name is kept in its full form.
    put(
        &server,
        "/api/config",
        json!({"scope": "model", "target": "CP210", "name": "sntp-addr", "value": "x"}),
    )
    .await;
    let stored = server.admin_json("GET", "/api/config?scope=model&target=CP210", None, 200).await;
    assert_eq!(stored[0]["target"], "OpenScape Desk Phone CP210", "{stored:#}");

    let variable = |body: Value| {
        let server = &server;
        async move { server.admin("PUT", "/api/variables", Some(&body.to_string())).await.status }
    };
    assert_eq!(
        variable(json!({"scope": "global", "values": [{"name": "bad name", "value": "x"}]})).await,
        422
    );
    assert_eq!(
        variable(json!({"scope": "global", "values": [{"name": "a", "value": "{{var.b}}"}]})).await,
        422
    );
    assert_eq!(
        variable(json!({"scope": "model", "target": "CP210", "values": [{"name": "a", "value": "x"}]})).await,
        400
    );
    assert_eq!(
        variable(json!({"scope": "device", "target": "nope", "values": [{"name": "a", "value": "x"}]})).await,
        400
    );
    let removal = json!({"scope": "global", "name": "missing"}).to_string();
    assert_eq!(server.admin("DELETE", "/api/variables", Some(&removal)).await.status, 404);
}

#[tokio::test]
async fn secret_variables_are_sealed_and_masked() {
    let server = TestServer::start().await;
    let secret = json!({"scope": "device", "target": "00:1A:E8:00:00:01", "secret": true,
        "values": [{"name": "sip-password", "value": "s3cret-Pa55"}]});
    put(&server, "/api/variables", secret).await;
    let listed = server.admin("GET", "/api/variables", None).await.text();
    assert!(!listed.contains("s3cret-Pa55") && listed.contains("******"), "{listed}");
    let stored = server.database_contents().await;
    let found = |needle: &[u8]| stored.windows(needle.len()).any(|w| w == needle);
    assert!(found(b"sip-password"), "the variable's name is stored as it is: the files were read");
    assert!(!found(b"s3cret-Pa55"), "a secret variable's value is sealed at rest");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_in_several_groups_gets_the_first_groups_value_item_by_item() {
    let server = TestServer::start().await;
    let config = |group: &str, name: &str, value: &str| json!({"scope": "group", "target": group, "name": name, "value": value});
    put(&server, "/api/config", config("sales", "sntp-addr", "ntp.sales")).await;
    put(&server, "/api/config", config("berlin", "sntp-addr", "ntp.berlin")).await;
    put(&server, "/api/config", config("berlin", "sntp-tz-offset", "60")).await;
    put(
        &server,
        "/api/variables",
        json!({"scope": "group", "target": "berlin", "values": [{"name": "site", "value": "BER"}]}),
    )
    .await;
    put(
        &server,
        "/api/config",
        json!({"scope": "global", "name": "display-id-unicode", "value": "{{group.var.site}}"}),
    )
    .await;
    // Phone 1 is in sales then berlin, phone 2 in berlin only, phone 3 in none.
    let prepared = json!({"devices": [
        {"mac": "00:1A:E8:00:00:01", "group": "sales", "other_groups": ["berlin"]},
        {"mac": "00:1A:E8:00:00:02", "group": "berlin"},
    ]});
    server.admin_json("POST", "/api/provisioned", Some(&prepared.to_string()), 200).await;
    let twice =
        json!({"devices": [{"mac": "00:1A:E8:00:00:07", "group": "sales", "other_groups": ["sales"]}]});
    let refused = server.admin("POST", "/api/provisioned", Some(&twice.to_string())).await;
    assert_eq!(refused.status, 422, "{}", refused.text());
    assert!(refused.text().contains("group sales is given twice"), "{}", refused.text());

    let phones = boot(&server, 1..4).await;
    let values = |phone: &SimPhone| {
        ["sntp-addr", "sntp-tz-offset", "display-id-unicode"]
            .map(|name| phone.value(name, None).map(str::to_owned))
    };
    let [addr, offset, display] = values(&phones[0]);
    assert_eq!(addr.as_deref(), Some("ntp.sales"), "the first group wins");
    assert_eq!(offset.as_deref(), Some("60"), "a later group fills what the first does not set");
    assert_eq!(display.as_deref(), Some("BER"), "group variables come from any of its groups");
    assert_eq!(values(&phones[1])[0].as_deref(), Some("ntp.berlin"));
    assert_ne!(values(&phones[2])[0].as_deref(), Some("ntp.berlin"));

    let listed = server.admin_json("GET", "/api/devices?group=berlin", None, 200).await;
    let macs: Vec<&str> = listed.as_array().unwrap().iter().map(|d| d["mac"].as_str().unwrap()).collect();
    assert_eq!(macs, ["00:1A:E8:00:00:01", "00:1A:E8:00:00:02"], "a device is listed in each of its groups");
    assert_eq!(listed[0]["other_groups"], json!(["berlin"]));
    let effective = server.admin_json("GET", "/api/config/effective/00:1A:E8:00:00:01", None, 200).await;
    let item = |name: &str| {
        effective["items"].as_array().unwrap().iter().find(|i| i["name"] == name).cloned().unwrap()
    };
    assert_eq!(
        (item("sntp-addr")["scope"].as_str(), item("sntp-tz-offset")["scope"].as_str()),
        (Some("group sales"), Some("group berlin"))
    );

    // Removing the first group moves the next one up; reassigning replaces the list.
    server.admin_json("DELETE", "/api/groups/sales?force=true", None, 200).await;
    let device = server.admin_json("GET", "/api/devices/00:1A:E8:00:00:01", None, 200).await;
    assert_eq!(
        (device["device"]["group"].as_str(), &device["device"]["other_groups"]),
        (Some("berlin"), &Value::Null)
    );
    let assign = json!({"group": "lobby", "other_groups": ["berlin"]});
    server.admin("PUT", "/api/devices/00:1A:E8:00:00:03/group", Some(&assign.to_string())).await;
    let listed = server.admin_json("GET", "/api/devices?group=berlin", None, 200).await;
    assert_eq!(listed.as_array().unwrap().len(), 3, "{listed:#}");
    let groups = server.admin_json("GET", "/api/groups", None, 200).await;
    let counts: Vec<(String, u64)> = groups
        .as_array()
        .unwrap()
        .iter()
        .map(|g| (g["name"].as_str().unwrap().to_owned(), g["devices"].as_u64().unwrap()))
        .collect();
    assert!(counts.contains(&("berlin".into(), 3)) && counts.contains(&("lobby".into(), 1)), "{counts:?}");
    let orphan = json!({"other_groups": ["berlin"]});
    let refused =
        server.admin("PUT", "/api/devices/00:1A:E8:00:00:03/group", Some(&orphan.to_string())).await;
    assert_eq!(refused.status, 400, "{}", refused.text());
}
