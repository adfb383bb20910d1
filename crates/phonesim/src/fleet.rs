//! Running interactions against a server: one phone, or a fleet booting within a time window
//! (the morning after a power cut), with a report of what happened.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use opendls_wpi::{DlsMessage, Item, Reason, WorkpointMessage, parse_dls_message};
use serde::Serialize;

use crate::phone::{Next, PhoneProfile, SimPhone, to_wire};
use crate::transport::{TransportError, default_mode_client, post_wpi};

/// Where and how phones reach the service.
#[derive(Clone)]
pub struct Target {
    /// The service's phone port.
    pub addr: SocketAddr,
    /// The TLS client configuration.
    pub tls: Arc<rustls::ClientConfig>,
    /// How long a phone waits for one answer.
    pub timeout: Duration,
}

impl Target {
    /// A Default-Mode target at `addr`.
    pub fn default_mode(addr: SocketAddr) -> Target {
        Target { addr, tls: default_mode_client(), timeout: Duration::from_secs(30) }
    }
}

/// Why an interaction failed, as the phone saw it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InteractionError {
    /// The connection failed.
    #[error("{0}")]
    Transport(#[from] TransportError),
    /// Not HTTP 200.
    #[error("HTTP status {0}")]
    Status(u16),
    /// The answer is not a `DLSMessage`.
    #[error("unreadable answer: {0}")]
    Unreadable(String),
    /// The answer does not carry the nonce the phone sent (guide p. 28).
    #[error("answer carries a different nonce")]
    NonceMismatch,
    /// The answer was chunked or had no exact `Content-Length` (guide p. 12).
    #[error("answer without an exact Content-Length")]
    Framing,
    /// The service never ended the interaction.
    #[error("no CleanUp after {0} steps")]
    Endless(usize),
}

impl InteractionError {
    /// A short kind for error counts.
    pub fn kind(&self) -> &'static str {
        match self {
            InteractionError::Transport(TransportError::Timeout) => "timeout",
            InteractionError::Transport(TransportError::Connect(_)) => "connect",
            InteractionError::Transport(TransportError::Tls(_)) => "tls",
            InteractionError::Transport(_) => "io",
            InteractionError::Status(_) => "http-status",
            InteractionError::Unreadable(_) => "unreadable",
            InteractionError::NonceMismatch => "nonce",
            InteractionError::Framing => "framing",
            InteractionError::Endless(_) => "endless",
        }
    }
}

/// What one interaction did.
#[derive(Debug, Clone, Default)]
pub struct Interaction {
    /// Each answer's action and how long the request took.
    pub steps: Vec<(String, Duration)>,
    /// The final `CleanUp`'s `cleanup-reason`, if any (`overload` is back-pressure).
    pub cleanup_reason: Option<String>,
    /// Whether the phone was asked to call back when idle (p. 76).
    pub send_solicited: bool,
    /// Whether the phone was told to reboot.
    pub rebooted: bool,
    /// Items the service wrote that the phone stored.
    pub written: usize,
}

/// Runs one interaction starting with `first`, until `CleanUp` or a reboot.
pub async fn run_interaction(
    phone: &mut SimPhone,
    target: &Target,
    first: WorkpointMessage,
) -> Result<Interaction, InteractionError> {
    const MAX_STEPS: usize = 200;
    let mut outcome = Interaction::default();
    let mut message = first;
    let mut cookie: Option<String> = None;
    for _ in 0..MAX_STEPS {
        let started = Instant::now();
        let reply =
            post_wpi(target.addr, target.tls.clone(), &to_wire(&message), cookie.as_deref(), target.timeout)
                .await?;
        let elapsed = started.elapsed();
        if reply.status != 200 {
            return Err(InteractionError::Status(reply.status));
        }
        let exact_length =
            reply.header("content-length").and_then(|l| l.parse::<usize>().ok()) == Some(reply.body.len());
        if !exact_length || reply.header("transfer-encoding").is_some() {
            return Err(InteractionError::Framing);
        }
        if let Some(set) = reply.cookie() {
            cookie = Some(set);
        }
        let answer: DlsMessage =
            parse_dls_message(&reply.body).map_err(|e| InteractionError::Unreadable(e.to_string()))?;
        outcome.steps.push((answer.action.to_string(), elapsed));
        if answer.nonce != phone.last_nonce {
            return Err(InteractionError::NonceMismatch);
        }
        if answer.action == opendls_wpi::Action::WriteItems && !phone.in_call {
            outcome.written += answer.items.len();
        }
        match phone.answer(&answer) {
            Next::Reply(next) => message = next,
            Next::Done { send_solicited, reason } => {
                outcome.send_solicited = send_solicited;
                outcome.cleanup_reason = reason;
                return Ok(outcome);
            }
            Next::Reboot { .. } => {
                outcome.rebooted = true;
                return Ok(outcome);
            }
        }
    }
    Err(InteractionError::Endless(MAX_STEPS))
}

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
    /// Items per fragment of the phones' long replies (`None`: only at 50 kB).
    pub fragment_items: Option<usize>,
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
            fragment_items: None,
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
    /// Phones that were busy and completed on their solicited call-back.
    pub busy_then_completed: u32,
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
    busy_completed: bool,
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
            let mut profile = PhoneProfile::numbered(config.first_number + n);
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
        for interaction in &result.interactions {
            report.requests += interaction.steps.len() as u64;
            report.items_written += interaction.written as u64;
            for (action, took) in &interaction.steps {
                steps.entry(action.clone()).or_default().push(*took);
            }
            if interaction.cleanup_reason.as_deref() != Some("overload") {
                whole.push(interaction.steps.iter().map(|(_, d)| *d).sum());
            }
        }
        if result.completed {
            report.completed += 1;
            report.overloaded_then_completed += u32::from(result.overloads > 0);
            report.busy_then_completed += u32::from(result.busy_completed);
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
        busy_completed: false,
        interactions: Vec::new(),
        error: None,
    };
    let mut reason = Reason::StartUp;
    for _attempt in 0..config.max_attempts {
        let first = phone.contact(reason.clone(), &[] as &[Item]);
        match run_interaction(phone, target, first).await {
            Err(error) => {
                result.error = Some(error.kind());
                return result;
            }
            Ok(interaction) => {
                let overloaded = interaction.cleanup_reason.as_deref() == Some("overload");
                let solicited = interaction.send_solicited;
                let other_reason = interaction.cleanup_reason.clone().filter(|r| r != "overload");
                result.interactions.push(interaction);
                if overloaded {
                    result.overloads += 1;
                    let (shortest, longest) = config.overload_backoff;
                    let backoff = shortest + longest.saturating_sub(shortest).mul_f64(random_fraction());
                    tokio::time::sleep(backoff).await;
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
