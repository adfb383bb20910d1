//! Admission of new interactions: the back-pressure behind `cleanup-reason=overload`.
//!
//! What is limited is the number of interactions under way (started and not yet ended), not the
//! number of requests being processed: a start-up request takes milliseconds, but the
//! interaction it starts holds on to the phone's data for several more requests. Once admitted,
//! an interaction's requests are always served; only phones starting a new one are told to come
//! back later. The count is per node; with several nodes each admits its own share.
//!
//! An interaction that makes no progress must cost its sender, not the fleet:
//! - one client address (an IPv6 /64 counts as one) holds at most a share of the slots with
//!   interactions still at their first step; past it, its own oldest such interaction gives way
//!   (after `first_step_grace`), so a site behind one NAT address loses nothing while its phones
//!   progress, and a client that starts and never continues displaces only itself;
//! - one MAC holds at most one: a new contact starts a new flow (guide p. 33) and frees the
//!   slot of the earlier one;
//! - an interaction still at its first step (a start-up never continued) is forgotten after
//!   `first_step_idle` once the slots are more than half taken, and when they are all taken the
//!   oldest such interaction gives its slot to a newcomer after `first_step_grace`. A real phone
//!   answers its first `ReadAllItems` within moments, so it is not the one that goes; and if it
//!   is, its next request is still served, since continuing requests never wait.
//! - any interaction silent for `idle` (a phone that vanished) frees its slot.
//!
//! How many interactions may be under way is not fixed: the bound follows the server's
//! scheduling delay ([`limit`]), so a storm keeps the server busy without making every admitted
//! phone wait behind every other.

pub mod limit;
mod queue;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub use crate::gate::AddressKey;
pub use limit::LimitSettings;
use limit::{AdaptiveLimit, CompletionRate};

/// The bounds of admission.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdmissionLimits {
    /// How many interactions may be under way, and how that bound adapts.
    pub bound: LimitSettings,
    /// Share of the bound one client address may hold (0 to 1; at least one slot).
    pub address_share: f64,
    /// An interaction silent this long is forgotten.
    pub idle: Duration,
    /// An interaction still at its first step is forgotten after this long while more than half
    /// of the slots are taken.
    pub first_step_idle: Duration,
    /// When every slot is taken, the oldest interaction still at its first step gives its slot to
    /// a newcomer once it is this old.
    pub first_step_grace: Duration,
}

/// The open interactions of this node.
#[derive(Debug)]
pub struct Admission {
    state: Mutex<Slots>,
    limits: AdmissionLimits,
    /// Wakes a phone waiting for a slot ([`Admission::reserve_within`]) when one may be free.
    freed: tokio::sync::Notify,
    /// Phones waiting for a slot.
    waiting: std::sync::atomic::AtomicUsize,
}

#[derive(Debug)]
struct Slots {
    open: HashMap<String, Open>,
    reserved: HashMap<AddressKey, usize>,
    reserved_total: usize,
    bound: AdaptiveLimit,
    completions: CompletionRate,
}

#[derive(Debug)]
struct Open {
    address: AddressKey,
    mac: Option<String>,
    last: Instant,
    progressed: bool,
}

/// The admission's counts at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdmissionView {
    /// Interactions under way.
    pub open: usize,
    /// Interactions that may be under way.
    pub bound: usize,
    /// Phones waiting for a slot.
    pub waiting: usize,
}

/// Why a new interaction was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overload {
    /// Every slot is taken by interactions that are progressing.
    Full,
    /// The client's address holds its whole share.
    AddressShare,
}

/// A slot taken for a request that may start an interaction; released on drop unless the
/// interaction started (see [`Admission::started`]).
#[derive(Debug)]
pub struct Reservation<'a> {
    admission: &'a Admission,
    address: AddressKey,
    mac: Option<String>,
    /// The interaction started and holds the slot now.
    taken: bool,
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        let mut slots = self.admission.state.lock().expect("admission lock");
        slots.reserved_total -= 1;
        if let Some(count) = slots.reserved.get_mut(&self.address) {
            *count -= 1;
            if *count == 0 {
                slots.reserved.remove(&self.address);
            }
        }
        drop(slots);
        if !self.taken {
            self.admission.freed.notify_one();
        }
    }
}

impl Slots {
    /// The session of the oldest interaction still at its first step and silent for `grace`,
    /// of `address` if given.
    fn oldest_stalled(&self, now: Instant, grace: Duration, address: Option<AddressKey>) -> Option<String> {
        self.open
            .iter()
            .filter(|(_, open)| !open.progressed && address.is_none_or(|address| open.address == address))
            .filter(|(_, open)| now.saturating_duration_since(open.last) >= grace)
            .min_by_key(|(_, open)| open.last)
            .map(|(session, _)| session.clone())
    }
}

impl Admission {
    /// Admission within `limits`, its bound measured from `now`.
    pub fn new(limits: AdmissionLimits, now: Instant) -> Admission {
        let slots = Slots {
            open: HashMap::new(),
            reserved: HashMap::new(),
            reserved_total: 0,
            bound: AdaptiveLimit::new(limits.bound, now),
            completions: CompletionRate::new(now),
        };
        Admission {
            state: Mutex::new(slots),
            limits,
            freed: tokio::sync::Notify::new(),
            waiting: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    /// Reserves a slot for a request from `address` (about `mac`, when it reports one) that
    /// would start an interaction.
    pub fn reserve(
        &self,
        now: Instant,
        address: IpAddr,
        mac: Option<&str>,
    ) -> Result<Reservation<'_>, Overload> {
        let address = AddressKey::of(address);
        let mut slots = self.state.lock().expect("admission lock");
        let limits = self.limits;
        // The same phone starting again: its earlier interaction is over (guide p. 33).
        if let Some(mac) = mac {
            slots.open.retain(|_, open| open.mac.as_deref() != Some(mac));
        }
        let max = slots.bound.bound();
        let tight = slots.open.len() + slots.reserved_total > max / 2;
        slots.open.retain(|_, open| {
            let silent = now.saturating_duration_since(open.last);
            silent < limits.idle && (open.progressed || !tight || silent < limits.first_step_idle)
        });
        let share = ((max as f64 * limits.address_share) as usize).clamp(1, max);
        let stalled_of_address =
            slots.open.values().filter(|open| open.address == address && !open.progressed).count()
                + slots.reserved.get(&address).copied().unwrap_or(0);
        if share < max && stalled_of_address >= share {
            let oldest = slots.oldest_stalled(now, limits.first_step_grace, Some(address));
            slots.open.remove(&oldest.ok_or(Overload::AddressShare)?);
        }
        let under_way = slots.open.len() + slots.reserved_total;
        slots.bound.saw_open(under_way);
        if under_way >= max {
            let oldest = slots.oldest_stalled(now, limits.first_step_grace, None);
            slots.open.remove(&oldest.ok_or(Overload::Full)?);
        }
        slots.reserved_total += 1;
        *slots.reserved.entry(address).or_default() += 1;
        Ok(Reservation { admission: self, address, mac: mac.map(str::to_owned), taken: false })
    }

    /// The reserved request started interaction `session`: it now holds the slot.
    pub fn started(&self, mut reservation: Reservation<'_>, session: &str, now: Instant) {
        let open =
            Open { address: reservation.address, mac: reservation.mac.take(), last: now, progressed: false };
        self.state.lock().expect("admission lock").open.insert(session.to_owned(), open);
        reservation.taken = true;
    }

    /// Interaction `session` made progress (a reply continued it).
    pub fn touched(&self, session: &str, now: Instant) {
        if let Some(open) = self.state.lock().expect("admission lock").open.get_mut(session) {
            open.last = now;
            open.progressed = true;
        }
    }

    /// Interaction `session` ended: its slot is free.
    pub fn ended(&self, session: &str) {
        let mut slots = self.state.lock().expect("admission lock");
        if slots.open.remove(session).is_some() {
            slots.completions.ended();
            drop(slots);
            self.freed.notify_one();
        }
    }

    /// Interactions under way (for logs and tests).
    pub fn open(&self) -> usize {
        self.state.lock().expect("admission lock").open.len()
    }

    /// Phones that may wait for a slot for `wait`: as many as interactions end in that time
    /// (more would only be told `overload` later), and at least the bound.
    fn room_to_wait(&self, wait: Duration) -> usize {
        let slots = self.state.lock().expect("admission lock");
        let served = slots.completions.per_sec() * wait.as_secs_f64();
        (served as usize).max(slots.bound.bound())
    }

    /// The admission's counts, as the metrics show them.
    pub fn view(&self) -> AdmissionView {
        let slots = self.state.lock().expect("admission lock");
        AdmissionView { open: slots.open.len(), bound: slots.bound.bound(), waiting: self.waiting() }
    }

    /// Ready work waited `delay` for one of the server's threads at `now` (see [`limit`]).
    pub fn saw_scheduling_delay(&self, now: Instant, delay: Duration) {
        let mut slots = self.state.lock().expect("admission lock");
        let before = slots.bound.bound();
        slots.bound.saw_delay(now, delay);
        slots.completions.tick(now);
        let grown = slots.bound.bound().saturating_sub(before);
        drop(slots);
        for _ in 0..grown {
            self.freed.notify_one();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 2));
    const B: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 3));

    /// Fixed bounds of `max` interactions (the queue's tests use them too).
    pub(super) fn limits(max: usize) -> AdmissionLimits {
        AdmissionLimits {
            bound: LimitSettings {
                floor: 1,
                ceiling: max,
                target_delay: None,
                interval: Duration::from_millis(100),
            },
            address_share: 1.0,
            idle: Duration::from_secs(30),
            first_step_idle: Duration::from_secs(5),
            first_step_grace: Duration::from_secs(1),
        }
    }

    #[test]
    fn slots_are_held_until_the_interaction_ends_or_goes_silent() {
        let admission = Admission::new(limits(2), Instant::now());
        let now = Instant::now();
        let first = admission.reserve(now, A, Some("M1")).unwrap();
        let second = admission.reserve(now, A, Some("M2")).unwrap();
        assert_eq!(admission.reserve(now, A, Some("M3")).unwrap_err(), Overload::Full);
        drop(second);
        admission.started(first, "A", now);
        let third = admission.reserve(now, A, Some("M3")).unwrap();
        admission.started(third, "B", now);
        admission.touched("A", now);
        admission.touched("B", now);
        assert!(admission.reserve(now, A, Some("M4")).is_err(), "both progress: full");
        admission.ended("A");
        assert!(admission.reserve(now, A, Some("M4")).is_ok());
        admission.touched("B", now + Duration::from_secs(20));
        assert_eq!(admission.open(), 1);
        let later = now + Duration::from_secs(51);
        let _ = admission.reserve(later, A, Some("M5"));
        assert_eq!(admission.open(), 0, "a silent interaction is forgotten");
    }

    #[test]
    fn one_address_holds_only_its_share() {
        let admission = Admission::new(AdmissionLimits { address_share: 0.5, ..limits(4) }, Instant::now());
        let now = Instant::now();
        for (n, session) in ["S1", "S2"].iter().enumerate() {
            let reservation = admission.reserve(now, A, Some(&format!("M{n}"))).unwrap();
            admission.started(reservation, session, now);
        }
        assert_eq!(admission.reserve(now, A, Some("M9")).unwrap_err(), Overload::AddressShare);
        assert!(admission.reserve(now, B, Some("M9")).is_ok(), "another address is admitted");
        admission.touched("S1", now);
        let third = admission.reserve(now, A, Some("M7")).expect("progressing interactions do not count");
        admission.started(third, "S3", now);
        assert_eq!(admission.reserve(now, A, Some("M9")).unwrap_err(), Overload::AddressShare);
        let later = now + Duration::from_secs(2);
        let again = admission.reserve(later, A, Some("M8")).expect("its own stalled one gives way");
        admission.started(again, "S4", later);
        assert_eq!(admission.open(), 3, "the oldest stalled one (S2) was replaced by S4");
    }

    #[test]
    fn a_phone_starting_again_frees_its_earlier_slot() {
        let admission = Admission::new(limits(1), Instant::now());
        let now = Instant::now();
        let first = admission.reserve(now, A, Some("M1")).unwrap();
        admission.started(first, "S1", now);
        admission.touched("S1", now);
        let again = admission.reserve(now, A, Some("M1")).expect("the same MAC replaces its interaction");
        admission.started(again, "S2", now);
        assert_eq!(admission.open(), 1);
    }

    #[test]
    fn the_bound_follows_the_scheduling_delay() {
        let adaptive = LimitSettings {
            floor: 2,
            ceiling: 100,
            target_delay: Some(Duration::from_millis(10)),
            interval: Duration::from_millis(100),
        };
        let mut now = Instant::now();
        let admission = Admission::new(AdmissionLimits { bound: adaptive, ..limits(100) }, now);
        assert_eq!(admission.view().bound, 64);
        // A standing delay of 30 ms for four seconds: the bound falls to its floor.
        for _ in 0..800 {
            now += Duration::from_millis(5);
            admission.saw_scheduling_delay(now, Duration::from_millis(30));
        }
        assert_eq!(admission.view().bound, 2);
        for n in 0..2 {
            let reservation = admission.reserve(now, A, Some(&format!("M{n}"))).unwrap();
            admission.started(reservation, &format!("S{n}"), now);
            admission.touched(&format!("S{n}"), now);
        }
        assert_eq!(admission.reserve(now, A, Some("M9")).unwrap_err(), Overload::Full);
        // The queue drains and newcomers keep knocking: the bound grows again.
        for _ in 0..400 {
            now += Duration::from_millis(5);
            let _ = admission.reserve(now, A, Some("M9"));
            admission.saw_scheduling_delay(now, Duration::ZERO);
        }
        assert!(admission.view().bound > 2, "grown to {}", admission.view().bound);
    }

    #[test]
    fn stalled_first_steps_give_way() {
        let admission = Admission::new(limits(4), Instant::now());
        let start = Instant::now();
        for n in 0..4 {
            let reservation = admission.reserve(start, A, Some(&format!("X{n}"))).unwrap();
            admission.started(reservation, &format!("S{n}"), start);
        }
        assert_eq!(admission.reserve(start, B, Some("P1")).unwrap_err(), Overload::Full, "too young");
        let later = start + Duration::from_millis(1500);
        let phone = admission.reserve(later, B, Some("P1")).expect("a stalled first step gives way");
        admission.started(phone, "P", later);
        admission.touched("P", later);
        // Tight: first steps silent for 5 s are forgotten, the progressing one is not.
        let _ = admission.reserve(start + Duration::from_secs(6), B, Some("P2"));
        assert_eq!(admission.open(), 1);
    }
}
