//! `opendls bench import`: a site's device list imported from CSV through the same code as
//! `opendls device import` (file read, one request, one transaction), against a server process.
//! The baseline, measured in the same run, is a small import of 1,000 devices: the ratio of the
//! cost per device tells whether the import stays linear at the size asked for.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use opendls_api::ProvisionedView;
use serde::Serialize;

use super::{ServerOptions, ServerProcess};
use crate::client::Client;
use crate::provisioning::{read_csv, send_csv};
use crate::{Connection, ImportBenchArgs};

/// Devices in the baseline import.
const BASELINE_DEVICES: u32 = 1_000;

/// The target the issue sets: 100,000 devices in under a minute.
const TARGET_SECS: f64 = 60.0;

/// What `opendls bench import` reports.
#[derive(Debug, Serialize)]
pub struct ImportReport {
    /// Devices in the large import.
    pub devices: u32,
    /// Size of its CSV file, MiB.
    pub csv_mib: f64,
    /// The dry run (every row checked by the command and the service, nothing stored), seconds.
    pub dry_run_secs: f64,
    /// The import, from reading the file to the service's answer, seconds.
    pub import_secs: f64,
    /// Devices imported per second.
    pub devices_per_sec: f64,
    /// The baseline: 1,000 devices imported the same way, seconds.
    pub baseline_secs: f64,
    /// Cost per device, large import over baseline (1.0: linear).
    pub per_device_ratio_to_baseline: f64,
    /// The import's time at 100,000 devices, at the rate measured.
    pub projected_secs_per_100k: f64,
    /// Whether that is within the 60-second target.
    pub within_target: bool,
    /// Peak resident memory of the server process up to the end of the import, MiB.
    pub server_peak_rss_mib: f64,
    /// Server CPU seconds spent by the large import.
    pub server_cpu_secs: f64,
    /// Devices the service lists afterwards (checked against what was imported).
    pub devices_listed: usize,
}

/// Runs the benchmark.
pub fn import(args: ImportBenchArgs) -> Result<ExitCode> {
    let runtime = tokio::runtime::Runtime::new()?;
    let report = runtime.block_on(run(&args))?;
    super::show(&report, args.json, print_report)?;
    Ok(ExitCode::SUCCESS)
}

async fn run(args: &ImportBenchArgs) -> Result<ImportReport> {
    let work = tempfile::tempdir().context("cannot create a temporary directory")?;
    let data_dir = work.path().join("import");
    let server = ServerProcess::start(&data_dir, &ServerOptions::default())?;
    let connection = Connection::to(format!("http://{}", server.admin_addr), data_dir.clone());
    let client = Client::new(&connection)?;

    let baseline_file = work.path().join("baseline.csv");
    write_csv(&baseline_file, 0, BASELINE_DEVICES)?;
    let started = Instant::now();
    imported(&client, &baseline_file, false, BASELINE_DEVICES).await?;
    let baseline_secs = started.elapsed().as_secs_f64();

    let file = work.path().join("site.csv");
    write_csv(&file, BASELINE_DEVICES, args.devices)?;
    eprintln!("dry run of {} devices...", args.devices);
    let started = Instant::now();
    imported(&client, &file, true, args.devices).await?;
    let dry_run_secs = started.elapsed().as_secs_f64();
    eprintln!("import of {} devices...", args.devices);
    let cpu_before = server.cpu_seconds()?;
    let started = Instant::now();
    imported(&client, &file, false, args.devices).await?;
    let import_secs = started.elapsed().as_secs_f64();
    let server_cpu_secs = server.cpu_seconds()? - cpu_before;
    let server_peak_rss_mib = server.peak_rss_mib()?;
    let listed: Vec<ProvisionedView> = client.get("/api/provisioned").await?;
    let expected = (BASELINE_DEVICES + args.devices) as usize;
    if listed.len() != expected {
        bail!("the service lists {} prepared devices, {expected} were imported", listed.len());
    }
    let per_device = |secs: f64, n: u32| secs / f64::from(n.max(1));
    let projected = per_device(import_secs, args.devices) * 100_000.0;
    Ok(ImportReport {
        devices: args.devices,
        csv_mib: std::fs::metadata(&file)?.len() as f64 / (1024.0 * 1024.0),
        dry_run_secs,
        import_secs,
        devices_per_sec: f64::from(args.devices) / import_secs.max(1e-9),
        baseline_secs,
        per_device_ratio_to_baseline: per_device(import_secs, args.devices)
            / per_device(baseline_secs, BASELINE_DEVICES).max(1e-12),
        projected_secs_per_100k: projected,
        within_target: projected <= TARGET_SECS,
        server_peak_rss_mib,
        server_cpu_secs,
        devices_listed: listed.len(),
    })
}

/// Imports `file` as `opendls device import` does and checks every row was accepted.
async fn imported(client: &Client, file: &Path, dry_run: bool, devices: u32) -> Result<()> {
    let result = send_csv(client, read_csv(file)?, dry_run).await?;
    if result.accepted != devices as usize || result.applied == dry_run {
        bail!("{} of {devices} devices accepted (applied: {})", result.accepted, result.applied);
    }
    Ok(())
}

/// A site file: devices `first..first + count`, every third known by its number alone, in
/// three groups (some in two), with a name and a room each.
fn write_csv(path: &Path, first: u32, count: u32) -> Result<()> {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    writeln!(out, "mac,e164,group,var.name,var.room")?;
    for n in first..first + count {
        let mac = match n % 3 {
            0 => String::new(),
            _ => format!("00:1A:E9:{:02X}:{:02X}:{:02X}", (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff),
        };
        let group = ["berlin", "munich;lobby", "hamburg"][(n % 3) as usize];
        writeln!(out, "{mac},49{:010},{group},\"User {n}, Sales\",R{}", n, n % 400)?;
    }
    out.flush()?;
    Ok(())
}

fn print_report(r: &ImportReport) {
    println!(
        "import of {} devices from CSV ({:.1} MiB), opendls device import's code path",
        r.devices, r.csv_mib
    );
    println!("  dry run              {:>8.2} s", r.dry_run_secs);
    println!("  import               {:>8.2} s  ({:.0} devices/s)", r.import_secs, r.devices_per_sec);
    println!("  baseline (1,000)     {:>8.3} s", r.baseline_secs);
    println!("  cost per device      {:>8.2} x the baseline's", r.per_device_ratio_to_baseline);
    let verdict = if r.within_target { "within" } else { "NOT within" };
    println!("  at 100,000 devices   {:>8.2} s  ({verdict} the 60 s target)", r.projected_secs_per_100k);
    println!("  server peak RSS      {:>8.1} MiB, {:.2} CPU s", r.server_peak_rss_mib, r.server_cpu_secs);
    println!("  devices listed after {:>8}", r.devices_listed);
}
