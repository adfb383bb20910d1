//! How many new interactions to process at once before telling phones `overload`.
//!
//! For each limit, a fresh server (SQLite in a temporary directory) takes a boot storm of
//! simulated phones (real TLS, `Connection: close`, start-up -> ReadAllItems -> WriteItems ->
//! CleanUp) and the run prints completed interactions per second, interaction latency and how
//! many `overload` answers were given. The last row, with no effective limit, is the baseline
//! each ratio is measured against in the same run. Run with
//! `cargo bench -p opendls-server --bench in_flight [-- PHONES]`.

use std::time::Duration;

use opendls_phonesim::fleet::{FleetConfig, run_fleet};
use opendls_phonesim::interaction::Target;
use opendls_server::Config;

const LIMITS: [usize; 8] = [2, 4, 8, 16, 32, 64, 128, 1_000_000];

fn main() {
    let phones: u32 = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(400);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    println!("boot storm: {phones} phones within 1 s, 20 desired items each");
    println!(
        "{:>10} {:>10} {:>9} {:>12} {:>9} {:>9} {:>10}",
        "limit", "completed", "overload", "interact/s", "p50 ms", "p99 ms", "vs base"
    );
    let mut rows = Vec::new();
    for limit in LIMITS {
        let report = runtime.block_on(storm(limit, phones));
        rows.push((limit, report));
    }
    let baseline = rows.last().map(|(_, r)| r.interactions_per_sec).unwrap_or(1.0);
    for (limit, report) in rows {
        let shown = if limit >= 1_000_000 { "none".to_owned() } else { limit.to_string() };
        println!(
            "{:>10} {:>10} {:>9} {:>12.1} {:>9.1} {:>9.1} {:>9.2}x",
            shown,
            report.completed,
            report.overload_answers,
            report.interactions_per_sec,
            report.interaction_latency.p50_ms,
            report.interaction_latency.p99_ms,
            report.interactions_per_sec / baseline
        );
    }
}

async fn storm(limit: usize, phones: u32) -> opendls_phonesim::fleet::FleetReport {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config { log: "warn".into(), ..Config::loopback(dir.path().to_owned()) };
    config.limits.max_interactions_in_flight = limit;
    config.limits.max_connections = 4096;
    config.limits.max_connections_per_address = 4096;
    let server = opendls_server::start(config).await.unwrap();
    let store =
        opendls_store::SqliteStore::open(&dir.path().join(opendls_server::DATABASE_FILE)).await.unwrap();
    for n in 0..20 {
        let entry = opendls_engine::DesiredEntry {
            scope: opendls_engine::Scope::Global,
            key: opendls_engine::ItemKey::new(format!("bench-item-{n}"), None),
            value: format!("value {n}"),
        };
        opendls_store::AdminStore::set_desired(&store, std::slice::from_ref(&entry), 0).await.unwrap();
    }
    store.close().await;
    let fleet = FleetConfig {
        phones,
        boot_within: Duration::from_secs(1),
        max_attempts: 1000,
        ..FleetConfig::default()
    };
    let report = run_fleet(&fleet, &Target::default_mode(server.phone_addr)).await;
    server.stop().await;
    assert_eq!(report.failed, 0, "{report:#?}");
    report
}
