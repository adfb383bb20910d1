//! The job scheduler: ends targets past their give-up time and sends contact-me to phones with
//! work waiting (guide p. 14-15, 41), paced per phone, aware of the phones' contact gap, limited
//! in rate and concurrency, and only ever to allowed addresses.

use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use opendls_engine::Timestamp;
use opendls_store::StoreResult;
use opendls_store::jobs::{ContactCandidate, ContactRecord, JobStore};
use opendls_wpi::firmware::FirmwareVersion;
use tokio::sync::{Notify, Semaphore};
use tokio_util::sync::CancellationToken;

use crate::config::{ContactMeStyle, Jobs, contact_me_manner};
use crate::contact_me::{self, ContactMeUri, ContactOutcome, Network};
use crate::metrics::ContactResult;
use crate::phone::unix_now;

/// How every deferral for a phone no contact-me may reach begins; job views read it back from
/// the stored result to tell such waits from the others.
pub(crate) const UNREACHABLE: &str = "no contact-me:";

/// How long the networks phones connected from are cached before being read again.
const ADDRESSES_MAX_AGE: Duration = Duration::from_secs(60);

/// Runs the contact-me side of jobs.
pub struct Scheduler<S> {
    store: Arc<S>,
    settings: Jobs,
    configured_networks: Vec<Network>,
    /// Where phones shall call back (`dls_ip_addr` / `dls_ip_port`), when known.
    callback: Option<SocketAddr>,
    /// The port phones in Secure Mode are called back to (the secure listener's).
    secure_port: Option<u16>,
    /// A running target whose interaction has been silent this long is contacted again.
    stall_secs: i64,
    wake: Arc<Notify>,
    in_flight: Arc<Mutex<HashSet<String>>>,
    sending: Arc<Semaphore>,
    learned_networks: Mutex<Option<(Instant, Vec<Network>)>>,
    /// Where phones may report a contact-me address other than the one they connect from.
    trusted_contact_networks: Vec<Network>,
    /// When firmware pins were last applied.
    pins_applied: Mutex<Option<Instant>>,
    metrics: Arc<crate::metrics::Metrics>,
}

/// Firmware pins are applied this often (each pass reads the pinned models' devices).
const PIN_PERIOD: Duration = Duration::from_secs(2);

enum Plan {
    Send(ContactMeUri),
    Defer { until: Timestamp, why: String },
}

impl<S: JobStore> Scheduler<S> {
    /// A scheduler over `store`. `wake` makes it look for work at once (a job was created).
    pub fn new(
        store: Arc<S>,
        settings: Jobs,
        callback: Option<SocketAddr>,
        stall_secs: i64,
        wake: Arc<Notify>,
    ) -> Self {
        let parse = |texts: &[String]| texts.iter().filter_map(|text| Network::parse(text).ok()).collect();
        let configured_networks = parse(&settings.allowed_networks);
        let trusted_contact_networks = parse(&settings.trusted_contact_networks);
        let sending = Arc::new(Semaphore::new(settings.max_concurrent_contacts));
        Scheduler {
            store,
            settings,
            configured_networks,
            trusted_contact_networks,
            callback,
            secure_port: None,
            stall_secs,
            wake,
            in_flight: Arc::default(),
            sending,
            learned_networks: Mutex::new(None),
            pins_applied: Mutex::new(None),
            metrics: Arc::default(),
        }
    }

    /// Counts contact-me requests in these metrics.
    pub fn with_metrics(mut self, metrics: Arc<crate::metrics::Metrics>) -> Self {
        self.metrics = metrics;
        self
    }

    /// Gives phones that run another version than their firmware pin a target in its job.
    async fn apply_pins(&self, now: Timestamp) -> StoreResult<()> {
        {
            let mut last = self.pins_applied.lock().expect("not poisoned");
            if last.is_some_and(|at| at.elapsed() < PIN_PERIOD) {
                return Ok(());
            }
            *last = Some(Instant::now());
        }
        let limits = opendls_store::PinLimits {
            max_concurrent: self.settings.max_concurrent_deployments,
            hold_off_secs: self.settings.deployment_hold_off_secs as i64,
        };
        let added = self.store.apply_firmware_pins(now, limits).await?;
        if added > 0 {
            tracing::info!(added, "firmware pins: phones with another version get the pinned image");
        }
        Ok(())
    }

    /// Calls phones in Secure Mode back to this port (`dls_ip_port`, guide p. 14, 65).
    pub fn with_secure_port(mut self, port: Option<u16>) -> Self {
        self.secure_port = port;
        self
    }

    /// Works until `shutdown` is cancelled.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut ticks = tokio::time::interval(Duration::from_millis(self.settings.tick_millis));
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = ticks.tick() => {}
                _ = self.wake.notified() => {}
            }
            if let Err(error) = self.tick().await {
                tracing::warn!(%error, "job scheduler: storage error; trying again at the next tick");
            }
        }
    }

    async fn tick(&self) -> StoreResult<()> {
        let now = unix_now();
        let expired = self.store.expire_targets(now).await?;
        if expired > 0 {
            tracing::info!(expired, "job targets timed out: the devices did not call in in time");
        }
        self.apply_pins(now).await?;
        for step in self.store.advance_rollouts(now).await? {
            match step.paused {
                Some(reason) => tracing::warn!(job = step.job_id, reason, "rollout paused itself"),
                None => {
                    tracing::info!(job = step.job_id, released = step.released, "rollout released a wave")
                }
            }
        }
        let per_tick =
            f64::from(self.settings.max_contacts_per_sec) * self.settings.tick_millis as f64 / 1000.0;
        let budget = per_tick.ceil().max(1.0) as u32;
        let stalled = opendls_store::jobs::Stalled {
            before: now - self.stall_secs,
            downloading_before: now - self.settings.deployment_timeout_secs as i64,
        };
        let candidates = self.store.contact_candidates(now, stalled, budget * 4).await?;
        if candidates.is_empty() {
            return Ok(());
        }
        let allowed = self.allowed_networks().await?;
        let pause = Duration::from_secs_f64(1.0 / f64::from(self.settings.max_contacts_per_sec));
        let mut sent = 0;
        for candidate in candidates {
            if self.in_flight.lock().expect("not poisoned").contains(&candidate.mac) {
                continue;
            }
            match self.plan(&candidate, now, &allowed) {
                Plan::Defer { until, why } => {
                    self.metrics.contact_me(ContactResult::Deferred);
                    let record = ContactRecord {
                        mac: candidate.mac,
                        sent: false,
                        answered: false,
                        next_at: until,
                        result: why,
                    };
                    self.store.record_contact(record, now).await?;
                }
                Plan::Send(uri) if sent < budget => {
                    // Nodes of a cluster see the same candidates: the one whose claim wins sends.
                    // The claim outlasts the send (its timeout) and lapses if this node dies.
                    let until = now + 2 * self.settings.contact_timeout_secs as i64 + 10;
                    if !self.store.claim_contact(&candidate.mac, now, until).await? {
                        continue;
                    }
                    sent += 1;
                    self.spawn_send(candidate, uri).await;
                    tokio::time::sleep(pause).await;
                }
                Plan::Send(_) => break,
            }
        }
        Ok(())
    }

    fn plan(&self, candidate: &ContactCandidate, now: Timestamp, allowed: &[Network]) -> Plan {
        let settings = &self.settings;
        if let Some(since) = candidate.busy_since {
            let (wait, why) = if honours_send_solicited(candidate.software_version.as_deref()) {
                (
                    4 * settings.busy_retry_secs,
                    "phone busy; it calls back when idle (send-solicited, guide p. 72)",
                )
            } else {
                (
                    settings.busy_retry_secs,
                    "phone busy; its firmware ignores send-solicited: contact-me later",
                )
            };
            let until = since + wait as i64;
            if now < until {
                return Plan::Defer { until, why: why.into() };
            }
        }
        if let Some(answered) = candidate.last_answered_at {
            let until = answered + settings.contact_gap_secs as i64;
            if now < until {
                let why = "waiting for the phone's contact gap to pass (it ignores contact-me until then)";
                return Plan::Defer { until, why: why.into() };
            }
        }
        let later = now + 10 * settings.contact_me_spacing_secs as i64;
        let uri = match candidate.contact_me_uri.as_deref().map(ContactMeUri::parse) {
            Some(Ok(uri)) => uri,
            Some(Err(problem)) => {
                return Plan::Defer { until: later, why: format!("{UNREACHABLE} {problem}") };
            }
            None => {
                return Plan::Defer {
                    until: later,
                    why: format!("{UNREACHABLE} the phone reported no contact-me-uri"),
                };
            }
        };
        let reported = uri.addr.ip().to_canonical();
        let connected_from = candidate.remote_addr.as_deref().and_then(|a| a.parse::<IpAddr>().ok());
        let trusted = self.trusted_contact_networks.iter().any(|network| network.contains(reported));
        if connected_from.map(|a| a.to_canonical()) != Some(reported) && !trusted {
            tracing::warn!(
                target: "opendls::security",
                mac = %candidate.mac,
                reported = %reported,
                connected_from = ?connected_from,
                "contact-me not sent: the reported address is not the one the phone connects from"
            );
            let from = connected_from.map_or("nowhere yet".to_owned(), |a| a.to_string());
            let why = format!(
                "{UNREACHABLE} the phone reported {reported} but connects from {from} \
                 (jobs.trusted_contact_networks allows reported addresses)"
            );
            return Plan::Defer { until: later, why };
        }
        if !allowed.iter().any(|network| network.contains(uri.addr.ip())) {
            tracing::warn!(mac = %candidate.mac, address = %uri.addr.ip(), "contact-me not sent: address outside the allowed networks");
            let why = format!(
                "{UNREACHABLE} {} is outside the allowed networks (jobs.allowed_networks)",
                uri.addr.ip()
            );
            return Plan::Defer { until: later, why };
        }
        Plan::Send(uri)
    }

    async fn spawn_send(&self, candidate: ContactCandidate, uri: ContactMeUri) {
        let Ok(permit) = self.sending.clone().acquire_owned().await else { return };
        self.in_flight.lock().expect("not poisoned").insert(candidate.mac.clone());
        let mut callback = self.callback;
        if let (Some(address), Some(port), true) = (callback.as_mut(), self.secure_port, candidate.secure) {
            // guide p. 65: a device in Secure Mode talks to the secure port only.
            address.set_port(port);
        }
        if candidate.attempts > 0 && candidate.last_answered_at.is_some() {
            self.metrics.contact_me(ContactResult::Ignored);
        }
        let (store, in_flight, settings, metrics) =
            (self.store.clone(), self.in_flight.clone(), self.settings.clone(), self.metrics.clone());
        tokio::spawn(async move {
            let timeout = Duration::from_secs(settings.contact_timeout_secs);
            let manner = contact_me_manner(
                settings.contact_me_style,
                &settings.contact_me_rules,
                candidate.group.as_deref(),
                candidate.device_type.as_deref(),
            );
            let outcome = contact_me::send(&uri, manner, callback, timeout).await;
            metrics.contact_me(match outcome {
                ContactOutcome::Answered => ContactResult::Answered,
                ContactOutcome::Refused(_) => ContactResult::Refused,
                ContactOutcome::Unreachable(_) => ContactResult::Unreachable,
            });
            let form = match manner.style {
                ContactMeStyle::Post => String::new(),
                ContactMeStyle::Get => ", by GET".to_owned(),
                ContactMeStyle::HttpsWeb => {
                    format!(", through the web interface on port {}", manner.web_port)
                }
            };
            let now = unix_now();
            let attempt = candidate.attempts + 1;
            let backoff =
                settings.contact_me_spacing_secs as f64 * 2f64.powi(candidate.attempts.min(6) as i32);
            let backoff = (backoff * (0.9 + 0.2 * random_fraction())).round() as i64;
            let (answered, next_at, result) = match &outcome {
                ContactOutcome::Answered => (
                    true,
                    now + backoff.max(settings.contact_gap_secs as i64),
                    format!("contact-me answered (attempt {attempt}{form}); waiting for the call-back"),
                ),
                ContactOutcome::Refused(status) => (
                    false,
                    now + backoff,
                    format!("contact-me refused with HTTP {status} (attempt {attempt}{form})"),
                ),
                ContactOutcome::Unreachable(problem) => {
                    (false, now + backoff, format!("contact-me failed: {problem} (attempt {attempt}{form})"))
                }
            };
            tracing::debug!(mac = %candidate.mac, address = %uri.addr, style = manner.style.as_str(), ?outcome, "contact-me");
            let record = ContactRecord { mac: candidate.mac.clone(), sent: true, answered, next_at, result };
            if let Err(error) = store.record_contact(record, now).await {
                tracing::warn!(%error, mac = %candidate.mac, "could not record a contact-me");
            }
            in_flight.lock().expect("not poisoned").remove(&candidate.mac);
            drop(permit);
        });
    }

    /// The configured networks, or else the networks phones connected from.
    async fn allowed_networks(&self) -> StoreResult<Vec<Network>> {
        if !self.configured_networks.is_empty() {
            return Ok(self.configured_networks.clone());
        }
        if let Some((at, networks)) = &*self.learned_networks.lock().expect("not poisoned")
            && at.elapsed() < ADDRESSES_MAX_AGE
        {
            return Ok(networks.clone());
        }
        let mut networks: Vec<Network> = Vec::new();
        for address in self.store.phone_addresses().await? {
            if let Ok(address) = address.parse::<IpAddr>() {
                let network = Network::around(address);
                if !networks.contains(&network) {
                    networks.push(network);
                }
            }
        }
        *self.learned_networks.lock().expect("not poisoned") = Some((Instant::now(), networks.clone()));
        Ok(networks)
    }
}

/// Whether firmware honours `send-solicited`: V3R3 and later (guide p. 72). `software-version`
/// reads like `V3 R5.12.0` (p. 35); anything unreadable counts as older.
pub fn honours_send_solicited(software_version: Option<&str>) -> bool {
    let version = software_version.and_then(FirmwareVersion::parse);
    version.is_some_and(|v| (v.major, v.release) >= (3, 3))
}

fn random_fraction() -> f64 {
    let mut bytes = [0u8; 4];
    getrandom::fill(&mut bytes).expect("the operating system's random source is available");
    f64::from(u32::from_le_bytes(bytes)) / f64::from(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn firmware_from_v3r3_honours_send_solicited() {
        assert!(honours_send_solicited(Some("V3 R5.12.0")));
        assert!(honours_send_solicited(Some("V3 R3.0.0")));
        assert!(!honours_send_solicited(Some("V3 R1.41.0")));
        assert!(!honours_send_solicited(Some("V2 R2.0.0")));
        assert!(honours_send_solicited(Some("V4 R1.0")));
        assert!(!honours_send_solicited(Some("unknown")));
        assert!(!honours_send_solicited(None));
    }
}
