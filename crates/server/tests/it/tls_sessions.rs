//! TLS session resumption on the phone ports: a phone that resumes pays one full handshake per
//! interaction instead of three (rustls and the legacy OpenSSL path), and
//! `limits.tls_session_cache = 0` turns it off.

use std::time::Duration;

use opendls_phonesim::fleet::{FleetConfig, run_fleet};
use opendls_phonesim::interaction::Target;

use crate::support::*;

fn handshakes(metrics: &Scrape, kind: &str) -> f64 {
    metrics
        .0
        .lines()
        .filter(|l| l.starts_with("opendls_tls_handshakes_total{port=\"default\"") && l.contains(kind))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

async fn resuming_fleet(server: &TestServer) -> (f64, f64) {
    let config = FleetConfig {
        phones: 10,
        boot_within: Duration::from_millis(200),
        resume_fraction: 1.0,
        ..FleetConfig::default()
    };
    let report = run_fleet(&config, &Target::default_mode(server.phone_addr())).await;
    assert_eq!(report.completed, 10, "{report:#?}");
    let metrics = server.scrape().await;
    (handshakes(&metrics, "kind=\"full\""), handshakes(&metrics, "kind=\"resumed\""))
}

#[tokio::test]
async fn phones_that_resume_make_one_full_handshake_per_interaction() {
    let server = TestServer::start().await;
    let (full, resumed) = resuming_fleet(&server).await;
    // Each interaction: start-up, reply to ReadAllItems, reply to WriteItems or CleanUp.
    assert_eq!(full, 10.0, "one full handshake per phone");
    assert!(resumed >= 10.0, "the later connections resumed: {resumed}");
}

#[tokio::test]
async fn no_session_cache_no_resumption() {
    let server = TestServer::start_with(|config| config.limits.tls_session_cache = 0).await;
    let (full, resumed) = resuming_fleet(&server).await;
    assert_eq!(resumed, 0.0);
    assert!(full >= 20.0, "{full}");
}

/// A legacy TLS client (TLS 1.1, RSA key exchange, CBC) offering its session again is resumed
/// by OpenSSL: `openssl s_client -reconnect` connects six times with one session.
#[tokio::test]
#[cfg_attr(not(feature = "legacy-tls"), ignore = "needs the legacy-tls feature")]
async fn a_legacy_client_resumes_its_session() {
    let server = TestServer::start().await;
    let address = server.phone_addr().to_string();
    let output = tokio::process::Command::new("openssl")
        .args([
            "s_client",
            "-connect",
            &address,
            "-tls1_1",
            "-cipher",
            "AES128-SHA:@SECLEVEL=0",
            "-reconnect",
        ])
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .expect("the openssl command (Debian package openssl)");
    let said = String::from_utf8_lossy(&output.stdout);
    let reused = said.lines().filter(|l| l.starts_with("Reused, ")).count();
    assert_eq!(reused, 5, "{said}");
    let metrics = server.scrape().await;
    let resumed = "opendls_tls_handshakes_total{port=\"default\",stack=\"legacy\",version=\"TLSv1.1\",kind=\"resumed\",key=\"rsa\"}";
    assert_eq!(metrics.value(resumed), 5.0, "{}", metrics.0);
}
