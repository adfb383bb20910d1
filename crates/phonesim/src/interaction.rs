//! One interaction as a phone runs it: send, read the answer, act, until `CleanUp`. Requests go
//! on a new connection each (as a 2023 CP210 does) or on one kept-alive connection (older
//! firmware); the network can be slow and the phone can vanish halfway.

use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime};

use opendls_wpi::{DlsMessage, WorkpointMessage, parse_dls_message};

use crate::phone::{Next, SimPhone, to_wire};
use crate::transport::{HttpReply, KeepAlive, PhoneTls, TransportError, https_get, post_wpi};

/// How a phone behaves on the network during an interaction.
#[derive(Debug, Clone, Default)]
pub struct Manner {
    /// Keep one connection for the whole interaction instead of `Connection: close`.
    pub keep_alive: bool,
    /// Extra delay before every request (a slow network).
    pub network_delay: Duration,
    /// Disappear after this many requests, never sending the next one.
    pub vanish_after: Option<usize>,
    /// Every file transfer fails (a broken download path): a single file or firmware image is
    /// then reported `failed` in a `status` (p. 54).
    pub fail_downloads: bool,
}

/// Where and how phones reach the service.
#[derive(Clone)]
pub struct Target {
    /// The service's phone port.
    pub addr: SocketAddr,
    /// Further nodes of the same service: a phone's requests go to each address in turn, also
    /// within one interaction, as a load balancer without affinity spreads them.
    pub also: Vec<SocketAddr>,
    /// The TLS client configuration.
    pub tls: PhoneTls,
    /// How long a phone waits for one answer.
    pub timeout: Duration,
}

impl Target {
    /// A Default-Mode target at `addr`.
    pub fn default_mode(addr: SocketAddr) -> Target {
        Target { addr, also: Vec::new(), tls: PhoneTls::modern(), timeout: Duration::from_secs(30) }
    }

    /// Where a phone sends the `step`-th request of an interaction: with further nodes, each in
    /// turn, starting at one chosen by the phone's MAC (so that a fleet's first requests are
    /// spread too).
    pub fn addr_for(&self, mac: &str, step: usize) -> SocketAddr {
        if self.also.is_empty() {
            return self.addr;
        }
        let start = mac.bytes().map(usize::from).sum::<usize>();
        match (start + step) % (self.also.len() + 1) {
            0 => self.addr,
            n => self.also[n - 1],
        }
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
    /// The phone disappeared before the interaction ended (on purpose, see [`Manner`]).
    pub vanished: bool,
    /// Files fetched and whether each worked.
    pub files: Vec<(String, bool)>,
    /// Each answer's action and how long the request took.
    pub steps: Vec<(String, Duration)>,
    /// The final `CleanUp`'s `cleanup-reason`, if any (`overload` is back-pressure).
    pub cleanup_reason: Option<String>,
    /// Whether the phone was asked to call back when idle (p. 76).
    pub send_solicited: bool,
    /// Whether the phone was told to reboot.
    pub rebooted: bool,
    /// Whether the reboot was a factory reset (p. 51).
    pub factory_reset: bool,
    /// Items the service wrote that the phone stored.
    pub written: usize,
    /// Every item of every `WriteItems` the phone stored, as sent.
    pub writes: Vec<opendls_wpi::Item>,
}

/// Runs one interaction starting with `first`, until `CleanUp` or a reboot.
pub async fn run_interaction(
    phone: &mut SimPhone,
    target: &Target,
    first: WorkpointMessage,
    manner: &Manner,
) -> Result<Interaction, InteractionError> {
    const MAX_STEPS: usize = 200;
    let mut outcome = Interaction::default();
    let mut message = first;
    let mut cookie: Option<String> = None;
    let mut connection =
        if manner.keep_alive { Some(KeepAlive::open(target.addr, &target.tls).await?) } else { None };
    for step in 0..MAX_STEPS {
        if manner.vanish_after == Some(step) {
            outcome.vanished = true;
            return Ok(outcome);
        }
        if !manner.network_delay.is_zero() {
            tokio::time::sleep(manner.network_delay).await;
        }
        let started = Instant::now();
        let body = to_wire(&message);
        let reply = match &mut connection {
            Some(connection) => connection.post_wpi(&body, cookie.as_deref(), target.timeout).await?,
            None => post_to_a_node(target, &phone.profile.mac, step, &body, cookie.as_deref()).await?,
        };
        let elapsed = started.elapsed();
        let answer = check_answer(&reply)?;
        if let Some(set) = reply.cookie() {
            cookie = Some(set);
        }
        outcome.steps.push((answer.action.to_string(), elapsed));
        if answer.nonce != phone.last_nonce {
            return Err(InteractionError::NonceMismatch);
        }
        if answer.action == opendls_wpi::Action::WriteItems && !phone.in_call {
            outcome.written += answer.items.len();
            outcome.writes.extend(answer.items.iter().cloned());
        }
        let mut next = phone.answer(&answer);
        if let Next::Files(jobs) = next {
            let mut results = Vec::new();
            for job in jobs {
                let ok = job.delete || (!manner.fail_downloads && fetch(job.url.as_deref(), target).await);
                outcome.files.push((job.name.clone(), ok));
                results.push((job, ok));
            }
            let (day, time) = phone_clock(SystemTime::now());
            next = phone.files_done(&results, &day, &time);
        }
        match next {
            Next::Reply(reply) => message = reply,
            Next::Done { send_solicited, reason } => {
                outcome.send_solicited = send_solicited;
                outcome.cleanup_reason = reason;
                return Ok(outcome);
            }
            Next::Reboot { factory_reset } => {
                outcome.rebooted = true;
                outcome.factory_reset = factory_reset;
                return Ok(outcome);
            }
            Next::Files(_) => unreachable!("files are fetched above"),
        }
    }
    Err(InteractionError::Endless(MAX_STEPS))
}

/// Posts a request to the node whose turn it is; a node that refuses the connection (it is down)
/// is skipped for the next, as a load balancer does. A request already sent is never sent again.
async fn post_to_a_node(
    target: &Target,
    mac: &str,
    step: usize,
    body: &[u8],
    cookie: Option<&str>,
) -> Result<HttpReply, TransportError> {
    let mut tried = 0;
    loop {
        let addr = target.addr_for(mac, step + tried);
        match post_wpi(addr, &target.tls, body, cookie, target.timeout).await {
            Err(TransportError::Connect(_)) if tried < target.also.len() => tried += 1,
            answer => return answer,
        }
    }
}

/// Checks the HTTP framing the guide requires (200, exact `Content-Length`, not chunked, p. 12)
/// and parses the `DLSMessage`.
fn check_answer(reply: &HttpReply) -> Result<DlsMessage, InteractionError> {
    if reply.status != 200 {
        return Err(InteractionError::Status(reply.status));
    }
    let exact_length =
        reply.header("content-length").and_then(|l| l.parse::<usize>().ok()) == Some(reply.body.len());
    if !exact_length || reply.header("transfer-encoding").is_some() {
        return Err(InteractionError::Framing);
    }
    parse_dls_message(&reply.body).map_err(|e| InteractionError::Unreadable(e.to_string()))
}

/// Downloads a deployment file; FTP (no URL) is not spoken by the simulator and fails.
async fn fetch(url: Option<&str>, target: &Target) -> bool {
    match url {
        Some(url) => {
            matches!(https_get(url, &target.tls, target.timeout).await, Ok(reply) if reply.status == 200)
        }
        None => false,
    }
}

/// The phone's clock as file-deployment items show it: `DD:MM:YYYY` and `HH:MM:SS` (p. 54), UTC.
pub fn phone_clock(now: SystemTime) -> (String, String) {
    let at = time::OffsetDateTime::from(now);
    let date = time::macros::format_description!("[day]:[month]:[year]");
    let clock = time::macros::format_description!("[hour]:[minute]:[second]");
    (at.format(&date).unwrap_or_default(), at.format(&clock).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_phone_clock_reads_like_the_guide() {
        let at = std::time::UNIX_EPOCH + Duration::from_secs(1_213_094_152); // 2008-06-10 10:35:52 UTC
        assert_eq!(phone_clock(at), ("10:06:2008".to_owned(), "10:35:52".to_owned()));
    }
}
