//! `opendls bench storm`: the morning after a power cut, measured. A server runs as its own
//! process (so its memory and CPU are its own) on a temporary SQLite data directory; simulated
//! phones boot against it; the same run measures the machine's TLS ceiling against a trivial
//! rustls server with the same certificate, and a steady state with a large seeded inventory.

use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use opendls_api::ConfigEntry;
use opendls_engine::{DeviceRecord, ItemKey, ReportedItem};
use opendls_phonesim::fleet::{FleetConfig, FleetReport, Percentiles, run_fleet};
use opendls_phonesim::interaction::Target;
use opendls_phonesim::items::realistic_items;
use opendls_phonesim::{PhoneProfile, SimPhone};
use opendls_store::{AdminStore, SqliteStore};
use opendls_wpi::Catalog;
use opendls_wpi::catalog::{Access, Indexing, ValueRule};
use serde::Serialize;

use crate::client::Client;
use crate::{Connection, StormArgs};

pub(crate) mod backends;
mod ceiling;
mod delay;
mod downloads;
mod growth;
mod import;
mod pinning;
mod print;
mod process;
mod scenario;
pub use ceiling::tls_server;
pub use delay::delay;
pub use downloads::downloads;
pub use growth::growth;
pub use import::import;
use print::print_report;
use process::{ServerOptions, ServerProcess, cpu_seconds};
pub(crate) use scenario::Scenario;
use scenario::TargetCheck;

/// Requests of one first-contact interaction: start-up -> ReadAllItems, reply -> WriteItems,
/// reply -> CleanUp. Each is a new TLS connection, as phones send `Connection: close`.
const HANDSHAKES_PER_INTERACTION: f64 = 3.0;

/// Linux reports process CPU time in clock ticks of 1/100 s on every mainstream architecture.
const CLOCK_TICKS_PER_SECOND: f64 = 100.0;

/// What `opendls bench storm` reports.
#[derive(Debug, Serialize)]
pub struct StormReport {
    /// Phones in the storm.
    pub phones: u32,
    /// Seconds within which they booted.
    pub boot_within_secs: f64,
    /// The storm as the phones saw it.
    pub storm: FleetReport,
    /// TLS handshakes plus a minimal HTTP exchange per second against a trivial rustls server.
    pub tls_handshakes_per_sec: f64,
    /// The interaction rate the TLS ceiling allows: handshakes per second / 3.
    pub tls_ceiling_interactions_per_sec: f64,
    /// CPU the trivial TLS server spent per handshake and minimal exchange, ms: what TLS alone
    /// costs a server on this machine.
    pub tls_server_cpu_ms_per_handshake: f64,
    /// CPU the ceiling's clients spent per handshake, ms (they share the machine with the server).
    pub tls_client_cpu_ms_per_handshake: f64,
    /// Completed interactions per second of the storm, over the time the server was busy.
    pub interactions_per_sec: f64,
    /// `interactions_per_sec` / `tls_ceiling_interactions_per_sec`.
    pub ratio_to_tls_ceiling: f64,
    /// Peak resident memory of the server process, MiB.
    pub server_peak_rss_mib: f64,
    /// Server CPU seconds per completed interaction.
    pub server_cpu_ms_per_interaction: f64,
    /// CPU the simulated phones (this process) spent per completed interaction, ms: they share
    /// the two cores with the server, as the ceiling's clients do.
    pub phones_cpu_ms_per_interaction: f64,
    /// The ratio a server spending nothing but its three handshakes per interaction would reach
    /// when the machine is saturated, given what the simulated phones cost: an upper bound of
    /// `ratio_to_tls_ceiling` in this setup.
    pub ratio_bound_for_tls_only_server: f64,
    /// Database size after the storm (with its WAL), MiB.
    pub database_mib: f64,
    /// Connections the kernel dropped during the storm because a listen queue was full
    /// (`TcpExt ListenOverflows` of /proc/net/netstat, machine-wide; `None` where unreadable).
    pub listen_overflows: Option<u64>,
    /// `overload` answers per phone of the storm.
    pub overload_answers_per_phone: f64,
    /// Handshakes spent on requests answered `overload` (each a new connection), per completed
    /// interaction: work the server did that served nobody.
    pub wasted_handshakes_per_interaction: f64,
    /// Fraction of the storm's phones that resumed TLS sessions.
    pub resume_fraction: f64,
    /// Cores of the server and baseline, and of the phones, when pinned (`--pin`).
    pub pinned: Option<pinning::Split>,
    /// Of the phones' cores, the share the phones kept busy over the storm (pinned runs): near
    /// 1, the phones, not the server, were the limit.
    pub phones_cpu_share: Option<f64>,
    /// Of the server's cores, the share the server kept busy over the storm (pinned runs).
    pub server_cpu_share: Option<f64>,
    /// The server's handshakes on the phone port and its admission bound after the storm (from
    /// its `/metrics`; `None` when they could not be read).
    pub server_counts: Option<ServerCounts>,
    /// Steady state: interactions of known, unchanged phones against a large inventory.
    pub steady: Option<SteadyReport>,
    /// The targets of `--scenario`, and whether the run met each.
    pub targets: Vec<TargetCheck>,
}

/// The server's handshakes by kind and by the certificate it presented, and its admission.
#[derive(Debug, Serialize)]
pub struct ServerCounts {
    /// Full handshakes.
    pub full: u64,
    /// Resumed handshakes.
    pub resumed: u64,
    /// Handshakes with the ECDSA certificate (the rest with the RSA one; `OPENDLS_ECDSA=off`
    /// in the benchmark's environment turns it off in the server it starts).
    pub ecdsa: u64,
    /// Handshakes that did not complete (errors and timeouts).
    pub failed: u64,
    /// Adaptive admission's bound when the storm ended.
    pub admission_bound: u64,
}

/// The steady-state part of the run.
#[derive(Debug, Serialize)]
pub struct SteadyReport {
    /// Devices seeded in the inventory.
    pub seeded_devices: u32,
    /// Seconds the seeding took.
    pub seeding_secs: f64,
    /// Database size after seeding, MiB.
    pub database_mib: f64,
    /// Time to count the seeded fleet as a `/metrics` scrape does, ms.
    pub fleet_stats_ms: f64,
    /// Phones calling in with `configuration-changed-flag=false`.
    pub phones: u32,
    /// Completed.
    pub completed: u32,
    /// Failed.
    pub failed: u32,
    /// Completed interactions per second.
    pub interactions_per_sec: f64,
    /// Interaction latency.
    pub latency: Percentiles,
    /// Peak resident memory of the server process, MiB.
    pub server_peak_rss_mib: f64,
}

/// The storm's server as the arguments set it up.
fn server_options(args: &StormArgs) -> ServerOptions {
    ServerOptions {
        max_in_flight: args.max_in_flight,
        admission_target_ms: args.admission_target_ms,
        synchronous: Some(args.synchronous.clone()),
        listen_backlog: args.listen_backlog,
        ..ServerOptions::default()
    }
}

/// Prints a benchmark's report: as JSON (`--json`), or as text by `print`.
fn show<R: Serialize>(report: &R, json: bool, print: fn(&R)) -> Result<()> {
    match json {
        true => println!("{}", serde_json::to_string_pretty(report)?),
        false => print(report),
    }
    Ok(())
}

/// Runs the storm (and the steady state) and prints the report; exit code 1 when any phone
/// failed or a scenario's target was missed.
pub fn storm(mut args: StormArgs) -> Result<ExitCode> {
    if let Some(scenario) = args.scenario {
        args.phones = scenario.phones();
        args.boot_within = scenario.boot_within_secs();
        args.steady_devices = 0;
    }
    let runtime = tokio::runtime::Runtime::new()?;
    let mut report = runtime.block_on(run_storm(&args))?;
    report.targets = args.scenario.map(|scenario| scenario.check(&report)).unwrap_or_default();
    show(&report, args.json, print_report)?;
    let failed = report.storm.failed + report.steady.as_ref().map_or(0, |s| s.failed);
    let missed = report.targets.iter().any(|target| !target.met);
    Ok(if failed == 0 && !missed { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

async fn run_storm(args: &StormArgs) -> Result<StormReport> {
    let pinned = match args.pin.as_str() {
        "off" => None,
        wanted => match pinning::split(&pinning::allowed_cores()?) {
            Some(split) => Some(split),
            None if wanted == "on" => anyhow::bail!("--pin on needs at least two cores"),
            None => None,
        },
    };
    if let Some(split) = &pinned {
        eprintln!("pinned: server and TLS baseline on cores {}, phones on {}", split.server, split.phones);
        pinning::pin(std::process::id(), &split.phones)?;
    }
    let work = tempfile::tempdir().context("cannot create a temporary directory")?;
    let data_dir = work.path().join("storm");
    let server = ServerProcess::start(&data_dir, &server_options(args))?;
    if let Some(split) = &pinned {
        pinning::pin(server.pid(), &split.server)?;
    }
    seed_desired_items(&server, &data_dir).await?;

    eprintln!("measuring the TLS ceiling...");
    // As many handshakes as the storm needs, within what measures a rate well in a minute.
    let requests = ((f64::from(args.phones) * HANDSHAKES_PER_INTERACTION) as u32).clamp(300, 30_000);
    let server_cores = pinned.as_ref().map(|split| split.server.as_str());
    let (handshakes_per_sec, tls_cpu_ms, client_cpu_ms) =
        ceiling::tls_ceiling(&data_dir, requests, server_cores).await?;

    eprintln!("storm: {} phones booting within {} s...", args.phones, args.boot_within);
    let cpu_before = server.cpu_seconds()?;
    let phones_cpu_before = cpu_seconds(std::process::id())?;
    let fleet = FleetConfig {
        phones: args.phones,
        boot_within: Duration::from_secs_f64(args.boot_within),
        max_attempts: 1000,
        connection_retries: args.connection_retries,
        resume_fraction: args.resume_fraction,
        ..FleetConfig::default()
    };
    let overflows_before = listen_overflows();
    let storm = run_fleet(&fleet, &Target::default_mode(server.phone_addr)).await;
    let overflows =
        listen_overflows().zip(overflows_before).map(|(after, before)| after.saturating_sub(before));
    let cpu = server.cpu_seconds()? - cpu_before;
    let phones_cpu = cpu_seconds(std::process::id())? - phones_cpu_before;
    let peak_rss = server.peak_rss_mib()?;
    let database = database_mib(&data_dir);
    let counts = server_counts_of(&server, &data_dir).await;
    drop(server);

    // Over the storm's whole wall time, boot window included: when phones arrive slower than the
    // server serves them, this is the arrival rate.
    let completed = f64::from(storm.completed);
    let interactions_per_sec = completed / storm.elapsed_secs.max(1e-9);
    let ceiling = handshakes_per_sec / HANDSHAKES_PER_INTERACTION;
    let phones_cpu_ms = phones_cpu * 1000.0 / completed.max(1.0);
    // Saturated, rates go as the inverse of CPU per unit of work on the same cores.
    let ceiling_cpu_ms = HANDSHAKES_PER_INTERACTION * (tls_cpu_ms + client_cpu_ms);
    let tls_only_cpu_ms = HANDSHAKES_PER_INTERACTION * tls_cpu_ms + phones_cpu_ms;

    let steady = if args.steady_devices > 0 && args.steady_phones > 0 {
        Some(steady_state(work.path(), args, pinned.as_ref().map(|split| split.server.as_str())).await?)
    } else {
        None
    };
    Ok(StormReport {
        phones: args.phones,
        boot_within_secs: args.boot_within,
        tls_handshakes_per_sec: handshakes_per_sec,
        tls_ceiling_interactions_per_sec: ceiling,
        tls_server_cpu_ms_per_handshake: tls_cpu_ms,
        tls_client_cpu_ms_per_handshake: client_cpu_ms,
        interactions_per_sec,
        ratio_to_tls_ceiling: interactions_per_sec / ceiling,
        server_peak_rss_mib: peak_rss,
        server_cpu_ms_per_interaction: cpu * 1000.0 / completed.max(1.0),
        phones_cpu_ms_per_interaction: phones_cpu_ms,
        ratio_bound_for_tls_only_server: ceiling_cpu_ms / tls_only_cpu_ms.max(1e-9),
        database_mib: database,
        listen_overflows: overflows,
        resume_fraction: args.resume_fraction,
        overload_answers_per_phone: f64::from(storm.overload_answers) / f64::from(args.phones.max(1)),
        wasted_handshakes_per_interaction: f64::from(storm.overload_answers) / completed.max(1.0),
        phones_cpu_share: pinned
            .as_ref()
            .map(|split| phones_cpu / (storm.elapsed_secs.max(1e-9) * split.phone_cores as f64)),
        server_cpu_share: pinned
            .as_ref()
            .map(|split| cpu / (storm.elapsed_secs.max(1e-9) * split.server_cores as f64)),
        pinned,
        server_counts: counts,
        storm,
        steady,
        targets: Vec::new(),
    })
}

/// The server's counts after the storm (default phone port, admission), from its `/metrics`.
async fn server_counts_of(server: &ServerProcess, data_dir: &Path) -> Option<ServerCounts> {
    let token = std::fs::read_to_string(data_dir.join(opendls_server::metrics::METRICS_TOKEN_FILE)).ok()?;
    let text = reqwest::Client::new()
        .get(format!("http://{}/metrics", server.admin_addr))
        .bearer_auth(token.trim())
        .send()
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    let sum = |prefix: &str, label: &str| -> u64 {
        text.lines()
            .filter(|l| l.starts_with(prefix) && l.contains(label))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>() as u64
    };
    let handshakes = "opendls_tls_handshakes_total{port=\"default\"";
    Some(ServerCounts {
        full: sum(handshakes, "kind=\"full\""),
        resumed: sum(handshakes, "kind=\"resumed\""),
        ecdsa: sum(handshakes, "key=\"ecdsa\""),
        failed: sum("opendls_tls_handshake_failures_total{port=\"default\"", ""),
        admission_bound: sum("opendls_admission_bound ", ""),
    })
}

/// The kernel's count of connections dropped because a listen queue was full, machine-wide.
fn listen_overflows() -> Option<u64> {
    let netstat = std::fs::read_to_string("/proc/net/netstat").ok()?;
    let mut lines = netstat.lines().filter(|line| line.starts_with("TcpExt:"));
    let (names, values) = (lines.next()?, lines.next()?);
    let at = names.split_whitespace().position(|name| name == "ListenOverflows")?;
    values.split_whitespace().nth(at)?.parse().ok()
}

/// [`BENCH_ITEMS`] desired items every phone lacks, so each first contact writes them all.
async fn seed_desired_items(server: &ServerProcess, data_dir: &Path) -> Result<()> {
    let connection = Connection::to(format!("http://{}", server.admin_addr), data_dir.to_owned());
    let client = Client::new(&connection)?;
    let items = bench_items();
    anyhow::ensure!(
        items.len() == BENCH_ITEMS,
        "the catalog gives {} bench items, not {BENCH_ITEMS}",
        items.len()
    );
    for (name, value) in items {
        let entry = ConfigEntry { scope: "global".into(), target: None, name, index: None, value };
        let _: Option<opendls_api::ConfigChangeResult> =
            client.send(reqwest::Method::PUT, "/api/config", &entry).await?;
    }
    Ok(())
}

/// Desired items every storm phone lacks, so each first contact writes this many (BENCHMARKS.md
/// says so: keep the two in step).
pub(crate) const BENCH_ITEMS: usize = 20;

/// [`BENCH_ITEMS`] writable free-text items of the catalog, with a value no phone has by
/// default: the guide's own items first, then items known from working servers (their values
/// are checked as warnings only, so they are set all the same).
fn bench_items() -> Vec<(String, String)> {
    let text_items = Catalog::builtin().entries().iter().filter(|e| {
        e.rule == ValueRule::Text
            && e.access == Access::ReadWrite
            && e.indexing == Indexing::Single
            && e.max_chars().is_none_or(|m| m >= 8)
            && !opendls_wpi::secrets::is_secret_item(&e.name)
    });
    let (verified, others): (Vec<_>, Vec<_>) = text_items.partition(|e| e.provenance.is_verified());
    verified
        .into_iter()
        .chain(others)
        .take(BENCH_ITEMS)
        .map(|e| (e.name.clone(), "bench-v1".to_owned()))
        .collect()
}

/// 100,000 known devices in the inventory; phones whose configuration did not change call in.
async fn steady_state(work: &Path, args: &StormArgs, server_cores: Option<&str>) -> Result<SteadyReport> {
    let data_dir = work.join("steady");
    std::fs::create_dir_all(&data_dir)?;
    eprintln!("steady state: seeding {} devices...", args.steady_devices);
    let seeding = Instant::now();
    let store = SqliteStore::open(&data_dir.join(opendls_server::DATABASE_FILE)).await?;
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs() as i64;
    let desired = bench_items();
    let mut batch = Vec::with_capacity(1000);
    for n in 1..=args.steady_devices {
        batch.push(seeded_device(n, now, &desired));
        if batch.len() == 1000 || n == args.steady_devices {
            store.import_devices(&batch).await?;
            batch.clear();
        }
    }
    for (name, value) in &desired {
        let entry = opendls_engine::DesiredEntry {
            scope: opendls_engine::Scope::Global,
            key: ItemKey::new(name.clone(), None),
            value: value.clone(),
        };
        store.set_desired(std::slice::from_ref(&entry), now).await?;
    }
    let seeding_secs = seeding.elapsed().as_secs_f64();
    // What a `/metrics` scrape reads from a database of this size (its fleet counts).
    let counting = Instant::now();
    let counted = opendls_store::StatsStore::fleet_stats(&store, now).await?;
    let fleet_stats_ms = counting.elapsed().as_secs_f64() * 1000.0;
    anyhow::ensure!(counted.devices == u64::from(args.steady_devices), "fleet counts: {counted:?}");
    store.close().await;
    let database = database_mib(&data_dir);

    let server = ServerProcess::start(&data_dir, &server_options(args))?;
    if let Some(cores) = server_cores {
        pinning::pin(server.pid(), cores)?;
    }
    eprintln!("steady state: {} known phones calling in...", args.steady_phones);
    // Phones spread over the whole inventory, each with the state the inventory holds for it.
    let stride = (args.steady_devices / args.steady_phones).max(1);
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for k in 0..args.steady_phones {
        let number = 1 + k * stride;
        let target = Target::default_mode(server.phone_addr);
        let desired = desired.clone();
        tasks.spawn(async move {
            tokio::time::sleep(Duration::from_secs_f64(opendls_phonesim::fleet::random_fraction())).await;
            let mut phone = SimPhone::new(PhoneProfile::numbered(number));
            for (name, value) in &desired {
                phone.change_item(name, None, value);
            }
            let first = phone.contact(opendls_wpi::Reason::StartUp, &[]);
            let started = Instant::now();
            let done = opendls_phonesim::interaction::run_interaction(
                &mut phone,
                &target,
                first,
                &Default::default(),
            )
            .await;
            (done.map(|d| d.steps.len()), started.elapsed())
        });
    }
    let (mut completed, mut failed, mut latencies) = (0, 0, Vec::new());
    while let Some(result) = tasks.join_next().await {
        match result {
            Ok((Ok(1), took)) => {
                completed += 1;
                latencies.push(took);
            }
            Ok((Ok(_), _)) | Ok((Err(_), _)) | Err(_) => failed += 1,
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let peak_rss = server.peak_rss_mib()?;
    drop(server);
    Ok(SteadyReport {
        seeded_devices: args.steady_devices,
        seeding_secs,
        database_mib: database,
        fleet_stats_ms,
        phones: args.steady_phones,
        completed,
        failed,
        interactions_per_sec: f64::from(completed) / elapsed,
        latency: Percentiles::of(&latencies),
        server_peak_rss_mib: peak_rss,
    })
}

/// A device as the inventory holds it after a complete read: the simulator's items for that
/// phone, the desired values already in place.
fn seeded_device(number: u32, now: i64, desired: &[(String, String)]) -> DeviceRecord {
    let profile = PhoneProfile::numbered(number);
    let mut device = DeviceRecord::new(profile.mac.clone(), now);
    for item in realistic_items(&profile) {
        let key = ItemKey::new(item.name.clone(), item.index);
        device.reported.insert(key.clone(), ReportedItem { key, value: item.value, status: None });
    }
    for (name, value) in desired {
        let key = ItemKey::new(name.clone(), None);
        device.reported.insert(key.clone(), ReportedItem { key, value: value.clone(), status: None });
    }
    device.e164 = Some(profile.e164);
    device.device_type = Some(profile.model);
    device.software_version = Some(profile.firmware);
    device.contact_me_uri = Some(profile.contact_me_uri);
    device.last_reason = "start-up".into();
    device.inventory_read_at = Some(now);
    device
}

fn database_mib(data_dir: &Path) -> f64 {
    let size = |name: &str| std::fs::metadata(data_dir.join(name)).map(|m| m.len()).unwrap_or(0);
    let database = opendls_server::DATABASE_FILE;
    (size(database) + size(&format!("{database}-wal"))) as f64 / (1024.0 * 1024.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_storm_writes_the_number_of_items_benchmarks_md_names() {
        let items = bench_items();
        assert_eq!(items.len(), BENCH_ITEMS);
        let catalog = Catalog::builtin();
        for (name, value) in &items {
            let check = catalog.check_write(name, None, value);
            assert_eq!(check.refusal_reason(), None, "{name} refuses {value}");
        }
    }
}
