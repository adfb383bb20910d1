//! Who may hold a connection: the discipline every listener shares (phone ports, DCMP, admin).
//!
//! A listener has a cap on connections and a smaller cap per client address (an IPv6 /64 counts
//! as one, as in admission), so one host cannot
//! take them all (many phones may sit behind one NAT address, so the per-address cap stays
//! generous). When the listener is full, slow connections lose, not fast ones: a new connection
//! evicts the connection that has gone longest without a request in progress (a trickled
//! ClientHello, half-sent headers, an idle keep-alive), as long as it has been silent for at
//! least [`GateLimits::min_silence`]. A real phone's handshake and request take milliseconds, so
//! it is rarely the one to go. Deadlines for the handshake and the headers shorten as the
//! listener fills: a client that is slow when others wait gets less time.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// One client address, with IPv6 clients taken by their /64 (one host can use a whole prefix).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AddressKey(IpAddr);

impl AddressKey {
    /// The key of `address`.
    pub fn of(address: IpAddr) -> AddressKey {
        match address {
            IpAddr::V4(_) => AddressKey(address),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => AddressKey(IpAddr::V4(v4)),
                None => {
                    let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                    AddressKey(IpAddr::V6(prefix.into()))
                }
            },
        }
    }
}

/// Caps and deadlines of one listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GateLimits {
    /// Connections held at once.
    pub max_connections: usize,
    /// Connections held at once from one client address.
    pub max_per_address: usize,
    /// Deadline for a handshake or a request's headers while the listener is at most half full.
    pub deadline: Duration,
    /// The shortest deadline, when the listener is full.
    pub min_deadline: Duration,
    /// A connection is evictable only after this long without a request in progress.
    pub min_silence: Duration,
}

/// The connections a listener holds.
#[derive(Debug)]
pub struct ConnectionGate {
    limits: GateLimits,
    state: Mutex<GateState>,
    freed: Notify,
    /// The server's own recent scheduling delay: silence shorter than it may be ours.
    delay: crate::scheduling_delay::RecentDelay,
}

#[derive(Debug, Default)]
struct GateState {
    next_id: u64,
    connections: HashMap<u64, Held>,
    per_address: HashMap<AddressKey, usize>,
    evicted: u64,
    refused_per_address: u64,
}

#[derive(Debug)]
struct Held {
    address: AddressKey,
    /// Since when the connection has had no request in progress; `None` while one is.
    silent_since: Option<Instant>,
    evict: CancellationToken,
}

/// Why a connection was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Its address holds [`GateLimits::max_per_address`] connections already.
    AddressFull,
    /// The listener is full and every connection has a request in progress.
    Full,
}

/// Counters for logs and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GateStats {
    /// Connections held now.
    pub held: usize,
    /// Connections evicted so far for a newer one.
    pub evicted: u64,
    /// Connections refused so far because their address was full.
    pub refused_per_address: u64,
}

impl ConnectionGate {
    /// A gate with `limits`.
    pub fn new(limits: GateLimits) -> Arc<ConnectionGate> {
        ConnectionGate::watching(limits, Default::default())
    }

    /// A gate with `limits` that does not count as silence what may be the server's own delay
    /// in getting to a connection: a connection is evictable only once silent for
    /// `min_silence` plus a few turns of the recent scheduling `delay`.
    pub fn watching(limits: GateLimits, delay: crate::scheduling_delay::RecentDelay) -> Arc<ConnectionGate> {
        let state = Mutex::new(GateState::default());
        Arc::new(ConnectionGate { limits, state, freed: Notify::new(), delay })
    }

    /// Admits a connection from `address`, evicting the longest-silent one if the listener is full.
    pub fn admit(self: &Arc<Self>, address: IpAddr, now: Instant) -> Result<GatePass, Refusal> {
        self.admit_with(address, now, true)
    }

    /// Admits a connection from a trusted PROXY-protocol peer: a load balancer speaks for every
    /// phone behind it, so its address has no per-address share (the listener's cap still holds).
    pub fn admit_proxy(self: &Arc<Self>, address: IpAddr, now: Instant) -> Result<GatePass, Refusal> {
        self.admit_with(address, now, false)
    }

    fn admit_with(
        self: &Arc<Self>,
        address: IpAddr,
        now: Instant,
        shared: bool,
    ) -> Result<GatePass, Refusal> {
        let address = AddressKey::of(address);
        let mut state = self.state.lock().expect("gate lock");
        if shared && state.per_address.get(&address).copied().unwrap_or(0) >= self.limits.max_per_address {
            // Behind one NAT address, too, the slow connection loses rather than the newcomer.
            let Some(victim) = self.longest_silent(&state, now, Some(address)) else {
                state.refused_per_address += 1;
                return Err(Refusal::AddressFull);
            };
            state.evict(victim);
        }
        if state.connections.len() >= self.limits.max_connections {
            let victim = self.longest_silent(&state, now, None).ok_or(Refusal::Full)?;
            state.evict(victim);
        }
        let id = state.next_id;
        state.next_id += 1;
        let evict = CancellationToken::new();
        // Not silent until its task first runs ([`GatePass::idle`]): under load that may take a
        // while, and a connection the server has not looked at yet has not been slow.
        state.connections.insert(id, Held { address, silent_since: None, evict: evict.clone() });
        *state.per_address.entry(address).or_default() += 1;
        let held = state.connections.len();
        drop(state);
        let share = self.deadline_share(held);
        let deadline = self.limits.min_deadline.max(self.limits.deadline.mul_f64(share));
        Ok(GatePass { gate: self.clone(), id, evicted: evict, deadline, share })
    }

    /// Waits until a connection could be admitted (room, or an evictable connection), so that
    /// while every connection is busy further clients wait in the kernel's backlog.
    pub async fn room(&self) {
        loop {
            let notified = self.freed.notified();
            {
                let state = self.state.lock().expect("gate lock");
                let now = Instant::now();
                if state.connections.len() < self.limits.max_connections
                    || self.longest_silent(&state, now, None).is_some()
                {
                    return;
                }
            }
            // Silence ages with time, so look again now and then even without a release.
            let _ =
                tokio::time::timeout(self.limits.min_silence.max(Duration::from_millis(10)), notified).await;
        }
    }

    /// Counters.
    pub fn stats(&self) -> GateStats {
        let state = self.state.lock().expect("gate lock");
        GateStats {
            held: state.connections.len(),
            evicted: state.evicted,
            refused_per_address: state.refused_per_address,
        }
    }

    /// The connection silent the longest (at least `min_silence`), of `address` if given.
    fn longest_silent(&self, state: &GateState, now: Instant, address: Option<AddressKey>) -> Option<u64> {
        let silence =
            self.limits.min_silence + self.delay.get() * crate::scheduling_delay::TURNS_PER_EXCHANGE;
        state
            .connections
            .iter()
            .filter(|(_, held)| address.is_none_or(|address| held.address == address))
            .filter_map(|(id, held)| held.silent_since.map(|since| (*id, since)))
            .filter(|(_, since)| now.saturating_duration_since(*since) >= silence)
            .min_by_key(|(_, since)| *since)
            .map(|(id, _)| id)
    }

    /// The share of the full deadlines a connection admitted when `held` connections are held
    /// gets: all of them up to half full, then less in proportion, nothing (the minimum) when full.
    fn deadline_share(&self, held: usize) -> f64 {
        let max = self.limits.max_connections;
        let half = max.div_ceil(2);
        if held <= half {
            return 1.0;
        }
        max.saturating_sub(held) as f64 / (max - half).max(1) as f64
    }
}

impl GateState {
    fn evict(&mut self, id: u64) {
        if let Some(held) = self.remove(id) {
            held.evict.cancel();
            self.evicted += 1;
        }
    }

    fn remove(&mut self, id: u64) -> Option<Held> {
        let held = self.connections.remove(&id)?;
        if let Some(count) = self.per_address.get_mut(&held.address) {
            *count -= 1;
            if *count == 0 {
                self.per_address.remove(&held.address);
            }
        }
        Some(held)
    }
}

/// One admitted connection; dropping it frees its place.
#[derive(Debug)]
pub struct GatePass {
    gate: Arc<ConnectionGate>,
    id: u64,
    /// Cancelled when a newer connection took this one's place: close it.
    pub evicted: CancellationToken,
    /// The deadline for this connection's handshake and headers.
    pub deadline: Duration,
    share: f64,
}

impl GatePass {
    /// `full`, shortened by the pressure this connection was admitted under (never below the
    /// minimum deadline): for other timeouts of the connection, such as keep-alive idle time.
    pub fn scaled(&self, full: Duration) -> Duration {
        self.gate.limits.min_deadline.max(full.mul_f64(self.share))
    }

    /// A request is in progress: the connection cannot be evicted until it ends.
    pub fn busy(&self) {
        self.set_silent(None);
    }

    /// The request ended; the connection is silent from `now`.
    pub fn idle(&self, now: Instant) {
        self.set_silent(Some(now));
    }

    fn set_silent(&self, since: Option<Instant>) {
        let mut state = self.gate.state.lock().expect("gate lock");
        if let Some(held) = state.connections.get_mut(&self.id) {
            held.silent_since = since;
        }
    }
}

impl Drop for GatePass {
    fn drop(&mut self) {
        let removed = self.gate.state.lock().expect("gate lock").remove(self.id);
        if removed.is_some() {
            self.gate.freed.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(max: usize, per_address: usize) -> GateLimits {
        GateLimits {
            max_connections: max,
            max_per_address: per_address,
            deadline: Duration::from_secs(10),
            min_deadline: Duration::from_secs(1),
            min_silence: Duration::from_millis(100),
        }
    }

    const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 2));
    const B: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 3));

    #[test]
    fn one_address_cannot_take_every_connection() {
        let gate = ConnectionGate::new(limits(10, 2));
        let now = Instant::now();
        let first = gate.admit(A, now).unwrap();
        first.idle(now);
        let second = gate.admit(A, now).unwrap();
        assert_eq!(gate.admit(A, now).unwrap_err(), Refusal::AddressFull);
        assert!(gate.admit(B, now).is_ok(), "another address still gets in");
        // Within the address, too, the silent connection gives way to a newcomer.
        let third = gate.admit(A, now + Duration::from_secs(1)).unwrap();
        assert!(first.evicted.is_cancelled() && !second.evicted.is_cancelled());
        assert!(!third.evicted.is_cancelled());
    }

    #[test]
    fn an_ipv6_prefix_counts_as_one_address() {
        let gate = ConnectionGate::new(limits(10, 1));
        let now = Instant::now();
        let _first = gate.admit("2001:db8::1".parse().unwrap(), now).unwrap();
        let other_host_same_prefix = gate.admit("2001:db8::2".parse().unwrap(), now).map(drop);
        assert_eq!(other_host_same_prefix.unwrap_err(), Refusal::AddressFull);
        assert!(gate.admit("2001:db8:0:1::1".parse().unwrap(), now).is_ok(), "another /64");
    }

    #[test]
    fn the_longest_silent_connection_loses_when_full() {
        let gate = ConnectionGate::new(limits(2, 10));
        let start = Instant::now();
        let slow = gate.admit(A, start).unwrap();
        slow.idle(start);
        let busy = gate.admit(B, start).unwrap();
        // Too young to evict: the newcomer waits.
        assert_eq!(gate.admit(B, start + Duration::from_millis(50)).unwrap_err(), Refusal::Full);
        let later = start + Duration::from_millis(500);
        let newcomer = gate.admit(B, later).unwrap();
        assert!(slow.evicted.is_cancelled(), "the silent connection was evicted");
        assert!(!busy.evicted.is_cancelled(), "a connection with a request in progress never is");
        assert_eq!(gate.stats().held, 2);
        drop(slow);
        assert_eq!(gate.stats().held, 2, "dropping an evicted pass frees nothing twice");
        drop(newcomer);
        assert_eq!(gate.stats(), GateStats { held: 1, evicted: 1, refused_per_address: 0 });
    }

    #[test]
    fn the_servers_own_delay_is_not_a_clients_silence() {
        let delay = crate::scheduling_delay::RecentDelay::default();
        let gate = ConnectionGate::watching(limits(1, 10), delay.clone());
        let start = Instant::now();
        let waiting = gate.admit(A, start).unwrap();
        let much_later = start + Duration::from_secs(5);
        assert_eq!(gate.admit(B, much_later).unwrap_err(), Refusal::Full, "never looked at: not silent");
        // The server gets to it, while its threads run 300 ms behind.
        waiting.idle(much_later);
        delay.note(Duration::from_millis(300));
        let soon = much_later + Duration::from_millis(1200);
        assert_eq!(gate.admit(B, soon).unwrap_err(), Refusal::Full, "silent less than 100 ms + 4 turns");
        assert!(gate.admit(B, much_later + Duration::from_millis(1400)).is_ok());
        assert!(waiting.evicted.is_cancelled());
    }

    #[test]
    fn deadlines_shorten_as_the_listener_fills() {
        let gate = ConnectionGate::new(limits(10, 10));
        let now = Instant::now();
        let passes: Vec<_> = (0..10).map(|_| gate.admit(A, now).unwrap()).collect();
        assert_eq!(passes[0].deadline, Duration::from_secs(10));
        assert_eq!(passes[4].deadline, Duration::from_secs(10), "half full: the whole deadline");
        assert!(passes[7].deadline < Duration::from_secs(5));
        assert_eq!(passes[9].deadline, Duration::from_secs(1), "full: the minimum");
    }
}
