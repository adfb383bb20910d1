//! `opendls phonesim`: boot a fleet of simulated phones against any WPI service and report.

use std::net::{SocketAddr, ToSocketAddrs};
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use opendls_phonesim::fleet::{FleetConfig, FleetReport, run_fleet};
use opendls_phonesim::interaction::Target;
use opendls_wpi::models::{PhoneModel, models_matching};

use crate::PhonesimArgs;

/// The models `--model` patterns name, in catalog order; an unmatched pattern is an error that
/// lists the known models.
fn simulated_models(patterns: &[String]) -> Result<Vec<&'static PhoneModel>> {
    let mut chosen: Vec<&'static PhoneModel> = Vec::new();
    for pattern in patterns {
        let (_, matching) = models_matching(pattern).map_err(|why| anyhow!("--model {why}"))?;
        for model in matching {
            if !chosen.contains(&model) {
                chosen.push(model);
            }
        }
    }
    Ok(chosen)
}

/// Runs the fleet and prints the report; exit code 1 when any phone failed.
pub fn run(args: PhonesimArgs) -> Result<ExitCode> {
    let addrs = args.server.iter().map(|server| server_address(server)).collect::<Result<Vec<_>>>()?;
    let (&addr, also) = addrs.split_first().context("--server names the service")?;
    let fractions = [
        ("--busy-fraction", args.busy_fraction),
        ("--keep-alive-fraction", args.keep_alive_fraction),
        ("--slow-fraction", args.slow_fraction),
        ("--vanish-fraction", args.vanish_fraction),
        ("--legacy-tls-fraction", args.legacy_tls_fraction),
        ("--resume-fraction", args.resume_fraction),
    ];
    for (flag, value) in fractions {
        if !(0.0..=1.0).contains(&value) {
            bail!("{flag} must be between 0 and 1");
        }
    }
    let models = simulated_models(&args.models)?;
    let reason = opendls_wpi::Reason::from_wire(&args.reason);
    let callers = ["start-up", "solicited", "local-changes", "inventory-changes"];
    if !callers.contains(&reason.as_wire()) {
        bail!("--reason {:?}: one of {}", args.reason, callers.join(", "));
    }
    let config = FleetConfig {
        models,
        phones: args.phones,
        first_number: args.first,
        boot_within: Duration::from_secs_f64(args.boot_within),
        busy_fraction: args.busy_fraction,
        call_duration: Duration::from_secs_f64(args.call_duration),
        fragment_items: args.fragment_items,
        keep_alive_fraction: args.keep_alive_fraction,
        slow_fraction: args.slow_fraction,
        slow_delay: Duration::from_millis(args.slow_delay_ms),
        vanish_fraction: args.vanish_fraction,
        legacy_tls_fraction: args.legacy_tls_fraction,
        resume_fraction: args.resume_fraction,
        connection_retries: args.connection_retries,
        reason,
        ..FleetConfig::default()
    };
    let runtime = tokio::runtime::Runtime::new()?;
    let report = runtime.block_on(async {
        let progress = config.progress.clone();
        let phones = config.phones;
        let quiet = args.json;
        let ticker = tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                if !quiet {
                    eprintln!(
                        "{}/{phones} phones done, {} failed, {} overload answers",
                        progress.finished.load(Ordering::Relaxed),
                        progress.failed.load(Ordering::Relaxed),
                        progress.overloads.load(Ordering::Relaxed)
                    );
                }
            }
        });
        let target = Target { also: also.to_vec(), ..Target::default_mode(addr) };
        let report = run_fleet(&config, &target).await;
        ticker.abort();
        report
    });
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_report(&report);
    }
    Ok(if report.failed == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// Accepts `https://host:port/...`, `host:port` or `host` (port 18443, guide p. 12).
fn server_address(server: &str) -> Result<SocketAddr> {
    let rest = server.strip_prefix("https://").unwrap_or(server);
    let authority = rest.split('/').next().unwrap_or(rest);
    let with_port = if authority.rsplit_once(':').is_some_and(|(_, p)| p.parse::<u16>().is_ok())
        && !authority.ends_with(']')
    {
        authority.to_owned()
    } else {
        format!("{authority}:18443")
    };
    with_port
        .to_socket_addrs()
        .with_context(|| format!("cannot resolve {with_port}"))?
        .next()
        .with_context(|| format!("no address for {with_port}"))
}

fn print_report(report: &FleetReport) {
    println!("phones            {}", report.phones);
    println!("completed         {}", report.completed);
    println!("failed            {}", report.failed);
    println!(
        "overload answers  {} ({} phones completed after one)",
        report.overload_answers, report.overloaded_then_completed
    );
    if !report.retried_connections.is_empty() {
        println!(
            "connections retried {} ({} phones completed after one)",
            crate::output::counts_by_kind(&report.retried_connections),
            report.retried_then_completed
        );
    }
    println!("busy, completed on call-back  {}", report.busy_then_completed);
    println!("vanished, completed on return {}", report.vanished_then_completed);
    println!("requests          {}", report.requests);
    println!("items written     {}", report.items_written);
    println!(
        "elapsed           {:.2} s ({:.1} interactions/s)",
        report.elapsed_secs, report.interactions_per_sec
    );
    let line = |name: &str, p: &opendls_phonesim::fleet::Percentiles| {
        println!(
            "{name:<20} {:>6} {:>9.1} {:>9.1} {:>9.1} {:>9.1}",
            p.count, p.p50_ms, p.p90_ms, p.p99_ms, p.max_ms
        )
    };
    println!();
    println!("{:<20} {:>6} {:>9} {:>9} {:>9} {:>9}", "latency (ms)", "n", "p50", "p90", "p99", "max");
    line("interaction", &report.interaction_latency);
    for (action, figures) in &report.step_latency {
        line(&format!("-> {action}"), figures);
    }
    if !report.errors.is_empty() {
        println!();
        for (kind, count) in &report.errors {
            println!("error {kind}: {count}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_addresses() {
        assert_eq!(server_address("https://127.0.0.1:9443/DeploymentService").unwrap().port(), 9443);
        assert_eq!(server_address("127.0.0.1").unwrap().port(), 18443);
        assert_eq!(server_address("[::1]:1234").unwrap().port(), 1234);
    }
}
