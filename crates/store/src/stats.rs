//! Counts over the whole fleet, for the service's metrics (`/metrics`) and dashboards: devices by
//! model, firmware and Secure Mode state, jobs by kind and state, certificates by state. Every
//! backend runs the same statements and folds their rows the same way.

use std::future::Future;

use opendls_engine::Timestamp;

use crate::StoreResult;

/// How many distinct models or firmware versions are reported each; the rest are summed as
/// `other`, so a metric's label set stays bounded whatever the phones report.
pub const MAX_LABELS: usize = 25;

/// Certificates that end within this many seconds count as expiring (30 days).
pub const EXPIRING_WITHIN_SECS: i64 = 30 * 24 * 3600;

/// A count under one label (a model, a firmware version, a state).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Labelled {
    /// The label: empty values are `unknown`; those past [`MAX_LABELS`] are summed as `other`.
    pub label: String,
    /// How many.
    pub count: u64,
}

/// Jobs of one kind in one state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobCount {
    /// The job's kind (`restart`, `read`, `deploy-firmware`, ...).
    pub kind: String,
    /// `running`, `paused`, `cancelled` or `finished`.
    pub state: String,
    /// How many.
    pub count: u64,
}

/// The fleet counted at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FleetStats {
    /// Every known device.
    pub devices: u64,
    /// Devices whose latest contact was within the last hour.
    pub seen_last_hour: u64,
    /// Devices whose latest contact was within the last day.
    pub seen_last_day: u64,
    /// Devices by reported model, most first.
    pub by_model: Vec<Labelled>,
    /// Devices by reported firmware version, most first.
    pub by_firmware: Vec<Labelled>,
    /// Devices by Secure Mode state (`default` for those never bootstrapped).
    pub by_security_state: Vec<Labelled>,
    /// Jobs by kind and state.
    pub jobs: Vec<JobCount>,
    /// Certificates this service issued, by state (`issued`, `active`, `revoked`, ...).
    pub certificates: Vec<Labelled>,
    /// Active certificates that end within [`EXPIRING_WITHIN_SECS`] (or have ended).
    pub certificates_expiring: u64,
}

#[cfg(any(feature = "sqlite", feature = "postgres"))]
/// The statements, each with its parameters as multiples of "now": `$1` is always a time.
/// Grouped rows are `(label, count)` or, for jobs, `(kind, state, count)`.
pub(crate) mod statements {
    /// `$1` an hour ago, `$2` a day ago: recent, daily, all.
    pub const SEEN: &str = "SELECT (SELECT count(*) FROM devices WHERE last_contact >= $1), \
         (SELECT count(*) FROM devices WHERE last_contact >= $2), (SELECT count(*) FROM devices)";
    /// Devices by model.
    pub const BY_MODEL: &str = "SELECT COALESCE(device_type, ''), count(*) FROM devices GROUP BY 1";
    /// Devices by firmware.
    pub const BY_FIRMWARE: &str = "SELECT COALESCE(software_version, ''), count(*) FROM devices GROUP BY 1";
    /// Devices by Secure Mode state.
    pub const BY_SECURITY_STATE: &str = "SELECT COALESCE(s.state, 'default'), count(*) \
         FROM devices d LEFT JOIN device_security s ON s.mac = d.mac GROUP BY 1";
    /// Jobs by kind and the state their targets and flags make.
    pub fn jobs() -> String {
        format!(
            "SELECT j.kind, CASE \
               WHEN j.cancelled_at IS NOT NULL THEN 'cancelled' \
               WHEN j.paused_at IS NOT NULL THEN 'paused' \
               WHEN EXISTS (SELECT 1 FROM job_targets t WHERE t.job_id = j.id AND t.state IN {}) \
                 THEN 'running' \
               ELSE 'finished' END, count(*) \
             FROM jobs j GROUP BY 1, 2",
            crate::columns::UNFINISHED
        )
    }
    /// Certificates by state.
    pub const CERTIFICATES: &str = "SELECT state, count(*) FROM certificates GROUP BY 1";
    /// `$1` the end of the expiry window.
    pub const EXPIRING: &str = "SELECT count(*) FROM certificates WHERE state = 'active' AND not_after < $1";
}

#[cfg(any(feature = "sqlite", feature = "postgres"))]
impl FleetStats {
    /// The counts from the statements' rows, labels bounded and sorted (most first, then by name).
    pub(crate) fn fold(rows: StatementRows) -> FleetStats {
        let [seen_last_hour, seen_last_day, devices] = rows.seen;
        FleetStats {
            devices,
            seen_last_hour,
            seen_last_day,
            by_model: bounded(rows.by_model),
            by_firmware: bounded(rows.by_firmware),
            by_security_state: bounded(rows.by_security_state),
            jobs: job_counts(rows.jobs),
            certificates: bounded(rows.certificates),
            certificates_expiring: rows.expiring,
        }
    }
}

#[cfg(any(feature = "sqlite", feature = "postgres"))]
/// What the statements returned, before folding.
#[derive(Debug, Default)]
pub(crate) struct StatementRows {
    pub seen: [u64; 3],
    pub by_model: Vec<(String, u64)>,
    pub by_firmware: Vec<(String, u64)>,
    pub by_security_state: Vec<(String, u64)>,
    pub jobs: Vec<(String, String, u64)>,
    pub certificates: Vec<(String, u64)>,
    pub expiring: u64,
}

#[cfg(any(feature = "sqlite", feature = "postgres"))]
/// The `(before an hour, before a day, expiry window end)` times the statements take.
pub(crate) fn times(now: Timestamp) -> (i64, i64, i64) {
    (now - 3600, now - 24 * 3600, now + EXPIRING_WITHIN_SECS)
}

#[cfg(any(feature = "sqlite", feature = "postgres"))]
/// Jobs by kind name (the column holds the whole kind as JSON: `{"kind":"restart"}`, with
/// its items or file), merged and sorted by kind and state.
fn job_counts(rows: Vec<(String, String, u64)>) -> Vec<JobCount> {
    let mut jobs: Vec<JobCount> = Vec::new();
    for (document, state, count) in rows {
        let kind = serde_json::from_str::<serde_json::Value>(&document)
            .ok()
            .and_then(|value| value.get("kind").and_then(|kind| kind.as_str()).map(str::to_owned))
            .unwrap_or_else(|| "unknown".to_owned());
        match jobs.iter_mut().find(|j| j.kind == kind && j.state == state) {
            Some(existing) => existing.count += count,
            None => jobs.push(JobCount { kind, state, count }),
        }
    }
    jobs.sort_by(|a, b| (&a.kind, &a.state).cmp(&(&b.kind, &b.state)));
    jobs
}

#[cfg(any(feature = "sqlite", feature = "postgres"))]
/// Most first (ties by name); empty labels read `unknown`; past [`MAX_LABELS`] summed as `other`.
fn bounded(rows: Vec<(String, u64)>) -> Vec<Labelled> {
    let mut counts: Vec<Labelled> = Vec::with_capacity(rows.len());
    for (label, count) in rows {
        let label = match label.trim() {
            "" => "unknown".to_owned(),
            trimmed => trimmed.to_owned(),
        };
        match counts.iter_mut().find(|c| c.label == label) {
            Some(existing) => existing.count += count,
            None => counts.push(Labelled { label, count }),
        }
    }
    counts.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.label.cmp(&b.label)));
    if counts.len() > MAX_LABELS {
        let rest: u64 = counts.drain(MAX_LABELS - 1..).map(|c| c.count).sum();
        counts.push(Labelled { label: "other".to_owned(), count: rest });
    }
    counts
}

/// Storage that can count its fleet.
pub trait StatsStore: Send + Sync + 'static {
    /// The fleet counted at `now` (a handful of aggregate reads; meant for a scrape every few
    /// seconds, not for every request).
    fn fleet_stats(&self, now: Timestamp) -> impl Future<Output = StoreResult<FleetStats>> + Send;
}

#[cfg(all(test, any(feature = "sqlite", feature = "postgres")))]
mod tests {
    use super::*;

    #[test]
    fn labels_past_the_bound_are_summed_as_other() {
        let rows: Vec<(String, u64)> = (0..40).map(|i| (format!("V{i:02}"), 100 - i)).collect();
        let folded = bounded(rows);
        assert_eq!(folded.len(), MAX_LABELS);
        assert_eq!(folded[0], Labelled { label: "V00".into(), count: 100 });
        let other = folded.last().unwrap();
        assert_eq!(other.label, "other");
        assert_eq!(other.count, (MAX_LABELS as u64 - 1..40).map(|i| 100 - i).sum::<u64>());
    }

    #[test]
    fn empty_labels_read_unknown_and_are_merged() {
        let folded = bounded(vec![("".into(), 2), (" ".into(), 3), ("OpenStage 40".into(), 4)]);
        assert_eq!(
            folded,
            vec![
                Labelled { label: "unknown".into(), count: 5 },
                Labelled { label: "OpenStage 40".into(), count: 4 }
            ]
        );
    }
}
