//! The fleet as the database sees it, read when `/metrics` is scraped (at most every
//! [`MAX_AGE`]): devices by model, firmware and Secure Mode state, jobs by kind and state,
//! certificates by state. Every node of a cluster reports the same fleet: aggregate these with
//! `max`, not `sum`.

use std::time::{Duration, Instant};

use opendls_store::StatsStore;
use opendls_store::stats::FleetStats;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::{DatabaseCall, Metrics};

/// Scrapes closer together than this reuse the last reading (several Prometheus servers
/// scraping one node do not multiply the database's work).
pub const MAX_AGE: Duration = Duration::from_secs(1);

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct WithinLabels {
    within: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ModelLabels {
    model: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FirmwareLabels {
    firmware: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct JobLabels {
    kind: String,
    state: String,
}

/// The gauges of the fleet, and when they were last read.
#[derive(Default)]
pub(super) struct FleetGauges {
    devices: Gauge,
    seen: Family<WithinLabels, Gauge>,
    by_model: Family<ModelLabels, Gauge>,
    by_firmware: Family<FirmwareLabels, Gauge>,
    by_security_state: Family<StateLabels, Gauge>,
    jobs: Family<JobLabels, Gauge>,
    certificates: Family<StateLabels, Gauge>,
    expiring: Gauge,
    read_failures: Counter,
    read_at: tokio::sync::Mutex<Option<Instant>>,
}

impl FleetGauges {
    pub(super) fn register(&self, registry: &mut Registry) {
        registry.register("devices", "Devices known to the service", self.devices.clone());
        registry.register(
            "devices_seen",
            "Devices whose latest contact was within the last hour or day",
            self.seen.clone(),
        );
        registry.register(
            "devices_by_model",
            "Devices by reported model (the 25 most common; the rest as other)",
            self.by_model.clone(),
        );
        registry.register(
            "devices_by_firmware",
            "Devices by reported firmware version (the 25 most common; the rest as other)",
            self.by_firmware.clone(),
        );
        registry.register(
            "devices_by_security_state",
            "Devices by Secure Mode state (default for those never bootstrapped)",
            self.by_security_state.clone(),
        );
        registry.register(
            "jobs",
            "Jobs by kind and state (running, paused, cancelled, finished)",
            self.jobs.clone(),
        );
        registry.register(
            "certificates",
            "Phone certificates issued by the service, by state",
            self.certificates.clone(),
        );
        registry.register(
            "certificates_expiring_soon",
            "Active phone certificates that end within 30 days (or have ended)",
            self.expiring.clone(),
        );
        registry.register(
            "fleet_read_failures",
            "Scrapes whose fleet counts could not be read from the database (the last reading is kept)",
            self.read_failures.clone(),
        );
    }

    pub(super) fn set(&self, stats: &FleetStats) {
        self.devices.set(gauge(stats.devices));
        self.seen.get_or_create(&WithinLabels { within: "1h" }).set(gauge(stats.seen_last_hour));
        self.seen.get_or_create(&WithinLabels { within: "1d" }).set(gauge(stats.seen_last_day));
        // Replaced whole: a model no phone reports any more disappears from the exposition.
        self.by_model.clear();
        for entry in &stats.by_model {
            self.by_model.get_or_create(&ModelLabels { model: entry.label.clone() }).set(gauge(entry.count));
        }
        self.by_firmware.clear();
        for entry in &stats.by_firmware {
            let labels = FirmwareLabels { firmware: entry.label.clone() };
            self.by_firmware.get_or_create(&labels).set(gauge(entry.count));
        }
        self.by_security_state.clear();
        for entry in &stats.by_security_state {
            let labels = StateLabels { state: entry.label.clone() };
            self.by_security_state.get_or_create(&labels).set(gauge(entry.count));
        }
        self.jobs.clear();
        for job in &stats.jobs {
            let labels = JobLabels { kind: job.kind.clone(), state: job.state.clone() };
            self.jobs.get_or_create(&labels).set(gauge(job.count));
        }
        self.certificates.clear();
        for entry in &stats.certificates {
            let labels = StateLabels { state: entry.label.clone() };
            self.certificates.get_or_create(&labels).set(gauge(entry.count));
        }
        self.expiring.set(gauge(stats.certificates_expiring));
    }
}

fn gauge(count: u64) -> i64 {
    i64::try_from(count).unwrap_or(i64::MAX)
}

impl Metrics {
    /// Reads the fleet's counts from `store` unless the last reading is younger than
    /// [`MAX_AGE`]; a failed read keeps the last one and is counted.
    pub async fn refresh_fleet<S: StatsStore>(&self, store: &S, now: opendls_engine::Timestamp) {
        let mut read_at = self.fleet.read_at.lock().await;
        if read_at.is_some_and(|at| at.elapsed() < MAX_AGE) {
            return;
        }
        let started = Instant::now();
        let stats = store.fleet_stats(now).await;
        self.database_call(DatabaseCall::FleetStats, started.elapsed());
        match stats {
            Ok(stats) => {
                self.fleet.set(&stats);
                *read_at = Some(Instant::now());
            }
            Err(error) => {
                tracing::warn!(%error, "metrics: the fleet's counts could not be read");
                self.fleet.read_failures.inc();
            }
        }
    }
}
