//! Simulated phones (our own simulator, real TLS and HTTP) against the real server.

use std::time::Duration;

use opendls_phonesim::fleet::{FleetConfig, run_fleet};
use opendls_phonesim::interaction::Target;

use crate::support::*;

#[tokio::test]
async fn a_small_fleet_boots_is_configured_and_busy_phones_finish_on_call_back() {
    let server = TestServer::start().await;
    let body = r#"{"scope":"global","name":"sntp-addr","value":"time.nist.gov"}"#;
    assert_eq!(server.admin("PUT", "/api/config", Some(body)).await.status, 200);
    let config = FleetConfig {
        phones: 30,
        boot_within: Duration::from_secs(1),
        busy_fraction: 0.3,
        call_duration: Duration::from_millis(200),
        fragment_items: Some(150),
        keep_alive_fraction: 0.3,
        slow_fraction: 0.2,
        slow_delay: Duration::from_millis(50),
        vanish_fraction: 0.1,
        ..FleetConfig::default()
    };
    let report = run_fleet(&config, &Target::default_mode(server.phone_addr())).await;
    assert_eq!(report.completed, 30, "{report:#?}");
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert!(report.step_latency.contains_key("GetNextFragment"), "replies were fragmented");
    assert_eq!(report.items_written, 30, "one item per phone, written exactly once");
    let devices: Vec<opendls_api::DeviceListEntry> =
        serde_json::from_slice(&server.admin("GET", "/api/devices", None).await.body).unwrap();
    assert_eq!(devices.len(), 30);
}

#[tokio::test]
async fn phones_that_vanish_mid_interaction_complete_when_they_come_back() {
    let server = TestServer::start().await;
    let config = FleetConfig {
        phones: 5,
        vanish_fraction: 1.0,
        boot_within: Duration::ZERO,
        ..FleetConfig::default()
    };
    let report = run_fleet(&config, &Target::default_mode(server.phone_addr())).await;
    assert_eq!((report.completed, report.vanished_then_completed), (5, 5), "{report:#?}");
}
