//! Waiting for a slot instead of being told `overload` at once.
//!
//! A phone starting an interaction has already paid for its TLS handshake when admission sees
//! it. Told `overload`, it pays another one to retry; held for a moment until an interaction
//! ends, it pays nothing more, and the server has ready work the moment a slot frees, which
//! keeps its threads busy while the phones told `overload` are away. So a request that finds
//! every slot taken waits, up to a deadline, if there is room: as many may wait as interactions
//! end within the wait (at least as many as may be under way), since more would be told
//! `overload` anyway, only later. How long a phone waits for an answer before giving up is not
//! documented (docs/wpi-protocol.md §16): the wait stays well below the handshake deadline.

use std::net::IpAddr;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::{Admission, Overload, Reservation};

/// A waiting phone checks again this often even without being woken (a stalled first step
/// giving way, a silent interaction forgotten: nothing signals those).
const RECHECK: Duration = Duration::from_millis(100);

/// Counts a waiting phone while it waits.
struct Waiting<'a>(&'a Admission);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.waiting.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Admission {
    /// Reserves a slot as [`Admission::reserve`] does, but when every slot is taken waits for
    /// one for at most `wait` (if there is room to wait, see the module's documentation).
    pub async fn reserve_within(
        &self,
        address: IpAddr,
        mac: Option<&str>,
        wait: Duration,
    ) -> Result<Reservation<'_>, Overload> {
        let deadline = Instant::now() + wait;
        let first = self.reserve(Instant::now(), address, mac);
        if !matches!(first, Err(Overload::Full)) || wait.is_zero() {
            return first;
        }
        if self.waiting.fetch_add(1, Ordering::Relaxed) >= self.room_to_wait(wait) {
            self.waiting.fetch_sub(1, Ordering::Relaxed);
            return first;
        }
        let _waiting = Waiting(self);
        loop {
            let now = Instant::now();
            if now >= deadline {
                return Err(Overload::Full);
            }
            let _ = tokio::time::timeout(RECHECK.min(deadline - now), self.freed.notified()).await;
            match self.reserve(Instant::now(), address, mac) {
                Err(Overload::Full) => continue,
                other => return other,
            }
        }
    }

    /// Phones waiting for a slot (for the metrics).
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 2));

    /// Room for one interaction, taken by one that is progressing.
    fn full() -> Admission {
        let admission = Admission::new(super::super::tests::limits(1), Instant::now());
        let first = admission.reserve(Instant::now(), A, Some("M1")).unwrap();
        admission.started(first, "S1", Instant::now());
        admission.touched("S1", Instant::now());
        admission
    }

    #[tokio::test]
    async fn a_newcomer_waits_for_an_interaction_to_end() {
        let admission = full();
        let waiting = admission.reserve_within(A, Some("M2"), Duration::from_secs(5));
        let ending = async {
            tokio::time::sleep(Duration::from_millis(30)).await;
            admission.ended("S1");
        };
        let started = Instant::now();
        let (reserved, ()) = tokio::join!(waiting, ending);
        assert!(reserved.is_ok(), "admitted when S1 ended");
        assert!(started.elapsed() < Duration::from_secs(1), "woken, not timed out");
        assert_eq!(admission.waiting(), 0);
    }

    #[tokio::test]
    async fn the_wait_is_bounded_in_time_and_in_numbers() {
        let admission = full();
        let started = Instant::now();
        let one = admission.reserve_within(A, Some("M2"), Duration::from_millis(150));
        let two = async {
            tokio::time::sleep(Duration::from_millis(20)).await;
            let refused = admission.reserve_within(A, Some("M3"), Duration::from_secs(5)).await;
            (refused.map(|_| ()), started.elapsed())
        };
        let (one, (two, two_after)) = tokio::join!(one, two);
        assert_eq!(one.unwrap_err(), Overload::Full, "told overload at its deadline");
        assert!(started.elapsed() >= Duration::from_millis(150));
        assert_eq!(two, Err(Overload::Full));
        assert!(two_after < Duration::from_millis(140), "no room to wait: told at once");
    }
}
