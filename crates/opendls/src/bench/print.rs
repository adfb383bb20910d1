//! The storm's report as text.

use super::StormReport;
use crate::output::counts_by_kind;

/// Prints the storm's report for a person.
pub(super) fn print_report(report: &StormReport) {
    let storm = &report.storm;
    println!("storm: {} phones booting within {} s", report.phones, report.boot_within_secs);
    println!(
        "  completed {} / failed {} ({} overload answers, {} phones completed after one)",
        storm.completed, storm.failed, storm.overload_answers, storm.overloaded_then_completed
    );
    println!(
        "  {:.2} overload answers per phone; {:.2} handshakes wasted on them per completed interaction",
        report.overload_answers_per_phone, report.wasted_handshakes_per_interaction
    );
    if !storm.retried_connections.is_empty() {
        println!(
            "  failed connections retried: {} ({} phones completed after one)",
            counts_by_kind(&storm.retried_connections),
            storm.retried_then_completed
        );
    }
    if !storm.errors.is_empty() {
        println!("  phones failed by: {}", counts_by_kind(&storm.errors));
    }
    println!(
        "  {:.1} interactions/s; TLS ceiling {:.1} handshakes/s = {:.1} interactions/s; ratio {:.2}",
        report.interactions_per_sec,
        report.tls_handshakes_per_sec,
        report.tls_ceiling_interactions_per_sec,
        report.ratio_to_tls_ceiling
    );
    println!(
        "  interaction latency p50 {:.1} ms, p99 {:.1} ms",
        storm.interaction_latency.p50_ms, storm.interaction_latency.p99_ms
    );
    if let (Some(split), Some(phones), Some(server)) =
        (&report.pinned, report.phones_cpu_share, report.server_cpu_share)
    {
        println!(
            "  pinned: server and TLS baseline on cores {} ({:.0}% busy), phones on {} ({:.0}% busy{})",
            split.server,
            server * 100.0,
            split.phones,
            phones * 100.0,
            if phones >= 0.9 { ": the phones, not the server, were the limit" } else { "" }
        );
    }
    if let Some(handshakes) = &report.server_counts {
        println!(
            "  server handshakes: {} full, {} resumed ({:.0}% of phones resuming); {} with the ECDSA certificate; {} failed",
            handshakes.full,
            handshakes.resumed,
            report.resume_fraction * 100.0,
            handshakes.ecdsa,
            handshakes.failed
        );
        println!("  admission bound at the end: {} interactions", handshakes.admission_bound);
    }
    if let Some(dropped) = report.listen_overflows {
        println!("  connections the kernel dropped (listen queue full, machine-wide): {dropped}");
    }
    println!(
        "  server: peak RSS {:.1} MiB, {:.2} ms CPU per interaction (TLS alone: {:.2} ms per handshake); database {:.1} MiB",
        report.server_peak_rss_mib,
        report.server_cpu_ms_per_interaction,
        report.tls_server_cpu_ms_per_handshake,
        report.database_mib
    );
    println!(
        "  phones (this process): {:.2} ms CPU per interaction (ceiling clients: {:.2} ms per handshake); \
         a server doing nothing but TLS would reach a ratio of at most {:.2} here",
        report.phones_cpu_ms_per_interaction,
        report.tls_client_cpu_ms_per_handshake,
        report.ratio_bound_for_tls_only_server
    );
    if let Some(steady) = &report.steady {
        println!(
            "steady state: {} devices seeded in {:.1} s ({:.1} MiB); counted for /metrics in {:.1} ms",
            steady.seeded_devices, steady.seeding_secs, steady.database_mib, steady.fleet_stats_ms
        );
        println!(
            "  {} phones, completed {} / failed {}, {:.1} interactions/s, p50 {:.1} ms, p99 {:.1} ms, peak RSS {:.1} MiB",
            steady.phones,
            steady.completed,
            steady.failed,
            steady.interactions_per_sec,
            steady.latency.p50_ms,
            steady.latency.p99_ms,
            steady.server_peak_rss_mib
        );
    }
    for target in &report.targets {
        let verdict = if target.met { "met" } else { "MISSED" };
        println!(
            "target: {} {} (measured {}): {verdict}",
            target.what,
            target.wanted,
            target.measured_text()
        );
    }
}
