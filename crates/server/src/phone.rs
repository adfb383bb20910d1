//! The phone endpoint: one WPI request in, one `DLSMessage` out. Whatever goes wrong, the phone
//! gets HTTP 200 with a well-formed `CleanUp` carrying a `cleanup-reason`, and the log says why.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use opendls_engine::{EngineSettings, InteractionChange, Need, Outcome, Timestamp, decide, device_mac_of};
use opendls_store::{DeviceContext, InteractionLookup, PhoneStore, StoreError};
use opendls_wpi::parse::{ParseNotes, parse_workpoint_message_noted};
use opendls_wpi::{DlsMessage, ParseLimits, Reason, WorkpointMessage, write_dls_message};

mod session;

pub use session::{SESSION_COOKIE, session_cookie};
use session::{device_named_by_session, new_session_id};

use crate::admission::{Admission, AdmissionLimits};
use crate::bootstrap::Bootstrapper;
use crate::config::Config;
use crate::listener::ConnectionInfo;
use crate::metrics::{DatabaseCall, Metrics, Outcome as Counted};

/// The `cleanup-reason` of back-pressure, as the Unify DLS sends it (docs/wpi-protocol.md §6.8).
pub const OVERLOAD_REASON: &str = "overload";

/// How long each smallest scheduling delay of adaptive admission is taken over
/// ([`crate::admission::limit`]).
const ADMISSION_INTERVAL: Duration = Duration::from_millis(100);

/// Admission's bounds from the `[limits]` section.
fn admission_limits(limits: &crate::config::Limits) -> AdmissionLimits {
    let target = limits.admission_target_delay_millis;
    AdmissionLimits {
        bound: crate::admission::LimitSettings {
            floor: limits.min_interactions_in_flight,
            ceiling: limits.max_interactions_in_flight,
            target_delay: (target > 0).then(|| Duration::from_millis(target)),
            interval: ADMISSION_INTERVAL,
        },
        address_share: f64::from(limits.interactions_per_address_percent) / 100.0,
        idle: Duration::from_secs(limits.idle_timeout_secs),
        first_step_idle: Duration::from_secs(limits.first_step_timeout_secs),
        first_step_grace: Duration::from_millis(limits.first_step_grace_millis),
    }
}

/// Serves phone requests; shared by every connection of the phone listener.
pub struct PhoneEndpoint<S> {
    store: Arc<S>,
    settings: EngineSettings,
    parse_limits: ParseLimits,
    body_timeout: Duration,
    interaction_timeout_secs: i64,
    admission: Admission,
    admission_wait: Duration,
    recent_delay: crate::scheduling_delay::RecentDelay,
    default_policy: opendls_engine::LocalChangePolicy,
    bootstrapper: Option<Bootstrapper>,
    renew_before_secs: i64,
    downloads: crate::file_server::Sources,
    newcomers: opendls_engine::Newcomers,
    metrics: Arc<Metrics>,
}

impl<S: PhoneStore> PhoneEndpoint<S> {
    /// An endpoint over `store`, configured by `config`.
    pub fn new(store: Arc<S>, config: &Config) -> Self {
        PhoneEndpoint {
            store,
            settings: EngineSettings {
                inventory_max_age_secs: config.protocol.inventory_max_age_secs,
                assembly_limits: opendls_wpi::fragment::AssemblyLimits {
                    max_bytes: config.limits.max_reply_bytes,
                    max_value_bytes: config.limits.max_item_value_bytes,
                    ..Default::default()
                },
                max_inventory_bytes: config.limits.max_inventory_bytes,
                deployment_timeout_secs: config.jobs.deployment_timeout_secs as i64,
                ..EngineSettings::default()
            },
            parse_limits: ParseLimits { max_bytes: config.limits.max_body_bytes, ..ParseLimits::default() },
            body_timeout: Duration::from_secs(config.limits.body_timeout_secs),
            interaction_timeout_secs: config.protocol.interaction_timeout_secs,
            admission: Admission::new(admission_limits(&config.limits), Instant::now()),
            admission_wait: Duration::from_millis(config.limits.admission_wait_millis),
            recent_delay: Default::default(),
            default_policy: config.protocol.local_change_policy,
            bootstrapper: None,
            renew_before_secs: (config.secure_mode.renew_before_days * 24 * 3600) as i64,
            newcomers: opendls_engine::Newcomers {
                policy: config.protocol.unknown_devices,
                default_group: config.protocol.unknown_device_group.clone(),
            },
            downloads: crate::file_server::Sources {
                builtin: Err("the file server is not set up".into()),
                external: None,
            },
            metrics: Arc::new(Metrics::new()),
        }
    }

    /// Counts what the endpoint does in these metrics (else in metrics of its own).
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = metrics;
        self
    }

    /// Interactions admitted and not yet ended, how many may be, and phones waiting (for the
    /// metrics).
    pub fn admission(&self) -> crate::admission::AdmissionView {
        self.admission.view()
    }

    /// Ready work waited `delay` for one of the server's threads at `now`: admission follows it.
    pub fn saw_scheduling_delay(&self, now: Instant, delay: Duration) {
        self.admission.saw_scheduling_delay(now, delay);
        self.recent_delay.note(delay);
        self.metrics.scheduling_delay(delay);
    }

    /// The recent scheduling delay, as the phone listeners' gates see it.
    pub fn recent_delay(&self) -> crate::scheduling_delay::RecentDelay {
        self.recent_delay.clone()
    }

    /// Where phones download the files of deployment jobs (or why they cannot).
    pub fn with_downloads(mut self, downloads: crate::file_server::Sources) -> Self {
        self.downloads = downloads;
        self
    }

    /// Enables Secure Mode bootstraps (without it, devices stay in Default Mode).
    pub fn with_bootstrapper(mut self, bootstrapper: Bootstrapper) -> Self {
        self.bootstrapper = Some(bootstrapper);
        self
    }

    /// Answers one HTTP request from a phone.
    pub async fn serve(
        &self,
        request: Request<Incoming>,
        connection: &ConnectionInfo,
    ) -> Response<Full<Bytes>> {
        self.serve_with(request, connection, || {}).await
    }

    /// Answers one HTTP request from a phone, calling `body_read` once its whole body is here.
    pub async fn serve_with(
        &self,
        request: Request<Incoming>,
        connection: &ConnectionInfo,
        body_read: impl FnOnce(),
    ) -> Response<Full<Bytes>> {
        let remote = connection.remote;
        if request.method() != Method::POST {
            let mut response = Response::new(Full::new(Bytes::from_static(b"WPI messages are POSTed\n")));
            *response.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
            response.headers_mut().insert(header::ALLOW, HeaderValue::from_static("POST"));
            return response;
        }
        let started = Instant::now();
        let session = session_cookie(request.headers());
        let limit = self.parse_limits.max_bytes;
        let body = Limited::new(request.into_body(), limit);
        let body = match tokio::time::timeout(self.body_timeout, body.collect()).await {
            Ok(Ok(collected)) => collected.to_bytes(),
            Ok(Err(error)) => {
                let problem = if error.is::<http_body_util::LengthLimitError>() {
                    format!("message larger than {limit} bytes")
                } else {
                    "request body could not be read".to_owned()
                };
                tracing::warn!(%remote, problem, "phone request refused");
                self.metrics.message(&Reason::Other(String::new()), Counted::Malformed, started.elapsed());
                return xml_response(&DlsMessage::clean_up_because("", &problem), None);
            }
            Err(_) => {
                tracing::warn!(%remote, "phone request body timed out");
                self.metrics.message(&Reason::Other(String::new()), Counted::Malformed, started.elapsed());
                return xml_response(&DlsMessage::clean_up_because("", "request body timed out"), None);
            }
        };
        body_read();
        let (reply, cookie) = self.answer_on(&body, session.as_deref(), connection, started).await;
        xml_response(&reply, cookie.as_deref())
    }

    /// Answers one request body from the Default port: the reply and, when an interaction
    /// starts, its session id.
    pub async fn answer(
        &self,
        body: &[u8],
        session: Option<&str>,
        remote: SocketAddr,
        started: Instant,
    ) -> (DlsMessage, Option<String>) {
        self.answer_on(body, session, &ConnectionInfo::default_port(remote), started).await
    }

    /// Answers one request body from the given connection.
    pub async fn answer_on(
        &self,
        body: &[u8],
        session: Option<&str>,
        connection: &ConnectionInfo,
        started: Instant,
    ) -> (DlsMessage, Option<String>) {
        let remote = connection.remote;
        let message = match parse_workpoint_message_noted(body, self.parse_limits) {
            Ok((message, notes)) => {
                log_leniency(&message, &notes, remote);
                message
            }
            Err(error) => {
                let nonce = salvage_nonce(body);
                tracing::warn!(%remote, %error, bytes = body.len(), "unreadable phone message");
                self.metrics.message(&Reason::Other(String::new()), Counted::Malformed, started.elapsed());
                return (DlsMessage::clean_up_because(nonce, format!("malformed message: {error}")), None);
            }
        };
        let reason = message.reason.reason.clone();
        let (reply, cookie, outcome) =
            self.answer_message(message, &reason, session, connection, started).await;
        self.metrics.message(&reason, outcome, started.elapsed());
        // A new contact answered, even with a lone CleanUp (a solicited call with nothing to do).
        if !continues_an_interaction(&reason) && matches!(outcome, Counted::Served | Counted::ProtocolError) {
            self.metrics.interaction_started(&reason);
        }
        (reply, cookie)
    }

    /// Answers one message (its reason for contact given apart, since the message moves into
    /// the step): the reply, the new session's id, and how it went.
    async fn answer_message(
        &self,
        message: WorkpointMessage,
        reason: &Reason,
        session: Option<&str>,
        connection: &ConnectionInfo,
        started: Instant,
    ) -> (DlsMessage, Option<String>, Counted) {
        let remote = connection.remote;

        // Messages that continue an interaction are always served; only new ones wait.
        let reservation = if continues_an_interaction(reason) {
            None
        } else {
            let mac = message.value("mac-addr").and_then(opendls_engine::normalize_mac);
            match self.admission.reserve_within(remote.ip(), mac.as_deref(), self.admission_wait).await {
                Ok(reservation) => Some(reservation),
                Err(why) => {
                    tracing::info!(%remote, %reason, ?why, "overload: phone told to come back later");
                    self.metrics.overload(match why {
                        crate::admission::Overload::Full => "full",
                        crate::admission::Overload::AddressShare => "address_share",
                    });
                    return (
                        DlsMessage::clean_up_because(&message.nonce, OVERLOAD_REASON),
                        None,
                        Counted::Overload,
                    );
                }
            }
        };

        match self.step(message, session, connection).await {
            Ok(Stepped { reply, interaction, mac, error, security_event }) => {
                if let Some(event) = &security_event {
                    tracing::warn!(target: "opendls::security", %remote, secure_port = connection.secure, event, "security event");
                }
                let cookie = match interaction {
                    InteractionChange::Start(state) => {
                        if let Some(reservation) = reservation {
                            self.admission.started(reservation, &state.session_id, Instant::now());
                        }
                        Some(state.session_id)
                    }
                    InteractionChange::Continue(state) => {
                        self.admission.touched(&state.session_id, Instant::now());
                        None
                    }
                    InteractionChange::End(session) => {
                        if let Some(session) = session {
                            self.admission.ended(&session);
                        }
                        None
                    }
                };
                // Tenths of a millisecond: enough for a person, no float noise in JSON lines.
                let elapsed_ms = (started.elapsed().as_secs_f64() * 10_000.0).round() / 10.0;
                let mac = mac.as_deref().unwrap_or("-");
                match &error {
                    Some(problem) => {
                        tracing::warn!(%remote, mac, %reason, action = %reply.action, elapsed_ms, problem, "interaction ended on a protocol error")
                    }
                    None => {
                        tracing::info!(%remote, mac, %reason, action = %reply.action, elapsed_ms, "interaction step")
                    }
                }
                let outcome = if error.is_some() { Counted::ProtocolError } else { Counted::Served };
                (reply, cookie, outcome)
            }
            Err((nonce, error)) => {
                tracing::error!(%remote, %reason, %error, "storage failed; phone told to come back later");
                self.metrics.overload("storage");
                (DlsMessage::clean_up_because(nonce, OVERLOAD_REASON), None, Counted::StorageError)
            }
        }
    }

    /// Key material for a bootstrap the engine asked for, or why there is none.
    async fn bootstrap_material(
        &self,
        mac: &str,
        input: &opendls_engine::Input,
        with_pin: bool,
    ) -> Result<opendls_engine::BootstrapMaterial, String> {
        let Some(bootstrapper) = &self.bootstrapper else {
            return Err("Secure Mode bootstraps are not enabled on this service".to_owned());
        };
        // A phone bound at this contact is not stored yet: its prepared group's PIN applies.
        let first_contact_group = match &input.device {
            None => {
                input.provisioned.as_ref().filter(|p| p.bindable_by(mac)).and_then(|p| p.group.as_deref())
            }
            Some(_) => None,
        };
        let made = bootstrapper.material(self.store.as_ref(), mac, first_contact_group, with_pin).await;
        made.ok_or_else(|| "no bootstrap material could be made (see the service log)".to_owned())
    }

    /// A web-interface certificate a deployment job needs, or why there is none.
    async fn wbm_certificate(&self, mac: &str, remote: SocketAddr) -> Result<String, String> {
        match &self.bootstrapper {
            Some(bootstrapper) => bootstrapper.wbm_certificate(mac, Some(remote.ip().to_string())).await,
            None => Err("the certificate authority is not enabled on this service".to_owned()),
        }
    }

    /// Loads state, runs the engine, persists the decision. On a storage failure, returns the
    /// request's nonce with the error.
    async fn step(
        &self,
        message: WorkpointMessage,
        session: Option<&str>,
        connection: &ConnectionInfo,
    ) -> Result<Stepped, (String, opendls_store::StoreError)> {
        let remote = connection.remote;
        let now = unix_now();
        let nonce = message.nonce.clone();
        let fail = |error| (nonce.clone(), error);
        let remote_addr = remote.ip().to_string();
        // Only messages that continue a flow look for one; a new contact starts afresh (p. 33).
        let lookup = continues_an_interaction(&message.reason.reason).then(|| InteractionLookup {
            session_id: session.map(str::to_owned),
            remote_addr: remote_addr.clone(),
            not_before: now - self.interaction_timeout_secs,
            device_hint: session.and_then(device_named_by_session),
        });
        // The handshake proved a secure-port certificate chains to our CA; the store says whose
        // it is and whether it still counts (guide p. 65).
        let fingerprint = connection
            .client_certificate
            .as_deref()
            .filter(|_| connection.secure)
            .map(opendls_pki::ca::fingerprint);
        let (reason, reported_mac) =
            (message.reason.reason.clone(), message.value("mac-addr").map(str::to_owned));
        // One hand-off to the database for the interaction, the device and the certificate.
        let read = self.store.request_context(lookup, fingerprint, move |interaction| {
            device_mac_of(&reason, reported_mac.as_deref(), interaction)
        });
        let request = self.timed(DatabaseCall::RequestContext, read).await.map_err(fail)?;
        let (interaction, mac) = (request.interaction, request.mac);
        let channel = match connection.secure {
            true => opendls_engine::Channel::SecurePort { certificate: request.certificate },
            false => opendls_engine::Channel::DefaultPort,
        };
        let prepare = |context: DeviceContext, message, interaction| {
            let mut input = context.into_input(
                message,
                interaction,
                now,
                remote_addr.clone(),
                new_session_id(mac.as_deref()),
                self.default_policy,
            );
            input.security.channel = channel.clone();
            input.security.tls_offer = connection.tls_offer.clone();
            input.security.renew_before_secs = self.renew_before_secs;
            input.newcomers = self.newcomers.clone();
            input
        };
        let mut input = prepare(request.context, message, interaction);
        input.provisioned = self.provisioned_for(&input, mac.as_deref()).await.map_err(fail)?;
        let mut needs_met = 0;
        // A decision that would send job work finished meanwhile (cancelled, or done by another
        // interaction of the same phone) is refused by the store: decide once more on fresh state.
        let mut conflicts_left = 1;
        loop {
            let decision = match decide(&input, &self.settings) {
                Outcome::Decided(decision) => *decision,
                Outcome::Needs(need) => {
                    // The engine does no I/O: make what it asks for, then decide again.
                    needs_met += 1;
                    if needs_met > 2 {
                        let problem = format!("the engine asked again for {need:?}");
                        return Err(fail(StoreError::Internal(problem)));
                    }
                    let mac = mac.as_deref().unwrap_or_default();
                    match need {
                        Need::BootstrapMaterial { with_pin } => {
                            input.security.material =
                                Some(self.bootstrap_material(mac, &input, with_pin).await);
                        }
                        Need::WbmCertificate => {
                            input.security.wbm_certificate = Some(self.wbm_certificate(mac, remote).await);
                        }
                        Need::Downloads => {
                            let sources =
                                self.downloads.for_device(mac, &input.remote_addr, &input.tasks, now);
                            input.downloads = Some(sources);
                        }
                    }
                    continue;
                }
            };
            let stepped = Stepped {
                reply: decision.reply.clone(),
                interaction: decision.interaction.clone(),
                mac: mac.clone(),
                error: decision.error.clone(),
                security_event: decision.security_event.clone(),
            };
            match self.timed(DatabaseCall::Apply, self.store.apply(decision, now)).await {
                Ok(()) => return Ok(stepped),
                Err(StoreError::Conflict(why)) if conflicts_left > 0 => {
                    conflicts_left -= 1;
                    tracing::info!(
                        mac = mac.as_deref().unwrap_or("-"),
                        why,
                        "job work changed meanwhile; deciding again"
                    );
                    let context = match &mac {
                        Some(mac) => {
                            let read = self.store.device_context(mac);
                            self.timed(DatabaseCall::DeviceContext, read).await.map_err(fail)?
                        }
                        None => DeviceContext::default(),
                    };
                    let made = (input.security.material.take(), input.security.wbm_certificate.take());
                    input = prepare(context, input.message, input.interaction);
                    // A binding refused meanwhile is looked up again: the phone is then unknown.
                    input.provisioned = self.provisioned_for(&input, mac.as_deref()).await.map_err(fail)?;
                    (input.security.material, input.security.wbm_certificate) = made;
                    // The tasks may have changed: their downloads are made again if needed.
                }
                Err(error) => return Err(fail(error)),
            }
        }
    }
}

impl<S: PhoneStore> PhoneEndpoint<S> {
    /// For a device's first contact, the device prepared for it, if any: one more read, for
    /// phones not yet known only.
    async fn provisioned_for(
        &self,
        input: &opendls_engine::Input,
        mac: Option<&str>,
    ) -> Result<Option<opendls_engine::Provisioned>, StoreError> {
        match (&input.device, mac) {
            (None, Some(mac)) if input.message.reason.reason != opendls_wpi::Reason::ReplyTo => {
                let read = self.store.provisioned_for(mac, input.message.value("e164"));
                self.timed(DatabaseCall::Provisioned, read).await
            }
            _ => Ok(None),
        }
    }
}

impl<S> PhoneEndpoint<S> {
    /// Awaits a database call, recording how long it took.
    async fn timed<T>(&self, call: DatabaseCall, work: impl std::future::Future<Output = T>) -> T {
        let started = Instant::now();
        let done = work.await;
        self.metrics.database_call(call, started.elapsed());
        done
    }
}

/// What one engine step produced, for the answer and the log.
struct Stepped {
    reply: DlsMessage,
    interaction: InteractionChange,
    mac: Option<String>,
    error: Option<String>,
    security_event: Option<String>,
}

/// Whether a message with this reason continues an interaction (a reply, a transfer's status,
/// the phone's own clean-up) rather than starting one (guide p. 28, 33).
fn continues_an_interaction(reason: &Reason) -> bool {
    matches!(reason, Reason::ReplyTo | Reason::Status | Reason::CleanUp)
}

/// The current time as the engine counts it.
pub fn unix_now() -> Timestamp {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as Timestamp).unwrap_or_default()
}

/// Says what the parser accepted that the guide does not show, and that a signature came and
/// was not verified (docs/interop.md), so a site can see which phones or proxies deviate.
fn log_leniency(message: &WorkpointMessage, notes: &ParseNotes, remote: std::net::SocketAddr) {
    if notes.deviations.is_empty() && notes.signature.is_none() {
        return;
    }
    let mac = message.value("mac-addr").unwrap_or("-");
    let deviations: Vec<String> = notes.deviations.iter().map(ToString::to_string).collect();
    let signature = notes.signature.as_ref().map(|s| s.describe());
    tracing::info!(
        target: "opendls::interop",
        %remote,
        mac,
        reason = %message.reason.reason,
        lenient = %deviations.join("; "),
        signature = signature.as_deref().unwrap_or("none"),
        "accepted a message that deviates from the guide"
    );
}

/// Finds the nonce in a body that did not parse, so even the error answer carries it (the guide
/// requires every service message to echo the phone's nonce, p. 28).
pub fn salvage_nonce(body: &[u8]) -> String {
    let head = &body[..body.len().min(4096)];
    let text = String::from_utf8_lossy(head);
    let Some(start) = text.find("nonce=\"").map(|at| at + 7) else {
        return String::new();
    };
    let nonce: String = text[start..].chars().take_while(|c| c.is_ascii_alphanumeric()).take(128).collect();
    nonce
}

/// The HTTP answer: 200, `text/xml`, an exact `Content-Length` (never chunked, guide p. 12).
fn xml_response(message: &DlsMessage, new_session: Option<&str>) -> Response<Full<Bytes>> {
    let body = Bytes::from(write_dls_message(message));
    let length = body.len();
    let mut response = Response::new(Full::new(body));
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/xml"));
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    if let Some(session) = new_session {
        // guide p. 34: the first answer of an interaction sets the session cookie.
        let cookie = format!("{SESSION_COOKIE}={session}; Path=/DeploymentService; Secure; HttpOnly");
        if let Ok(value) = HeaderValue::from_str(&cookie) {
            headers.insert(header::SET_COOKIE, value);
        }
    }
    response
}

#[cfg(test)]
#[path = "phone_tests.rs"]
mod tests;
