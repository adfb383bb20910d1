//! `/metrics`: present, guarded by a token, and moving while simulated phones boot.

use std::time::Duration;

use opendls_phonesim::fleet::{FleetConfig, run_fleet};
use opendls_phonesim::interaction::Target;

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_move_while_a_simulated_fleet_boots() {
    let server = TestServer::start_with(|config| {
        // A small admission limit, so that some phones are told `overload` and come back.
        config.limits.max_interactions_in_flight = 4;
    })
    .await;
    let before = server.scrape().await;
    assert_eq!(before.value("opendls_devices"), 0.0);
    assert!(before.0.contains("opendls_phone_messages_total{reason=\"start-up\",outcome=\"served\"} 0\n"));
    assert!(before.0.contains("# TYPE opendls_database_call_seconds histogram"), "{}", before.0);

    let config = FleetConfig {
        phones: 40,
        boot_within: Duration::from_millis(200),
        busy_fraction: 0.2,
        call_duration: Duration::from_millis(100),
        fragment_items: Some(150),
        ..FleetConfig::default()
    };
    let report = run_fleet(&config, &Target::default_mode(server.phone_addr())).await;
    assert_eq!(report.completed, 40, "{report:#?}");

    // The fleet's counts are read again once the last reading is old enough.
    tokio::time::sleep(opendls_server::metrics::fleet::MAX_AGE).await;
    let after = server.scrape().await;
    let served = after.value("opendls_phone_messages_total{reason=\"start-up\",outcome=\"served\"}");
    assert!(served >= 40.0, "every phone's start-up was served: {served}");
    assert_eq!(
        after.value("opendls_phone_messages_total{reason=\"start-up\",outcome=\"overload\"}"),
        f64::from(report.overload_answers),
        "each overload answer the phones saw was counted"
    );
    assert_eq!(after.sum("opendls_overload_answers_total"), f64::from(report.overload_answers));
    assert!(after.value("opendls_phone_messages_total{reason=\"reply-to\",outcome=\"served\"}") >= 80.0);
    assert!(after.value("opendls_interactions_started_total{reason=\"start-up\"}") >= 40.0);
    assert_eq!(
        after.sum("opendls_phone_messages_total"),
        report.requests as f64,
        "one message counted per request the phones sent"
    );
    assert_eq!(
        after.value("opendls_phone_step_seconds_count{reason=\"start-up\"}"),
        served + f64::from(report.overload_answers)
    );
    let handshakes = after.sum("opendls_tls_handshakes_total");
    assert!(
        handshakes >= report.requests as f64 * 0.9,
        "{handshakes} handshakes for {} requests",
        report.requests
    );
    assert!(after.value("opendls_database_call_seconds_count{call=\"apply\"}") >= served);
    assert!(after.value("opendls_database_call_seconds_count{call=\"request_context\"}") >= served);
    assert_eq!(after.value("opendls_interactions_in_flight"), 0.0, "every interaction ended");
    // The fleet, read from the database.
    assert_eq!(after.value("opendls_devices"), 40.0);
    assert_eq!(after.value("opendls_devices_seen{within=\"1h\"}"), 40.0);
    assert_eq!(after.sum("opendls_devices_by_model"), 40.0);
    assert_eq!(after.value("opendls_devices_by_security_state{state=\"default\"}"), 40.0);
    assert!(after.value("opendls_database_call_seconds_count{call=\"fleet_stats\"}") >= 2.0);
}

#[tokio::test]
async fn metrics_need_the_metrics_or_the_admin_token() {
    let server = TestServer::start().await;
    let get = |token: Option<String>| {
        let addr = server.running().admin_addr;
        async move {
            let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
            let headers: Vec<String> =
                token.map(|t| format!("Authorization: Bearer {t}")).into_iter().collect();
            exchange(stream, "GET", "/metrics", &headers, b"").await
        }
    };
    assert_eq!(get(None).await.status, 401);
    assert_eq!(get(Some("wrong".into())).await.status, 401);
    let admin = get(Some(server.running().admin_token.clone())).await;
    assert_eq!(admin.status, 200);
    assert_eq!(
        admin.header("content-type"),
        Some("application/openmetrics-text; version=1.0.0; charset=utf-8")
    );
    let token = std::fs::read_to_string(server.running().data_dir.join("metrics-token")).unwrap();
    assert_eq!(get(Some(token.trim().to_owned())).await.status, 200);
    // The metrics token opens nothing else.
    let stream = tokio::net::TcpStream::connect(server.running().admin_addr).await.unwrap();
    let headers = [format!("Authorization: Bearer {}", token.trim())];
    assert_eq!(exchange(stream, "GET", "/api/devices", &headers, b"").await.status, 401);
}
