//! `opendls bench backends`: the same boot storm on one node on SQLite, one node on PostgreSQL
//! and two nodes on PostgreSQL (each phone's requests alternating between them), in one run,
//! with SQLite as the baseline.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use opendls_phonesim::fleet::{FleetConfig, run_fleet};
use opendls_phonesim::interaction::Target;
use serde::Serialize;

use super::CLOCK_TICKS_PER_SECOND;
use super::process::{ServerOptions, ServerProcess, cpu_seconds};
use crate::BackendsArgs;

/// One configuration's storm.
#[derive(Debug, Serialize)]
struct BackendRun {
    /// `sqlite`, `postgres`, `postgres ×2`.
    setup: String,
    completed: u32,
    failed: u32,
    overload_answers: u32,
    interactions_per_sec: f64,
    /// Interactions per second against SQLite's in the same round.
    ratio_to_sqlite: f64,
    p99_ms: f64,
    /// CPU of the opendls node(s) per interaction.
    nodes_cpu_ms_per_interaction: f64,
    /// The machine's CPU per interaction not spent by the nodes or the simulated phones: on
    /// PostgreSQL, mostly the database server.
    other_cpu_ms_per_interaction: f64,
}

/// Runs each setup `rounds` times, interleaved, and prints the runs.
pub fn run(args: BackendsArgs) -> Result<ExitCode> {
    if !args.database.starts_with("postgres://") && !args.database.starts_with("postgresql://") {
        bail!(
            "--database: expected postgres://user:password@host/db (a database the benchmark may make schemas in)"
        );
    }
    let runtime = tokio::runtime::Runtime::new()?;
    let mut runs = Vec::new();
    for round in 1..=args.rounds {
        let mut sqlite_rate = None;
        for nodes in [0, 1, 2] {
            let setup = match nodes {
                0 => "sqlite".to_owned(),
                1 => "postgres".to_owned(),
                n => format!("postgres x{n}"),
            };
            eprintln!("round {round}: {} phones on {setup}...", args.phones);
            let mut run = runtime.block_on(storm(&args, nodes, setup))?;
            let baseline = *sqlite_rate.get_or_insert(run.interactions_per_sec);
            run.ratio_to_sqlite = run.interactions_per_sec / baseline.max(1e-9);
            runs.push(run);
        }
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&runs)?);
    } else {
        println!(
            "{:<12} {:>9} {:>6} {:>8} {:>10} {:>9} {:>8} {:>14} {:>14}",
            "SETUP",
            "COMPLETED",
            "FAILED",
            "OVERLOAD",
            "INTER/S",
            "×SQLITE",
            "P99 MS",
            "NODES CPU MS",
            "OTHER CPU MS"
        );
        for run in &runs {
            println!(
                "{:<12} {:>9} {:>6} {:>8} {:>10.1} {:>9.2} {:>8.1} {:>14.2} {:>14.2}",
                run.setup,
                run.completed,
                run.failed,
                run.overload_answers,
                run.interactions_per_sec,
                run.ratio_to_sqlite,
                run.p99_ms,
                run.nodes_cpu_ms_per_interaction,
                run.other_cpu_ms_per_interaction
            );
        }
    }
    let failed: u32 = runs.iter().map(|run| run.failed).sum();
    Ok(if failed == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// One storm on SQLite (`nodes` 0) or on `nodes` nodes sharing a fresh PostgreSQL schema.
async fn storm(args: &BackendsArgs, nodes: usize, setup: String) -> Result<BackendRun> {
    let work = tempfile::tempdir().context("cannot create a temporary directory")?;
    let (url, _schema) = match nodes {
        0 => (None, None),
        _ => {
            let (url, schema) = opendls_store::postgres::testing::scratch_schema(&args.database).await;
            (Some(url), Some(schema))
        }
    };
    let mut servers = Vec::new();
    for n in 0..nodes.max(1) {
        let data_dir = work.path().join(format!("node{n}"));
        servers.push((
            ServerProcess::start(
                &data_dir,
                &ServerOptions { database: url.clone(), ..ServerOptions::default() },
            )?,
            data_dir,
        ));
    }
    super::seed_desired_items(&servers[0].0, &servers[0].1).await?;
    let fleet = FleetConfig {
        phones: args.phones,
        boot_within: Duration::from_secs_f64(args.boot_within),
        max_attempts: 1000,
        ..FleetConfig::default()
    };
    let target = Target {
        also: servers[1..].iter().map(|(server, _)| server.phone_addr).collect(),
        ..Target::default_mode(servers[0].0.phone_addr)
    };
    let nodes_cpu = |servers: &[(ServerProcess, std::path::PathBuf)]| -> Result<f64> {
        servers.iter().map(|(server, _)| server.cpu_seconds()).sum()
    };
    let (nodes_before, phones_before, machine_before) =
        (nodes_cpu(&servers)?, cpu_seconds(std::process::id())?, machine_busy_seconds()?);
    let report = run_fleet(&fleet, &target).await;
    let nodes_spent = nodes_cpu(&servers)? - nodes_before;
    let phones_spent = cpu_seconds(std::process::id())? - phones_before;
    let machine_spent = machine_busy_seconds()? - machine_before;
    let completed = f64::from(report.completed).max(1.0);
    Ok(BackendRun {
        setup,
        completed: report.completed,
        failed: report.failed,
        overload_answers: report.overload_answers,
        interactions_per_sec: f64::from(report.completed) / report.elapsed_secs.max(1e-9),
        ratio_to_sqlite: 1.0,
        p99_ms: report.interaction_latency.p99_ms,
        nodes_cpu_ms_per_interaction: nodes_spent * 1000.0 / completed,
        other_cpu_ms_per_interaction: (machine_spent - nodes_spent - phones_spent).max(0.0) * 1000.0
            / completed,
    })
}

/// CPU seconds the whole machine spent busy so far (`/proc/stat`: user to steal, all but idle and
/// iowait; guest time is already in user).
fn machine_busy_seconds() -> Result<f64> {
    let stat = std::fs::read_to_string("/proc/stat")?;
    let line = stat.lines().next().context("/proc/stat is empty")?;
    let ticks: Vec<f64> = line.split_whitespace().skip(1).take(8).filter_map(|n| n.parse().ok()).collect();
    let (total, idle) =
        (ticks.iter().sum::<f64>(), ticks.get(3).unwrap_or(&0.0) + ticks.get(4).unwrap_or(&0.0));
    Ok((total - idle) / CLOCK_TICKS_PER_SECOND)
}
