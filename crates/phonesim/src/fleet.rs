//! Running interactions against a server: one phone, or a fleet booting within a time window
//! (the morning after a power cut), with a report of what happened.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use opendls_wpi::models::PhoneModel;
use opendls_wpi::{Item, Reason};
use serde::Serialize;

use crate::interaction::{Interaction, InteractionError, Manner, Target, run_interaction};
use crate::phone::{PhoneProfile, SimPhone};

/// A fleet and how it behaves.
#[derive(Debug, Clone)]
pub struct FleetConfig {
    /// How many phones.
    pub phones: u32,
    /// Number of the first phone (MACs are derived from it).
    pub first_number: u32,
    /// Every phone boots at a random moment within this window.
    pub boot_within: Duration,
    /// Fraction of phones in a call at boot (their writes are refused `busy`, p. 76).
    pub busy_fraction: f64,
    /// How long those calls last before the phone calls back (`solicited`).
    pub call_duration: Duration,
    /// Attempts per phone when told `overload`.
    pub max_attempts: u32,
    /// Shortest and longest random wait before retrying after `overload` (the Unify DLS
    /// simulator backs off for a random time; real phones' timing is not documented).
    pub overload_backoff: (Duration, Duration),
    /// Times a phone whose connection failed (refused, reset, TLS failure, no answer in time)
    /// starts its contact again, after the same random wait as after `overload`. Phones have a
    /// "normal connection-retry process" (guide p. 72) whose timing is not documented; 0 makes
    /// the first failure final, which tests of failure handling want.
    pub connection_retries: u32,
    /// Items per fragment of the phones' long replies (`None`: only at 50 kB).
    pub fragment_items: Option<usize>,
    /// Fraction of phones that keep one connection per interaction instead of
    /// `Connection: close` (older firmware, docs/wpi-protocol.md §2.3).
    pub keep_alive_fraction: f64,
    /// Fraction of phones on a slow network, and the delay they add before each request.
    pub slow_fraction: f64,
    /// The delay of a slow phone's network.
    pub slow_delay: Duration,
    /// Fraction of phones that vanish after their first request, coming back a second later.
    pub vanish_fraction: f64,
    /// Fraction of phones that offer only legacy TLS (TLS 1.0/1.1, RSA, CBC).
    pub legacy_tls_fraction: f64,
    /// Fraction of (modern TLS) phones that resume their TLS session on their next connection,
    /// each from a session cache of its own (whether real firmware resumes is not known).
    pub resume_fraction: f64,
    /// Why each phone calls: `start-up` (a boot), or `solicited` (calling back after
    /// contact-me) and the like, for phones already known.
    pub reason: Reason,
    /// The models the phones cycle over; empty: the common OpenStage models
    /// ([`PhoneProfile::numbered`]).
    pub models: Vec<&'static PhoneModel>,
    /// Counters updated while the fleet runs, for live progress.
    pub progress: Arc<Progress>,
}

/// Live counters of a running fleet.
#[derive(Debug, Default)]
pub struct Progress {
    /// Phones done (completed or failed).
    pub finished: std::sync::atomic::AtomicU32,
    /// Phones failed.
    pub failed: std::sync::atomic::AtomicU32,
    /// `overload` answers so far.
    pub overloads: std::sync::atomic::AtomicU32,
}

impl Default for FleetConfig {
    fn default() -> Self {
        FleetConfig {
            phones: 10,
            first_number: 1,
            boot_within: Duration::from_secs(5),
            busy_fraction: 0.0,
            call_duration: Duration::from_secs(2),
            max_attempts: 20,
            overload_backoff: (Duration::from_secs(1), Duration::from_secs(5)),
            connection_retries: 0,
            fragment_items: None,
            keep_alive_fraction: 0.0,
            slow_fraction: 0.0,
            slow_delay: Duration::from_millis(300),
            vanish_fraction: 0.0,
            legacy_tls_fraction: 0.0,
            resume_fraction: 0.0,
            reason: Reason::StartUp,
            models: Vec::new(),
            progress: Arc::default(),
        }
    }
}

/// Latency figures in milliseconds.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Percentiles {
    /// Samples.
    pub count: usize,
    /// Median.
    pub p50_ms: f64,
    /// 90th percentile.
    pub p90_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Slowest.
    pub max_ms: f64,
}

impl Percentiles {
    /// Computes figures from durations.
    pub fn of(samples: &[Duration]) -> Percentiles {
        let mut ms: Vec<f64> = samples.iter().map(|d| d.as_secs_f64() * 1000.0).collect();
        ms.sort_by(f64::total_cmp);
        let at = |q: f64| ms.get(((ms.len() as f64 - 1.0) * q).round() as usize).copied().unwrap_or(0.0);
        Percentiles { count: ms.len(), p50_ms: at(0.5), p90_ms: at(0.9), p99_ms: at(0.99), max_ms: at(1.0) }
    }
}

/// What a fleet run did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct FleetReport {
    /// Phones simulated.
    pub phones: u32,
    /// Phones whose interactions all ended with a plain `CleanUp`.
    pub completed: u32,
    /// Phones that ended in an error or gave up.
    pub failed: u32,
    /// `overload` answers received in all.
    pub overload_answers: u32,
    /// Phones told `overload` at least once that completed later.
    pub overloaded_then_completed: u32,
    /// Failed connections the phones retried ([`FleetConfig::connection_retries`]), by kind;
    /// those not retried are in `errors`.
    pub retried_connections: BTreeMap<String, u32>,
    /// Phones whose connection failed at least once that completed later.
    pub retried_then_completed: u32,
    /// Phones that were busy and completed on their solicited call-back.
    pub busy_then_completed: u32,
    /// Phones that vanished mid-interaction and completed when they came back.
    pub vanished_then_completed: u32,
    /// HTTP requests sent.
    pub requests: u64,
    /// Items written to phones.
    pub items_written: u64,
    /// Errors by kind.
    pub errors: BTreeMap<String, u32>,
    /// Latency per answer action.
    pub step_latency: BTreeMap<String, Percentiles>,
    /// Latency of whole interactions (first request to `CleanUp`).
    pub interaction_latency: Percentiles,
    /// Wall time of the run.
    pub elapsed_secs: f64,
    /// Completed interactions per second of wall time.
    pub interactions_per_sec: f64,
}

struct PhoneResult {
    completed: bool,
    overloads: u32,
    retried: Vec<&'static str>,
    busy_completed: bool,
    vanished: bool,
    interactions: Vec<Interaction>,
    error: Option<&'static str>,
}

/// Boots a fleet against `target` and reports.
pub async fn run_fleet(config: &FleetConfig, target: &Target) -> FleetReport {
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..config.phones {
        let config = config.clone();
        let target = target.clone();
        tasks.spawn(async move {
            let offset = config.boot_within.mul_f64(random_fraction());
            tokio::time::sleep(offset).await;
            let number = config.first_number + n;
            let mut profile = match config.models.get(n as usize % config.models.len().max(1)) {
                Some(model) => PhoneProfile::of_model(number, model),
                None => PhoneProfile::numbered(number),
            };
            profile.fragment_items = config.fragment_items;
            let mut phone = SimPhone::new(profile);
            phone.in_call = random_fraction() < config.busy_fraction;
            let result = boot(&mut phone, &config, &target).await;
            let progress = &config.progress;
            progress.finished.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            progress.failed.fetch_add(u32::from(!result.completed), std::sync::atomic::Ordering::Relaxed);
            progress.overloads.fetch_add(result.overloads, std::sync::atomic::Ordering::Relaxed);
            result
        });
    }
    let mut report = FleetReport { phones: config.phones, ..FleetReport::default() };
    let mut steps: BTreeMap<String, Vec<Duration>> = BTreeMap::new();
    let mut whole = Vec::new();
    while let Some(result) = tasks.join_next().await {
        let Ok(result) = result else {
            report.failed += 1;
            *report.errors.entry("panic".into()).or_default() += 1;
            continue;
        };
        report.overload_answers += result.overloads;
        for kind in &result.retried {
            *report.retried_connections.entry((*kind).into()).or_default() += 1;
        }
        for interaction in &result.interactions {
            report.requests += interaction.steps.len() as u64;
            report.items_written += interaction.written as u64;
            for (action, took) in &interaction.steps {
                steps.entry(action.clone()).or_default().push(*took);
            }
            if interaction.cleanup_reason.as_deref() != Some("overload") && !interaction.vanished {
                whole.push(interaction.steps.iter().map(|(_, d)| *d).sum());
            }
        }
        if result.completed {
            report.completed += 1;
            report.overloaded_then_completed += u32::from(result.overloads > 0);
            report.retried_then_completed += u32::from(!result.retried.is_empty());
            report.busy_then_completed += u32::from(result.busy_completed);
            report.vanished_then_completed += u32::from(result.vanished);
        } else {
            report.failed += 1;
            *report.errors.entry(result.error.unwrap_or("gave up").into()).or_default() += 1;
        }
    }
    report.step_latency = steps.into_iter().map(|(k, v)| (k, Percentiles::of(&v))).collect();
    report.interaction_latency = Percentiles::of(&whole);
    report.elapsed_secs = started.elapsed().as_secs_f64();
    report.interactions_per_sec = whole.len() as f64 / report.elapsed_secs.max(1e-9);
    report
}

/// One phone's boot: start-up (retried on overload with random back-off, as the Unify DLS
/// simulator does), then, if it was busy, a solicited call-back when the call ends.
async fn boot(phone: &mut SimPhone, config: &FleetConfig, target: &Target) -> PhoneResult {
    let mut result = PhoneResult {
        completed: false,
        overloads: 0,
        retried: Vec::new(),
        busy_completed: false,
        vanished: false,
        interactions: Vec::new(),
        error: None,
    };
    let picked = |fraction: f64| random_fraction() < fraction;
    let mut manner = Manner {
        keep_alive: picked(config.keep_alive_fraction),
        network_delay: if picked(config.slow_fraction) { config.slow_delay } else { Duration::ZERO },
        vanish_after: picked(config.vanish_fraction).then_some(1),
        fail_downloads: false,
    };
    let mut target = target.clone();
    if picked(config.legacy_tls_fraction) {
        target.tls = crate::transport::PhoneTls::legacy();
    } else if picked(config.resume_fraction) && matches!(target.tls, crate::transport::PhoneTls::Modern(_)) {
        target.tls = crate::transport::PhoneTls::Modern(crate::transport::resuming_client());
    }
    let mut reason = config.reason.clone();
    let backoff = || {
        let (shortest, longest) = config.overload_backoff;
        shortest + longest.saturating_sub(shortest).mul_f64(random_fraction())
    };
    // Attempts are interactions answered; a failed connection retried is not one.
    let mut attempts = 0;
    while attempts < config.max_attempts {
        let first = phone.contact(reason.clone(), &[] as &[Item]);
        let outcome = run_interaction(phone, &target, first, &manner).await;
        if !matches!(outcome, Err(InteractionError::Transport(_))) {
            attempts += 1;
        }
        match outcome {
            Err(error @ InteractionError::Transport(_))
                if result.retried.len() < config.connection_retries as usize =>
            {
                result.retried.push(error.kind());
                tokio::time::sleep(backoff()).await;
            }
            Err(error) => {
                result.error = Some(error.kind());
                return result;
            }
            Ok(interaction) if interaction.vanished => {
                // The phone comes back a second later and starts afresh.
                result.vanished = true;
                result.interactions.push(interaction);
                manner.vanish_after = None;
                tokio::time::sleep(Duration::from_secs(1)).await;
                reason = Reason::StartUp;
            }
            Ok(interaction) => {
                let overloaded = interaction.cleanup_reason.as_deref() == Some("overload");
                let solicited = interaction.send_solicited;
                let other_reason = interaction.cleanup_reason.clone().filter(|r| r != "overload");
                result.interactions.push(interaction);
                if overloaded {
                    result.overloads += 1;
                    tokio::time::sleep(backoff()).await;
                    continue;
                }
                if other_reason.is_some() {
                    result.error = Some("cleanup-reason");
                    return result;
                }
                if solicited && phone.in_call {
                    tokio::time::sleep(config.call_duration).await;
                    phone.in_call = false;
                    reason = Reason::Solicited;
                    result.busy_completed = true;
                    continue;
                }
                result.completed = true;
                return result;
            }
        }
    }
    result.error = Some("overload: gave up");
    result
}

/// A uniformly random number in [0, 1).
pub fn random_fraction() -> f64 {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).expect("the operating system's random source is available");
    (u64::from_le_bytes(bytes) >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles() {
        let samples: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        let p = Percentiles::of(&samples);
        assert_eq!((p.count, p.p50_ms.round(), p.p99_ms.round(), p.max_ms.round()), (100, 51.0, 99.0, 100.0));
        assert_eq!(Percentiles::of(&[]), Percentiles::default());
    }

    #[test]
    fn random_fractions_stay_in_range() {
        assert!((0..1000).map(|_| random_fraction()).all(|f| (0.0..1.0).contains(&f)));
    }
}
