//! Guide §3.7: fragmentation in both directions (p. 69-71) and busy phones (p. 72-76).

use std::time::Duration;

use opendls_phonesim::interaction::{Manner, run_interaction};
use opendls_phonesim::live::{self, Behaviour, LiveStats};
use opendls_phonesim::{PhoneProfile, SimPhone};
use opendls_wpi::Reason;
use serde_json::json;

use crate::support::*;

/// §3.7.1: the phone's long reply comes in fragments, each acknowledged with GetNextFragment.
#[tokio::test]
async fn s3_7_1_phone_message_fragments() {
    let server = Server::start().await;
    let mut profile = PhoneProfile::numbered(4);
    profile.fragment_items = Some(50);
    let mut phone = SimPhone::new(profile);
    let total = phone.item_count();
    let mac = phone.profile.mac.clone();
    let first = phone.contact(Reason::StartUp, &[]);
    let done = run_interaction(&mut phone, &server.target(), first, &Manner::default()).await.unwrap();
    let fragments = done.steps.iter().filter(|(a, _)| a == "GetNextFragment").count();
    assert_eq!(fragments, total.div_ceil(50) - 1);
    let view = server.device(&mac).await;
    assert_eq!(view["reported"].as_array().unwrap().len(), total, "every fragment's items were kept");
}

/// §3.7.2: the service splits its own long messages by the phone's maxItems (p. 28, 71).
#[tokio::test]
async fn s3_7_2_service_message_fragments() {
    let server = Server::start().await;
    for app in 1..=4 {
        for (name, value) in
            [("XML-app-name", "app"), ("XML-app-server-addr", "127.0.0.1"), ("XML-app-server-port", "8080")]
        {
            server
                .set(json!({"scope": "global", "name": name, "index": app, "value": format!("{value}")}))
                .await;
        }
    }
    let mut profile = PhoneProfile::numbered(5);
    profile.max_items = 4;
    let mut phone = SimPhone::new(profile);
    let first = phone.contact(Reason::StartUp, &[]);
    let done = run_interaction(&mut phone, &server.target(), first, &Manner::default()).await.unwrap();
    let writes = done.steps.iter().filter(|(a, _)| a == "WriteItems").count();
    assert_eq!(writes, 4, "three related items per application, at most four items per message");
    assert_eq!(done.written, 12);
    assert_eq!(phone.value("XML-app-server-port", Some(4)), Some("8080"));
}

/// §3.7.3: a busy phone gets CleanUp with send-solicited and calls back when its call ends.
#[tokio::test]
async fn s3_7_3_busy_then_send_solicited() {
    let server = Server::start().await;
    server.set(json!({"scope": "global", "name": "sntp-addr", "value": "time.nist.gov"})).await;
    let mut phone = SimPhone::new(PhoneProfile::numbered(6));
    phone.in_call = true;
    let behaviour = Behaviour { call_duration: Duration::from_millis(300), ..Behaviour::default() };
    let live = live::spawn(phone, server.target(), behaviour).await.unwrap();
    assert!(
        eventually(Duration::from_secs(10), async || LiveStats::get(&live.stats.solicited) >= 1
            && LiveStats::get(&live.stats.interactions) >= 2)
        .await
    );
    let phone = live.stop().await;
    assert_eq!(phone.value("sntp-addr", None), Some("time.nist.gov"));
    assert!(!phone.in_call);
}
