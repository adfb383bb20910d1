//! What real phones and other servers send (issue 14), end to end: CP phones, signed phone
//! messages, contact-me in the form each model wants, and reads that say what came back.

use std::time::{Duration, Instant};

use opendls_phonesim::live::{self, Behaviour, LivePhone, LiveStats};
use opendls_phonesim::phone::{PhoneProfile, SimPhone};
use opendls_server::config::{ContactMeRule, ContactMeStyle};
use opendls_wpi::models;
use serde_json::{Value, json};

use crate::support::{TestServer, phone_post, quick_jobs, until_finished};

fn model(short_name: &str) -> &'static models::PhoneModel {
    models::MODELS.iter().find(|m| m.short_name == short_name).unwrap()
}

/// A loopback port nobody listens on now, for a phone's web interface.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

async fn spawn(server: &TestServer, profile: PhoneProfile, web_interface: Option<u16>) -> LivePhone {
    let behaviour = Behaviour { contact_gap: Duration::from_secs(3), web_interface, ..Behaviour::default() };
    let mut target = opendls_phonesim::interaction::Target::default_mode(server.phone_addr());
    target.timeout = Duration::from_secs(20);
    live::spawn(SimPhone::new(profile), target, behaviour).await.unwrap()
}

fn target<'a>(job: &'a Value, mac: &str) -> &'a Value {
    job["targets"].as_array().unwrap().iter().find(|t| t["mac"] == mac).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contact_me_takes_the_form_each_model_wants_and_reads_say_what_came_back() {
    let web_port = free_port();
    let server = TestServer::start_with(|config| {
        quick_jobs(config);
        config.jobs.contact_me_rules = vec![
            ContactMeRule {
                group: None,
                model: Some("CP210".into()),
                style: ContactMeStyle::HttpsWeb,
                web_port: Some(web_port),
            },
            ContactMeRule {
                group: None,
                model: Some("CP4*".into()),
                style: ContactMeStyle::Get,
                web_port: None,
            },
        ];
    })
    .await;
    let cp210 = spawn(&server, PhoneProfile::of_model(9201, model("CP210")), Some(web_port)).await;
    let mut forgetful = PhoneProfile::of_model(9202, model("CP400"));
    forgetful.omits_unknown_items = true;
    let cp400 = spawn(&server, forgetful, None).await;
    let openstage = spawn(&server, PhoneProfile::numbered(9203), None).await;
    let phones = [&cp210, &cp400, &openstage];
    let deadline = Instant::now() + Duration::from_secs(60);
    while phones.iter().any(|p| LiveStats::get(&p.stats.interactions) == 0) {
        assert!(Instant::now() < deadline, "phones did not boot");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The CP models are listed and selected by the names on their labels.
    let listed = server.admin_json("GET", "/api/devices?model=CP2*", None, 200).await;
    let listed: Vec<&str> = listed.as_array().unwrap().iter().map(|d| d["mac"].as_str().unwrap()).collect();
    assert_eq!(listed, [cp210.mac.as_str()]);
    let shown = server.admin_json("GET", &format!("/api/devices/{}", cp210.mac), None, 200).await;
    assert_eq!(shown["device"]["device_type"], "OpenScape Desk Phone CP210", "{shown:#}");

    let request = json!({
        "kind": "read-items",
        "items": ["e164", "no-such-item"],
        "targets": {"by": "devices", "macs": [cp210.mac, cp400.mac, openstage.mac]},
        "contact_me": true,
        "allow_unknown": true,
    });
    let job = server.admin_json("POST", "/api/jobs", Some(&request.to_string()), 201).await;
    let job = until_finished(&server, job["id"].as_i64().unwrap(), Duration::from_secs(60)).await;
    for phone in phones {
        let target = target(&job, &phone.mac);
        assert_eq!(target["state"], "done", "{target:#}");
        assert_eq!(target["read"]["returned"], json!(["e164"]), "{target:#}");
    }
    assert_eq!(target(&job, &cp400.mac)["read"]["missing"], json!(["no-such-item"]));
    assert_eq!(target(&job, &cp400.mac)["detail"], "1 of 2 requested items read; not returned: no-such-item");
    assert_eq!(target(&job, &openstage.mac)["read"]["failed"], json!([["no-such-item", "unknown item"]]));

    let got = |phone: &LivePhone| {
        let s = &phone.stats;
        [&s.contact_me_over_https, &s.contact_me_by_get, &s.contact_me_with_callback, &s.contact_me_accepted]
            .map(LiveStats::get)
    };
    let [https, get, callback, accepted] = got(&cp210);
    assert!(https >= 1 && get >= 1 && callback >= 1 && accepted >= 1, "CP210: {:?}", got(&cp210));
    let [https, get, callback, _] = got(&cp400);
    assert!(https == 0 && get >= 1 && callback >= 1, "CP400: {:?}", got(&cp400));
    let [https, get, callback, _] = got(&openstage);
    assert!(https == 0 && get == 0 && callback >= 1, "OpenStage: {:?}", got(&openstage));

    // Nothing requested came back: the read failed, and says so.
    let request = json!({
        "kind": "read-items",
        "items": ["no-such-item"],
        "targets": {"by": "devices", "macs": [cp400.mac]},
        "contact_me": true,
        "allow_unknown": true,
    });
    let job = server.admin_json("POST", "/api/jobs", Some(&request.to_string()), 201).await;
    let job = until_finished(&server, job["id"].as_i64().unwrap(), Duration::from_secs(60)).await;
    let target = target(&job, &cp400.mac);
    assert_eq!(target["state"], "failed", "{target:#}");
    assert_eq!(target["detail"], "none of 1 requested item came back; not returned: no-such-item");
    for phone in [cp210, cp400, openstage] {
        phone.stop().await;
    }
}

#[tokio::test]
async fn signed_phone_messages_and_sloppy_spellings_are_served() {
    let server = TestServer::start().await;
    let fixture = |name: &str| {
        let path = format!("{}/../wpi/tests/fixtures/interop/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read_to_string(path).unwrap()
    };
    // A CP210 start-up carrying a signature inside its Message: read, answered ReadAllItems.
    let signature_start = fixture("signed-workpoint-inside.xml");
    let signature = &signature_start
        [signature_start.find("<Signature").unwrap()..signature_start.find("</Message>").unwrap()];
    let start_up = fixture("cp210-start-up.xml").replace("</ItemList>", &format!("</ItemList>\n{signature}"));
    let reply = phone_post(server.phone_addr(), start_up.as_bytes(), None).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.dls().action, opendls_wpi::Action::ReadAllItems, "{}", reply.text());
    let device = server.admin_json("GET", "/api/devices/00:1A:E8:52:10:0A", None, 200).await;
    assert_eq!(device["device"]["device_type"], "OpenScape Desk Phone CP210");

    // An empty ReasonForContact is read (and logged as lenient), and answered with a CleanUp that
    // says why, never an HTTP error.
    let reply = phone_post(server.phone_addr(), fixture("empty-reason.xml").as_bytes(), None).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.dls().action, opendls_wpi::Action::CleanUp, "{}", reply.text());
}
