//! A phone that lives on: it boots, listens for contact-me on its own loopback port (guide
//! p. 14-15), polls a DCMP URL when told to (p. 15, 24), reports local changes, calls back when a
//! call ends after `send-solicited` (p. 72-76), and reboots when told to (p. 50-51).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use opendls_wpi::{Item, Reason};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::contact_me::{ContactMeDoor, web_interface_acceptor};
use crate::fleet::random_fraction;
use crate::interaction::{Manner, Target, run_interaction};
use crate::phone::{PinOutcome, SimPhone};
use crate::transport::http_request;

/// Where and how often a phone behind NAT polls (guide p. 15, 24).
#[derive(Debug, Clone)]
pub struct Dcmp {
    /// The polling server (plain HTTP).
    pub server: SocketAddr,
    /// Seconds between polls.
    pub interval: Duration,
}

/// How a live phone behaves.
#[derive(Debug, Clone)]
pub struct Behaviour {
    /// Network manners during interactions.
    pub manner: Manner,
    /// How long a call lasts (the phone is busy meanwhile).
    pub call_duration: Duration,
    /// Contact-me requests within this time of the last answered one are ignored (default
    /// 300 s, docs/wpi-protocol.md §2.5).
    pub contact_gap: Duration,
    /// How long a reboot takes before the phone sends `start-up` again.
    pub reboot_delay: Duration,
    /// Make a local change about this often (at random moments, a random item among a few
    /// common ones).
    pub local_change_every: Option<Duration>,
    /// Report local changes V2R2-style with the changed items attached (`true`) or old-style
    /// with only `configuration-changed-flag` (`false`), p. 37-40.
    pub attach_local_changes: bool,
    /// Plug in a key module about this often (`inventory-changes`, p. 28).
    pub inventory_change_every: Option<Duration>,
    /// Poll for pending work through DCMP.
    pub dcmp: Option<Dcmp>,
    /// Call back to a `dls_ip_addr` that is not a loopback address. Off by default: the
    /// simulator never sends traffic anywhere but loopback unless told to.
    pub allow_remote_callback: bool,
    /// Random wait before retrying after `overload`.
    pub overload_backoff: (Duration, Duration),
    /// The PINs the user types, in order, when a PIN bootstrap asks for one (p. 67).
    pub pins: Vec<String>,
    /// Whether the firmware remembers `send-solicited` and calls back after a call (V3R3 and
    /// later, p. 72); older firmware does nothing and waits to be contacted again.
    pub honours_send_solicited: bool,
    /// Also accept contact-me through an HTTPS web interface on this loopback port (0: any, see
    /// [`LivePhone::web_interface_addr`]), as phones do on port 443 (docs/wpi-protocol.md §2.5).
    pub web_interface: Option<u16>,
}

impl Default for Behaviour {
    fn default() -> Self {
        Behaviour {
            manner: Manner::default(),
            call_duration: Duration::from_secs(3),
            contact_gap: Duration::from_secs(300),
            reboot_delay: Duration::from_millis(500),
            local_change_every: None,
            attach_local_changes: true,
            inventory_change_every: None,
            dcmp: None,
            allow_remote_callback: false,
            overload_backoff: (Duration::from_secs(1), Duration::from_secs(5)),
            pins: Vec::new(),
            honours_send_solicited: true,
            web_interface: None,
        }
    }
}

/// What a live phone did, readable while it runs.
#[derive(Debug, Default)]
pub struct LiveStats {
    /// Interactions completed (ended with `CleanUp`, a reboot, or a file status).
    pub interactions: AtomicU32,
    /// `start-up` messages sent (boots and reboots).
    pub start_ups: AtomicU32,
    /// `solicited` interactions.
    pub solicited: AtomicU32,
    /// Contact-me requests answered with a call-back.
    pub contact_me_accepted: AtomicU32,
    /// Contact-me requests ignored within the contact gap.
    pub contact_me_ignored: AtomicU32,
    /// Contact-me requests that came as a GET (fields in the query string).
    pub contact_me_by_get: AtomicU32,
    /// Contact-me requests that came through the HTTPS web interface.
    pub contact_me_over_https: AtomicU32,
    /// Contact-me requests that carried a call-back address (`dls_ip_addr`, `dls_ip_port`).
    pub contact_me_with_callback: AtomicU32,
    /// DCMP polls sent.
    pub dcmp_polls: AtomicU32,
    /// DCMP polls answered 202 (work pending).
    pub dcmp_pending: AtomicU32,
    /// `local-changes` interactions.
    pub local_changes: AtomicU32,
    /// `inventory-changes` interactions.
    pub inventory_changes: AtomicU32,
    /// Reboots (restart, factory reset, new firmware).
    pub reboots: AtomicU32,
    /// Switches to Secure Mode (bootstraps, p. 62-65).
    pub secure_mode: AtomicU32,
    /// Interactions that failed.
    pub errors: AtomicU32,
}

impl LiveStats {
    /// Reads a counter.
    pub fn get(counter: &AtomicU32) -> u32 {
        counter.load(Ordering::Relaxed)
    }
}

/// A running phone.
pub struct LivePhone {
    /// Its MAC address.
    pub mac: String,
    /// Where its contact-me listener is.
    pub contact_me_addr: SocketAddr,
    /// Where its web interface listens for contact-me over HTTPS, when
    /// [`Behaviour::web_interface`] is on.
    pub web_interface_addr: Option<SocketAddr>,
    /// Its counters.
    pub stats: Arc<LiveStats>,
    stop: CancellationToken,
    task: JoinHandle<SimPhone>,
    events: mpsc::Sender<Event>,
}

impl LivePhone {
    /// The user picks up: the phone is busy for `duration` (it refuses work with `busy`,
    /// p. 46, 76).
    pub async fn start_call(&self, duration: Duration) {
        let _ = self.events.send(Event::Call(duration)).await;
    }

    /// Stops the phone and returns its final state.
    pub async fn stop(self) -> SimPhone {
        self.stop.cancel();
        self.task.await.expect("the phone task does not panic")
    }
}

pub(crate) enum Event {
    ContactMe(Option<SocketAddr>),
    Call(Duration),
}

/// Starts a phone: binds its contact-me listener on loopback, then boots against `target`.
pub async fn spawn(mut phone: SimPhone, target: Target, behaviour: Behaviour) -> std::io::Result<LivePhone> {
    let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
    let contact_me_addr = listener.local_addr()?;
    let uri = format!("http://{contact_me_addr}/contact_dls.html/ContactDLS");
    phone.profile.contact_me_uri = uri.clone();
    phone.change_item("contact-me-uri", None, &uri);
    let stats = Arc::new(LiveStats::default());
    let mac = phone.profile.mac.clone();
    let stop = CancellationToken::new();
    let (events, inbox) = mpsc::channel(16);
    let door = Arc::new(ContactMeDoor::new(events.clone(), behaviour.clone(), stats.clone()));
    tokio::spawn(door.clone().listen(listener, None, stop.clone()));
    let web_interface_addr = match behaviour.web_interface {
        Some(port) => {
            let web = TcpListener::bind(("127.0.0.1", port)).await?;
            let addr = web.local_addr()?;
            tokio::spawn(door.listen(web, Some(web_interface_acceptor()?), stop.clone()));
            Some(addr)
        }
        None => None,
    };
    let runner = Runner {
        phone,
        default_target: target.clone(),
        target,
        behaviour,
        stats: stats.clone(),
        call_ends: None,
        owes_callback: false,
        secure: None,
    };
    let task = tokio::spawn(runner.run(inbox, stop.clone()));
    Ok(LivePhone { mac, contact_me_addr, web_interface_addr, stats, stop, task, events })
}

struct Runner {
    phone: SimPhone,
    target: Target,
    behaviour: Behaviour,
    stats: Arc<LiveStats>,
    /// When the current call ends.
    call_ends: Option<Instant>,
    /// Whether the phone owes a solicited call-back when the call ends (`send-solicited`).
    owes_callback: bool,
    /// Where the phone talks in Default Mode (it returns there after a factory reset).
    default_target: Target,
    /// The bootstrap order the phone's TLS client uses now, once in Secure Mode.
    secure: Option<crate::phone::SecureModeOrder>,
}

impl Runner {
    async fn run(mut self, mut inbox: mpsc::Receiver<Event>, stop: CancellationToken) -> SimPhone {
        self.interact(Reason::StartUp, Vec::new(), None).await;
        self.learn_dcmp();
        let far = Duration::from_secs(365 * 24 * 3600);
        let mut next_change = self.behaviour.local_change_every.map(at_random_within);
        let mut next_poll = self.behaviour.dcmp.as_ref().map(|d| Instant::now() + d.interval);
        let mut next_module = self.behaviour.inventory_change_every.map(at_random_within);
        loop {
            let wake = |at: Option<Instant>| {
                tokio::time::sleep_until(at.unwrap_or_else(|| Instant::now() + far).into())
            };
            tokio::select! {
                _ = stop.cancelled() => break,
                Some(event) = inbox.recv() => match event {
                    Event::ContactMe(callback) => self.interact(Reason::Solicited, Vec::new(), callback).await,
                    Event::Call(duration) => {
                        self.phone.in_call = true;
                        self.call_ends = Some(Instant::now() + duration);
                    }
                },
                _ = wake(self.call_ends) => {
                    self.call_ends = None;
                    self.phone.in_call = false;
                    if std::mem::take(&mut self.owes_callback) {
                        self.interact(Reason::Solicited, Vec::new(), None).await;
                    }
                }
                _ = wake(next_change) => {
                    next_change = self.behaviour.local_change_every.map(at_random_within);
                    self.local_change().await;
                }
                _ = wake(next_module) => {
                    next_module = self.behaviour.inventory_change_every.map(at_random_within);
                    let changed = self.phone.attach_key_module();
                    self.stats.inventory_changes.fetch_add(1, Ordering::Relaxed);
                    self.interact(Reason::InventoryChanges, changed, None).await;
                }
                _ = wake(next_poll) => {
                    self.poll().await;
                }
            }
            // Any contact restarts the poll timer (docs/wpi-protocol.md §2.6); the service may also have
            // written a new polling address or interval.
            self.learn_dcmp();
            next_poll = self.behaviour.dcmp.as_ref().map(|d| Instant::now() + d.interval);
        }
        self.phone
    }

    /// One phone-initiated interaction, with retries after `overload` and reboots as told.
    async fn interact(&mut self, mut reason: Reason, attached: Vec<Item>, callback: Option<SocketAddr>) {
        let mut target = self.target.clone();
        if let Some(addr) = callback {
            // The phone calls where contact-me says (p. 14), with the TLS of its mode: a
            // service must name its secure port to a phone in Secure Mode.
            target.addr = addr;
        }
        for _ in 0..50 {
            match reason {
                Reason::StartUp => self.stats.start_ups.fetch_add(1, Ordering::Relaxed),
                Reason::Solicited => self.stats.solicited.fetch_add(1, Ordering::Relaxed),
                _ => 0,
            };
            let first = self.phone.contact(reason.clone(), &attached);
            match run_interaction(&mut self.phone, &target, first, &self.behaviour.manner).await {
                Err(_) => {
                    self.stats.errors.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                Ok(done) if done.cleanup_reason.as_deref() == Some("overload") => {
                    let (shortest, longest) = self.behaviour.overload_backoff;
                    tokio::time::sleep(
                        shortest + longest.saturating_sub(shortest).mul_f64(random_fraction()),
                    )
                    .await;
                }
                Ok(done) if done.rebooted => {
                    self.stats.reboots.fetch_add(1, Ordering::Relaxed);
                    self.stats.interactions.fetch_add(1, Ordering::Relaxed);
                    self.phone.in_call = false;
                    self.call_ends = None;
                    self.owes_callback = false;
                    tokio::time::sleep(self.behaviour.reboot_delay).await;
                    if done.factory_reset {
                        // Delivery state: no certificates, Default Mode again.
                        self.secure = None;
                        self.target = self.default_target.clone();
                    }
                    // After a reboot the phone talks to the DLS it is configured with again.
                    target = self.target.clone();
                    reason = Reason::StartUp;
                }
                Ok(done) => {
                    self.stats.interactions.fetch_add(1, Ordering::Relaxed);
                    if done.send_solicited && self.phone.in_call && self.behaviour.honours_send_solicited {
                        self.owes_callback = true;
                        if self.call_ends.is_none() {
                            self.call_ends = Some(Instant::now() + self.behaviour.call_duration);
                        }
                    }
                    if self.phone.pin_order.is_some() && self.ask_for_pin().await {
                        // The phone gave up after too many wrong PINs and said so (p. 83).
                        return;
                    }
                    if self.enter_secure_mode() {
                        // p. 64 step 5: start-up again, now on the secure port with mutual TLS.
                        target = self.target.clone();
                        reason = Reason::StartUp;
                        continue;
                    }
                    return;
                }
            }
        }
    }

    /// The PIN dialog (p. 67 step 6): the user's PINs are tried in order. Returns whether the
    /// phone gave up (and reported `password retries exceeded`, p. 83).
    async fn ask_for_pin(&mut self) -> bool {
        let pins = self.behaviour.pins.clone();
        for pin in pins {
            match self.phone.enter_pin(&pin) {
                PinOutcome::Accepted | PinOutcome::NotAsked => return false,
                PinOutcome::Wrong(_) => continue,
                PinOutcome::RetriesExceeded => {
                    let items = vec![Item::new("cleanup-reason", "password retries exceeded")];
                    let message = self.phone.contact(Reason::CleanUp, &items);
                    if run_interaction(&mut self.phone, &self.target, message, &self.behaviour.manner)
                        .await
                        .is_err()
                    {
                        self.stats.errors.fetch_add(1, Ordering::Relaxed);
                    }
                    return true;
                }
            }
        }
        false
    }

    /// Switches to Secure Mode after a bootstrap: all further requests go to the secure port
    /// with mutual TLS (p. 65). A bootstrap received in Secure Mode (a renewed certificate)
    /// switches to the new certificate. Returns whether it switched now.
    fn enter_secure_mode(&mut self) -> bool {
        let Some(order) = &self.phone.secure_mode else { return false };
        if self.secure.as_ref() == Some(order) {
            return false;
        }
        match crate::transport::secure_mode_client(order) {
            Ok(config) => {
                self.target.addr.set_port(order.port);
                self.target.tls = crate::transport::PhoneTls::Modern(config);
                self.secure = Some(order.clone());
                self.stats.secure_mode.fetch_add(1, Ordering::Relaxed);
                true
            }
            Err(_) => {
                self.stats.errors.fetch_add(1, Ordering::Relaxed);
                self.phone.secure_mode = None;
                false
            }
        }
    }

    /// A user changes something in the menu; the phone reports it (p. 37-40).
    async fn local_change(&mut self) {
        const CHOICES: [(&str, &str); 3] =
            [("sntp-tz-offset", "120"), ("display-id-unicode", "Reception"), ("qos-layer2-voice", "6")];
        let (name, value) = CHOICES[(random_fraction() * CHOICES.len() as f64) as usize];
        self.phone.change_locally(name, None, value);
        self.stats.local_changes.fetch_add(1, Ordering::Relaxed);
        let attached =
            if self.behaviour.attach_local_changes { vec![Item::new(name, value)] } else { Vec::new() };
        self.interact(Reason::LocalChanges, attached, None).await;
    }

    /// Takes the polling address and interval the service wrote (guide p. 24), if any: an
    /// `http://host:port` address; an empty one turns polling off.
    fn learn_dcmp(&mut self) {
        use opendls_wpi::catalog::{DCMP_INTERVAL_ITEM, DCMP_URL_ITEM};
        let Some(url) = self.phone.value(DCMP_URL_ITEM, None).map(str::to_owned) else { return };
        let interval = self.phone.value(DCMP_INTERVAL_ITEM, None).and_then(|v| v.parse::<u64>().ok());
        let server =
            url.strip_prefix("http://").and_then(|rest| rest.split('/').next()).and_then(|a| a.parse().ok());
        if let (Some(server), Some(secs)) = (server, interval)
            && secs > 0
        {
            self.behaviour.dcmp = Some(Dcmp { server, interval: Duration::from_secs(secs) });
        }
    }

    /// A DCMP poll: 202 means work is pending, 200 nothing (p. 24, docs/wpi-protocol.md §2.6).
    async fn poll(&mut self) {
        let Some(dcmp) = self.behaviour.dcmp.clone() else { return };
        self.stats.dcmp_polls.fetch_add(1, Ordering::Relaxed);
        let path = format!("/dcmp/contact-me?device-id={}", self.phone.profile.mac);
        let reply = http_request(dcmp.server, "GET", &path, &[], b"", self.target.timeout).await;
        if reply.is_ok_and(|reply| reply.status == 202) {
            self.stats.dcmp_pending.fetch_add(1, Ordering::Relaxed);
            self.interact(Reason::Solicited, Vec::new(), None).await;
        }
    }
}

/// A random moment between half and one and a half `every` from now: users do not change
/// settings on a timer.
fn at_random_within(every: Duration) -> Instant {
    Instant::now() + every.mul_f64(0.5 + random_fraction())
}
