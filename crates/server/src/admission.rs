//! Admission of new interactions: the back-pressure behind `cleanup-reason=overload`.
//!
//! What is limited is the number of interactions under way (started and not yet ended), not the
//! number of requests being processed: a start-up request takes milliseconds, but the
//! interaction it starts holds on to the phone's data for several more requests. Once admitted,
//! an interaction always runs to its end; only phones starting a new one are told to come back
//! later. An interaction that stays silent for `idle` (a phone that vanished) frees its slot.
//! The count is per node; with several nodes each admits its own share.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The open interactions of this node.
#[derive(Debug)]
pub struct Admission {
    state: Mutex<Slots>,
    max: usize,
    idle: Duration,
}

#[derive(Debug, Default)]
struct Slots {
    open: HashMap<String, Instant>,
    reserved: usize,
}

/// A slot taken for a request that may start an interaction; released on drop unless the
/// interaction started (see [`Admission::started`]).
#[derive(Debug)]
pub struct Reservation<'a> {
    admission: &'a Admission,
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        let mut slots = self.admission.state.lock().expect("admission lock");
        slots.reserved -= 1;
    }
}

impl Admission {
    /// At most `max` interactions under way; a silent one is forgotten after `idle`.
    pub fn new(max: usize, idle: Duration) -> Admission {
        Admission { state: Mutex::new(Slots::default()), max, idle }
    }

    /// Reserves a slot for a request that would start an interaction, or `None` when full.
    pub fn reserve(&self, now: Instant) -> Option<Reservation<'_>> {
        let mut slots = self.state.lock().expect("admission lock");
        let idle = self.idle;
        slots.open.retain(|_, last| now.duration_since(*last) < idle);
        if slots.open.len() + slots.reserved >= self.max {
            return None;
        }
        slots.reserved += 1;
        Some(Reservation { admission: self })
    }

    /// The reserved request started interaction `session`: it now holds the slot.
    pub fn started(&self, reservation: Reservation<'_>, session: &str, now: Instant) {
        let mut slots = self.state.lock().expect("admission lock");
        slots.open.insert(session.to_owned(), now);
        drop(slots);
        drop(reservation);
    }

    /// Interaction `session` made progress.
    pub fn touched(&self, session: &str, now: Instant) {
        if let Some(last) = self.state.lock().expect("admission lock").open.get_mut(session) {
            *last = now;
        }
    }

    /// Interaction `session` ended: its slot is free.
    pub fn ended(&self, session: &str) {
        self.state.lock().expect("admission lock").open.remove(session);
    }

    /// Interactions under way (for logs and tests).
    pub fn open(&self) -> usize {
        self.state.lock().expect("admission lock").open.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_held_until_the_interaction_ends_or_goes_silent() {
        let admission = Admission::new(2, Duration::from_secs(30));
        let now = Instant::now();
        let first = admission.reserve(now).unwrap();
        let second = admission.reserve(now).unwrap();
        assert!(admission.reserve(now).is_none(), "two reservations fill two slots");
        drop(second);
        admission.started(first, "A", now);
        let third = admission.reserve(now).unwrap();
        admission.started(third, "B", now);
        assert!(admission.reserve(now).is_none());
        admission.ended("A");
        assert!(admission.reserve(now).is_some());
        admission.touched("B", now + Duration::from_secs(20));
        assert_eq!(admission.open(), 1);
        let later = now + Duration::from_secs(51);
        let _ = admission.reserve(later);
        assert_eq!(admission.open(), 0, "a silent interaction is forgotten");
    }
}
