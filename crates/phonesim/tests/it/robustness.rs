//! How phones really behave on the network: keep-alive, slow networks, phones that vanish.

use std::time::Duration;

use opendls_phonesim::interaction::{Manner, run_interaction};
use opendls_phonesim::{PhoneProfile, SimPhone};
use opendls_wpi::Reason;
use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn keep_alive_and_slow_networks_work_like_connection_per_request() {
    let server = Server::start().await;
    server.set(json!({"scope": "global", "name": "sntp-addr", "value": "time.nist.gov"})).await;
    for (n, manner) in [
        Manner { keep_alive: true, ..Manner::default() },
        Manner { network_delay: Duration::from_millis(150), ..Manner::default() },
    ]
    .into_iter()
    .enumerate()
    {
        let mut phone = SimPhone::new(PhoneProfile::numbered(10 + n as u32));
        let first = phone.contact(Reason::StartUp, &[]);
        let done = run_interaction(&mut phone, &server.target(), first, &manner).await.unwrap();
        assert_eq!(done.steps.last().unwrap().0, "CleanUp");
        assert_eq!(phone.value("sntp-addr", None), Some("time.nist.gov"));
    }
}

#[tokio::test]
async fn a_phone_that_vanishes_mid_interaction_starts_afresh_next_time() {
    let server = Server::start().await;
    server.set(json!({"scope": "global", "name": "sntp-addr", "value": "time.nist.gov"})).await;
    let mut phone = SimPhone::new(PhoneProfile::numbered(20));
    let first = phone.contact(Reason::StartUp, &[]);
    let gone = run_interaction(
        &mut phone,
        &server.target(),
        first,
        &Manner { vanish_after: Some(1), ..Manner::default() },
    )
    .await
    .unwrap();
    assert!(gone.vanished);
    let first = phone.contact(Reason::StartUp, &[]);
    let done = run_interaction(&mut phone, &server.target(), first, &Manner::default()).await.unwrap();
    assert_eq!(done.steps.last().unwrap().0, "CleanUp");
    assert_eq!(phone.value("sntp-addr", None), Some("time.nist.gov"));
}
