//! `opendls bench growth`: how the database grows per device and month, and what a year of a
//! 50,000-phone fleet takes with the default retention (`[database] history_days = 365`,
//! `history_per_device = 1000`).
//!
//! A month is modelled, not waited for: every simulated phone starts up once a "day" (as a
//! phone rebooted every night does: more contacts than most fleets make) and reports a local
//! change once a "week"; a configuration value is pushed on the first day. The sizes are those
//! of compact copies of the database (`VACUUM INTO`), after the first day and after the last.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use opendls_phonesim::fleet::{FleetConfig, run_fleet};
use opendls_phonesim::interaction::Target;
use opendls_wpi::Reason;
use serde::Serialize;

use super::{ServerOptions, ServerProcess};
use crate::client::Client;
use crate::{Connection, GrowthArgs};

/// The fleet and the time the projection is made for.
const PROJECTED_PHONES: f64 = 50_000.0;
const PROJECTED_MONTHS: f64 = 12.0;
/// The default retention's cap on history entries per device.
const HISTORY_PER_DEVICE: f64 = 1000.0;

/// What `opendls bench growth` reports.
#[derive(Debug, Serialize)]
pub struct GrowthReport {
    /// Simulated phones.
    pub phones: u32,
    /// Simulated days.
    pub days: u32,
    /// Interactions the phones completed in all.
    pub interactions: u64,
    /// Bytes per device after the first day (the device, its inventory, its first history).
    pub bytes_per_device_first_day: f64,
    /// Bytes each device added per 30 days after the first.
    pub bytes_per_device_per_month: f64,
    /// History entries each device added per 30 days.
    pub history_entries_per_device_per_month: f64,
    /// Bytes per history entry (the month's growth over its entries).
    pub bytes_per_history_entry: f64,
    /// The database of 50,000 such phones after 12 months with the default retention, GiB.
    pub projected_gib_50k_phones_12_months: f64,
    /// The same without retention, GiB.
    pub projected_gib_without_retention: f64,
}

/// Runs the benchmark.
pub fn growth(args: GrowthArgs) -> Result<ExitCode> {
    let runtime = tokio::runtime::Runtime::new()?;
    let report = runtime.block_on(run(&args))?;
    super::show(&report, args.json, print_report)?;
    Ok(ExitCode::SUCCESS)
}

async fn run(args: &GrowthArgs) -> Result<GrowthReport> {
    let work = tempfile::tempdir().context("cannot create a temporary directory")?;
    let data_dir = work.path().join("growth");
    let server = ServerProcess::start(&data_dir, &ServerOptions::default())?;
    let connection = Connection::to(format!("http://{}", server.admin_addr), data_dir.clone());
    let client = Client::new(&connection)?;
    let value = serde_json::json!({"scope": "global", "name": "sntp-addr", "value": "ntp.example.com"});
    let _: Option<serde_json::Value> = client.send(reqwest::Method::PUT, "/api/config", &value).await?;
    let target = Target::default_mode(server.phone_addr);
    let mut interactions = 0u64;
    let mut first_day = None;
    for day in 1..=args.days {
        let reason = if day % 7 == 0 { Reason::LocalChanges } else { Reason::StartUp };
        let config = FleetConfig {
            phones: args.phones,
            boot_within: Duration::from_secs(2),
            reason: reason.clone(),
            ..FleetConfig::default()
        };
        let report = run_fleet(&config, &target).await;
        if report.completed != args.phones {
            bail!("day {day}: {} of {} phones completed: {:?}", report.completed, args.phones, report.errors);
        }
        interactions += u64::from(report.completed);
        if day == 1 {
            first_day = Some(measure(&data_dir, work.path(), "first")?);
        }
        eprintln!("day {day} of {}: {reason}", args.days);
    }
    let (first_bytes, first_history) = first_day.expect("day 1 ran");
    let (last_bytes, last_history) = measure(&data_dir, work.path(), "last")?;
    let phones = f64::from(args.phones);
    let per_month = 30.0 / f64::from(args.days - 1);
    let bytes_per_month = (last_bytes - first_bytes) / phones * per_month;
    let entries_per_month = (last_history - first_history) / phones * per_month;
    let per_entry = bytes_per_month / entries_per_month.max(1e-9);
    let base = first_bytes / phones;
    let gib = |bytes: f64| bytes / (1024.0 * 1024.0 * 1024.0);
    let entries_in_a_year = (entries_per_month * PROJECTED_MONTHS).min(HISTORY_PER_DEVICE);
    Ok(GrowthReport {
        phones: args.phones,
        days: args.days,
        interactions,
        bytes_per_device_first_day: base,
        bytes_per_device_per_month: bytes_per_month,
        history_entries_per_device_per_month: entries_per_month,
        bytes_per_history_entry: per_entry,
        projected_gib_50k_phones_12_months: gib(PROJECTED_PHONES * (base + entries_in_a_year * per_entry)),
        projected_gib_without_retention: gib(PROJECTED_PHONES * (base + PROJECTED_MONTHS * bytes_per_month)),
    })
}

/// The size of a compact copy of the database and its history entries.
fn measure(data_dir: &Path, work: &Path, name: &str) -> Result<(f64, f64)> {
    let copy = work.join(format!("{name}.db"));
    opendls_store::SqliteStore::snapshot(&data_dir.join(opendls_server::DATABASE_FILE), &copy)?;
    let bytes = std::fs::metadata(&copy)?.len() as f64;
    let connection = rusqlite::Connection::open(&copy)?;
    let history: i64 = connection.query_row("SELECT count(*) FROM history", [], |r| r.get(0))?;
    Ok((bytes, history as f64))
}

fn print_report(report: &GrowthReport) {
    println!(
        "{} phones, {} days ({} interactions): a start-up a day, a local change a week",
        report.phones, report.days, report.interactions
    );
    println!("  per device after the first day   {:>10.0} bytes", report.bytes_per_device_first_day);
    println!("  per device per month after it    {:>10.0} bytes", report.bytes_per_device_per_month);
    println!("  history entries per device/month {:>10.1}", report.history_entries_per_device_per_month);
    println!("  bytes per history entry          {:>10.0}", report.bytes_per_history_entry);
    println!(
        "  50,000 such phones after 12 months: {:.2} GiB with the default retention, {:.2} GiB without",
        report.projected_gib_50k_phones_12_months, report.projected_gib_without_retention
    );
}
