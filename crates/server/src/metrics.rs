//! The service's Prometheus metrics, served as OpenMetrics text at `/metrics` on the admin
//! listener (docs/monitoring.md lists each one).
//!
//! One [`Metrics`] per running service (no global recorder: tests run several services in one
//! process). What happens in this process is counted as it happens; what the fleet looks like
//! (devices, jobs, certificates) is read from the database when scraped ([`fleet`]). Every label
//! takes values from a bounded set: reasons and actions the guide names (else `other`), the
//! handful of outcomes below, and at most [`opendls_store::stats::MAX_LABELS`] models or firmware
//! versions.

use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;

use opendls_wpi::Reason;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

pub mod fleet;

/// The `Content-Type` of the exposition.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The metrics token inside the data directory: a bearer token that reads `/metrics` and
/// nothing else, for the monitoring system (the admin token reads it too).
pub const METRICS_TOKEN_FILE: &str = "metrics-token";

/// The metrics token's value; shown as `***` in debug output.
#[derive(Clone)]
pub struct MetricsToken(pub String);

impl std::fmt::Debug for MetricsToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MetricsToken(***)")
    }
}

/// How one phone message was answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Served as the protocol says.
    Served,
    /// The interaction ended on a protocol error (`CleanUp` with a reason).
    ProtocolError,
    /// Told to come back later: admission was full.
    Overload,
    /// Told to come back later: the database failed.
    StorageError,
    /// The message could not be read (malformed XML, too large, too slow).
    Malformed,
}

impl Outcome {
    fn label(self) -> &'static str {
        match self {
            Outcome::Served => "served",
            Outcome::ProtocolError => "protocol_error",
            Outcome::Overload => "overload",
            Outcome::StorageError => "storage_error",
            Outcome::Malformed => "malformed",
        }
    }
}

/// The database calls of a phone step that are timed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatabaseCall {
    /// The request's reads (interaction, device context, certificate).
    RequestContext,
    /// The prepared device of a first contact.
    Provisioned,
    /// The decision's transaction.
    Apply,
    /// A device's context read again after a conflict.
    DeviceContext,
    /// The fleet counts of a scrape.
    FleetStats,
}

impl DatabaseCall {
    fn label(self) -> &'static str {
        match self {
            DatabaseCall::RequestContext => "request_context",
            DatabaseCall::Provisioned => "provisioned_for",
            DatabaseCall::Apply => "apply",
            DatabaseCall::DeviceContext => "device_context",
            DatabaseCall::FleetStats => "fleet_stats",
        }
    }
}

/// How a contact-me went (guide p. 15).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContactResult {
    /// The phone answered 2xx: it calls back unless its contact gap runs.
    Answered,
    /// The phone answered another HTTP status.
    Refused,
    /// No answer (refused connection, timeout, not HTTP).
    Unreachable,
    /// Sent again to a phone that had answered an earlier contact-me of this round without
    /// calling back since.
    Ignored,
    /// Not sent: the phone is busy, in its contact gap, or its address is not allowed.
    Deferred,
}

impl ContactResult {
    fn label(self) -> &'static str {
        match self {
            ContactResult::Answered => "answered",
            ContactResult::Refused => "refused",
            ContactResult::Unreachable => "unreachable",
            ContactResult::Ignored => "ignored",
            ContactResult::Deferred => "deferred",
        }
    }
}

/// Why a TLS handshake did not complete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandshakeFailure {
    /// The handshake failed (bad certificate, no common suite, closed).
    Error,
    /// It did not finish within its deadline.
    Timeout,
    /// A client offering only legacy TLS while legacy TLS is off.
    LegacyRefused,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MessageLabels {
    reason: &'static str,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CauseLabels {
    cause: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HandshakeLabels {
    port: &'static str,
    stack: &'static str,
    version: &'static str,
    kind: &'static str,
    key: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HandshakeFailureLabels {
    port: &'static str,
    stack: &'static str,
    why: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallLabels {
    call: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AnswerLabels {
    answer: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VersionLabels {
    version: &'static str,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

/// Seconds from 0.5 ms to about 16 s, doubling: a phone step on a quiet server takes a few
/// milliseconds, one under a storm or a slow database up to seconds.
fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

/// Reads the admission's open interactions and bound, while its endpoint lives.
type AdmissionProbe = dyn Fn() -> Option<crate::admission::AdmissionView> + Send + Sync;

/// The service's metrics.
pub struct Metrics {
    registry: Registry,
    messages: Family<MessageLabels, Counter>,
    interactions: Family<ReasonLabels, Counter>,
    step_seconds: HistogramFamily<ReasonLabels>,
    overload: Family<CauseLabels, Counter>,
    in_flight: Gauge,
    admission_bound: Gauge,
    admission_waiting: Gauge,
    in_flight_probe: OnceLock<Box<AdmissionProbe>>,
    scheduling_delay: Histogram,
    handshakes: Family<HandshakeLabels, Counter>,
    handshake_failures: Family<HandshakeFailureLabels, Counter>,
    database_seconds: HistogramFamily<CallLabels>,
    contact_me: Family<ResultLabels, Counter>,
    dcmp_polls: Family<AnswerLabels, Counter>,
    certificates_issued: Counter,
    backups: Family<ResultLabels, Counter>,
    last_backup: Gauge,
    fleet: fleet::FleetGauges,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// Every metric registered, at zero.
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("opendls");
        let build = Family::<VersionLabels, Gauge>::default();
        build.get_or_create(&VersionLabels { version: env!("CARGO_PKG_VERSION") }).set(1);
        registry.register("build_info", "The running version (always 1)", build);
        let metrics = Metrics {
            messages: Family::default(),
            interactions: Family::default(),
            step_seconds: Family::new_with_constructor(latency_histogram),
            overload: Family::default(),
            in_flight: Gauge::default(),
            admission_bound: Gauge::default(),
            admission_waiting: Gauge::default(),
            in_flight_probe: OnceLock::new(),
            scheduling_delay: Histogram::new(exponential_buckets(0.001, 2.0, 12)),
            handshakes: Family::default(),
            handshake_failures: Family::default(),
            database_seconds: Family::new_with_constructor(latency_histogram),
            contact_me: Family::default(),
            dcmp_polls: Family::default(),
            certificates_issued: Counter::default(),
            backups: Family::default(),
            last_backup: Gauge::default(),
            fleet: fleet::FleetGauges::default(),
            registry,
        };
        metrics.register_all()
    }

    fn register_all(mut self) -> Metrics {
        let r = &mut self.registry;
        r.register(
            "phone_messages",
            "Phone messages answered, by reason for contact and outcome",
            self.messages.clone(),
        );
        r.register(
            "interactions_started",
            "Interactions started, by the reason for contact of their first message",
            self.interactions.clone(),
        );
        r.register_with_unit(
            "phone_step",
            "Time from a phone message's arrival to its answer, by reason for contact",
            Unit::Seconds,
            self.step_seconds.clone(),
        );
        r.register(
            "overload_answers",
            "CleanUp overload answers: admission full (full, address_share) or database failed (storage)",
            self.overload.clone(),
        );
        r.register(
            "interactions_in_flight",
            "Interactions admitted and not yet ended",
            self.in_flight.clone(),
        );
        r.register(
            "admission_bound",
            "Interactions that may be under way now (adaptive admission's bound)",
            self.admission_bound.clone(),
        );
        r.register(
            "admission_waiting",
            "Phones starting an interaction held until a slot frees (limits.admission_wait_millis)",
            self.admission_waiting.clone(),
        );
        r.register_with_unit(
            "scheduling_delay",
            "How late a task woken by a timer ran: how long ready work waits for the server's threads",
            Unit::Seconds,
            self.scheduling_delay.clone(),
        );
        r.register(
            "tls_handshakes",
            "TLS handshakes completed, by port, stack (rustls, legacy), protocol version, kind (full, resumed) and the server key (rsa, ecdsa)",
            self.handshakes.clone(),
        );
        r.register(
            "tls_handshake_failures",
            "TLS handshakes that did not complete, by port, stack and why (error, timeout, legacy_refused)",
            self.handshake_failures.clone(),
        );
        r.register_with_unit(
            "database_call",
            "Time of the database calls of phone steps and scrapes, by call",
            Unit::Seconds,
            self.database_seconds.clone(),
        );
        r.register(
            "contact_me",
            "Contact-me requests, by result (answered, refused, unreachable, ignored, deferred)",
            self.contact_me.clone(),
        );
        r.register(
            "dcmp_polls",
            "DCMP polls, by answer (work, nothing, error, refused)",
            self.dcmp_polls.clone(),
        );
        r.register(
            "certificates_issued",
            "Secure Mode certificates this node issued to phones",
            self.certificates_issued.clone(),
        );
        r.register("backups", "Scheduled backups made, by result (ok, failed)", self.backups.clone());
        r.register_with_unit(
            "last_backup_timestamp",
            "When the last scheduled backup was made (Unix time; 0: none since the start)",
            Unit::Seconds,
            self.last_backup.clone(),
        );
        self.fleet.register(&mut self.registry);
        self.show_zeros();
        self
    }

    /// Shows the common series at zero from the start: a rate over a series that appears only
    /// with its first event misses that event, and a dashboard shows "no data" for a quiet
    /// service.
    fn show_zeros(&self) {
        for reason in Reason::KNOWN {
            for outcome in [Outcome::Served, Outcome::ProtocolError, Outcome::Overload, Outcome::StorageError]
            {
                let labels = MessageLabels { reason: reason.as_wire(), outcome: outcome.label() };
                let _ = self.messages.get_or_create(&labels);
            }
        }
        let _ = self
            .messages
            .get_or_create(&MessageLabels { reason: "other", outcome: Outcome::Malformed.label() });
        for cause in ["full", "address_share", "storage"] {
            let _ = self.overload.get_or_create(&CauseLabels { cause });
        }
        for result in [
            ContactResult::Answered,
            ContactResult::Refused,
            ContactResult::Unreachable,
            ContactResult::Ignored,
            ContactResult::Deferred,
        ] {
            let _ = self.contact_me.get_or_create(&ResultLabels { result: result.label() });
        }
        for result in ["ok", "failed"] {
            let _ = self.backups.get_or_create(&ResultLabels { result });
        }
        for answer in ["work", "nothing", "error", "refused"] {
            let _ = self.dcmp_polls.get_or_create(&AnswerLabels { answer });
        }
    }

    /// Lets scrapes read the admission's count of open interactions and its bound (held weakly:
    /// the metrics do not keep the endpoint alive).
    pub fn probe_in_flight<T: Send + Sync + 'static>(
        &self,
        owner: &Arc<T>,
        open: fn(&T) -> crate::admission::AdmissionView,
    ) {
        let owner: Weak<T> = Arc::downgrade(owner);
        let probe = move || owner.upgrade().map(|owner| open(&owner));
        let _ = self.in_flight_probe.set(Box::new(probe));
    }

    /// Counts one phone message's answer and its time.
    pub fn message(&self, reason: &Reason, outcome: Outcome, elapsed: Duration) {
        let reason = reason_label(reason);
        self.messages.get_or_create(&MessageLabels { reason, outcome: outcome.label() }).inc();
        self.step_seconds.get_or_create(&ReasonLabels { reason }).observe(elapsed.as_secs_f64());
    }

    /// Counts an interaction started by a message with this reason.
    pub fn interaction_started(&self, reason: &Reason) {
        self.interactions.get_or_create(&ReasonLabels { reason: reason_label(reason) }).inc();
    }

    /// Counts an overload answer: `cause` is `full`, `address_share` or `storage`.
    pub fn overload(&self, cause: &'static str) {
        self.overload.get_or_create(&CauseLabels { cause }).inc();
    }

    /// Counts a completed handshake; `version` as the stack names it (`TLSv1.2`); `resumed`
    /// for an abbreviated handshake that resumed an earlier session; `ecdsa` when the client
    /// was served the ECDSA certificate.
    pub fn handshake(&self, port: &'static str, legacy: bool, version: &str, resumed: bool, ecdsa: bool) {
        let version = match version {
            "TLSv1.3" | "TLSv1_3" => "TLSv1.3",
            "TLSv1.2" | "TLSv1_2" => "TLSv1.2",
            "TLSv1.1" | "TLSv1_1" => "TLSv1.1",
            "TLSv1" | "TLSv1.0" | "TLSv1_0" => "TLSv1.0",
            _ => "other",
        };
        let kind = if resumed { "resumed" } else { "full" };
        let key = if ecdsa { "ecdsa" } else { "rsa" };
        self.handshakes
            .get_or_create(&HandshakeLabels { port, stack: stack(legacy), version, kind, key })
            .inc();
    }

    /// Counts a handshake that did not complete.
    pub fn handshake_failed(&self, port: &'static str, legacy: bool, why: HandshakeFailure) {
        let why = match why {
            HandshakeFailure::Error => "error",
            HandshakeFailure::Timeout => "timeout",
            HandshakeFailure::LegacyRefused => "legacy_refused",
        };
        self.handshake_failures
            .get_or_create(&HandshakeFailureLabels { port, stack: stack(legacy), why })
            .inc();
    }

    /// Records how long a database call took.
    pub fn database_call(&self, call: DatabaseCall, elapsed: Duration) {
        self.database_seconds
            .get_or_create(&CallLabels { call: call.label() })
            .observe(elapsed.as_secs_f64());
    }

    /// Counts a contact-me.
    pub fn contact_me(&self, result: ContactResult) {
        self.contact_me.get_or_create(&ResultLabels { result: result.label() }).inc();
    }

    /// Counts a DCMP poll: `answer` is `work`, `nothing`, `error` or `refused` (no MAC).
    pub fn dcmp_poll(&self, answer: &'static str) {
        self.dcmp_polls.get_or_create(&AnswerLabels { answer }).inc();
    }

    /// Counts a scheduled backup.
    pub fn backup_made(&self, ok: bool) {
        self.backups.get_or_create(&ResultLabels { result: if ok { "ok" } else { "failed" } }).inc();
        if ok {
            self.last_backup.set(crate::phone::unix_now());
        }
    }

    /// Notes one measurement of the scheduling delay ([`crate::scheduling_delay`]).
    pub fn scheduling_delay(&self, delay: Duration) {
        self.scheduling_delay.observe(delay.as_secs_f64());
    }

    /// Counts a certificate issued to a phone.
    pub fn certificate_issued(&self) {
        self.certificates_issued.inc();
    }

    /// The exposition of every metric, the fleet's as last read ([`Metrics::refresh_fleet`]).
    pub fn encode(&self) -> String {
        if let Some(view) = self.in_flight_probe.get().and_then(|probe| probe()) {
            self.in_flight.set(view.open as i64);
            self.admission_bound.set(view.bound as i64);
            self.admission_waiting.set(view.waiting as i64);
        }
        let mut text = String::with_capacity(16 * 1024);
        prometheus_client::encoding::text::encode(&mut text, &self.registry)
            .expect("writing to a String does not fail");
        text
    }
}

/// `rustls` or `legacy` (OpenSSL).
fn stack(legacy: bool) -> &'static str {
    if legacy { "legacy" } else { "rustls" }
}

/// The reason's wire spelling when the guide names it, else `other` (a bounded label).
fn reason_label(reason: &Reason) -> &'static str {
    Reason::KNOWN.iter().find(|known| *known == reason).map_or("other", |known| known.as_wire())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_reasons_share_one_label() {
        assert_eq!(reason_label(&Reason::StartUp), "start-up");
        assert_eq!(reason_label(&Reason::from_wire("brand-new-reason")), "other");
    }

    #[test]
    fn the_exposition_names_each_metric_with_its_labels() {
        let metrics = Metrics::new();
        metrics.message(&Reason::StartUp, Outcome::Served, Duration::from_millis(3));
        metrics.interaction_started(&Reason::StartUp);
        metrics.overload("full");
        metrics.handshake("default", false, "TLSv1_3", false, false);
        metrics.handshake_failed("secure", true, HandshakeFailure::Timeout);
        metrics.contact_me(ContactResult::Answered);
        let text = metrics.encode();
        for line in [
            "opendls_phone_messages_total{reason=\"start-up\",outcome=\"served\"} 1",
            "opendls_interactions_started_total{reason=\"start-up\"} 1",
            "opendls_phone_step_seconds_count{reason=\"start-up\"} 1",
            "opendls_overload_answers_total{cause=\"full\"} 1",
            "opendls_tls_handshakes_total{port=\"default\",stack=\"rustls\",version=\"TLSv1.3\",kind=\"full\",key=\"rsa\"} 1",
            "opendls_tls_handshake_failures_total{port=\"secure\",stack=\"legacy\",why=\"timeout\"} 1",
            "opendls_contact_me_total{result=\"answered\"} 1",
            "opendls_build_info{version=\"",
        ] {
            assert!(text.contains(line), "{line} missing from:\n{text}");
        }
        assert!(text.ends_with("# EOF\n"));
    }

    /// Every series the Grafana dashboard queries is one the service exposes.
    #[test]
    fn the_dashboard_queries_only_exposed_metrics() {
        let metrics = Metrics::new();
        metrics.message(&Reason::StartUp, Outcome::Served, Duration::from_millis(3));
        metrics.interaction_started(&Reason::StartUp);
        metrics.handshake("default", false, "TLSv1.3", false, false);
        metrics.handshake_failed("default", false, HandshakeFailure::Error);
        metrics.database_call(DatabaseCall::Apply, Duration::from_millis(1));
        metrics.fleet.set(&opendls_store::FleetStats {
            by_model: vec![opendls_store::stats::Labelled { label: "OpenStage 60".into(), count: 1 }],
            by_firmware: vec![opendls_store::stats::Labelled { label: "V3".into(), count: 1 }],
            by_security_state: vec![opendls_store::stats::Labelled { label: "default".into(), count: 1 }],
            certificates: vec![opendls_store::stats::Labelled { label: "active".into(), count: 1 }],
            jobs: vec![opendls_store::stats::JobCount {
                kind: "restart".into(),
                state: "running".into(),
                count: 1,
            }],
            ..Default::default()
        });
        let exposed = metrics.encode();
        let dashboard = include_str!("../../../packaging/grafana/opendls.json");
        let mut queried: Vec<&str> = dashboard
            .match_indices("opendls_")
            .map(|(at, _)| {
                let rest = &dashboard[at..];
                let end = rest.find(|c: char| !(c.is_ascii_lowercase() || c == '_')).unwrap_or(rest.len());
                &rest[..end]
            })
            .collect();
        queried.sort_unstable();
        queried.dedup();
        assert!(queried.len() >= 15, "{queried:?}");
        for name in queried {
            let sample =
                |suffix: &str| exposed.lines().any(|line| line.starts_with(&format!("{name}{suffix}")));
            assert!(sample("{") || sample(" "), "the dashboard queries {name}, which is not exposed");
        }
    }
}
