//! How long ready work waits for the server's threads: the signal adaptive admission follows
//! ([`crate::admission::limit`]).
//!
//! A task asks to be woken every few milliseconds and notes how late it was. The runtime notices
//! timers and socket readiness at the same moments, so a phone's bytes that have arrived wait
//! about as long before anything reads them: under a storm this delay is the queue in front of
//! every handshake and every request, whatever their kind.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

/// Turns of the server's threads one exchange with a client may wait for (a TLS handshake: hello
/// in, flight out, finished in, and the task's own wake-up): what a delay per turn costs a
/// client in time that is the server's, not its own.
pub const TURNS_PER_EXCHANGE: u32 = 4;

/// How often the delay is measured (twenty times per interval of the adaptive bound).
pub const PERIOD: Duration = Duration::from_millis(5);

/// The largest scheduling delay of the last moments, shared with whatever must not mistake the
/// server's own queue for a client's slowness (the connection gate's eviction and deadlines).
#[derive(Debug, Clone, Default)]
pub struct RecentDelay(Arc<AtomicU64>);

impl RecentDelay {
    /// Notes a measurement: the recent delay is the larger of it and the earlier value decayed
    /// by a twentieth per measurement (about a tenth of a second to halve when measurements come
    /// every [`PERIOD`]; slower when the delay itself spaces them out).
    pub fn note(&self, delay: Duration) {
        let micros = delay.as_micros().min(u128::from(u64::MAX)) as u64;
        let _ = self.0.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |recent| {
            Some(micros.max(recent - recent / 20))
        });
    }

    /// The recent delay.
    pub fn get(&self) -> Duration {
        Duration::from_micros(self.0.load(Ordering::Relaxed))
    }
}

/// Measures the scheduling delay until `shutdown`, handing each measurement to `report`.
pub async fn measure(report: impl Fn(Instant, Duration), shutdown: CancellationToken) {
    loop {
        let asked = Instant::now();
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(PERIOD) => {}
        }
        let woke = Instant::now();
        // The timer rounds up to whole milliseconds: lateness below one is not a queue.
        let late = woke.saturating_duration_since(asked).saturating_sub(PERIOD + Duration::from_millis(1));
        report(woke, late);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[tokio::test(flavor = "current_thread")]
    async fn a_thread_kept_busy_shows_as_delay() {
        let seen: Arc<Mutex<Vec<Duration>>> = Arc::default();
        let shutdown = CancellationToken::new();
        let record = seen.clone();
        let measuring =
            tokio::spawn(measure(move |_, late| record.lock().unwrap().push(late), shutdown.clone()));
        tokio::time::sleep(PERIOD * 4).await;
        // Block the only thread for 50 ms, as a long handshake computation would.
        std::thread::sleep(Duration::from_millis(50));
        tokio::time::sleep(PERIOD * 4).await;
        shutdown.cancel();
        measuring.await.unwrap();
        let seen = seen.lock().unwrap();
        let longest = seen.iter().max().copied().unwrap_or_default();
        assert!(longest >= Duration::from_millis(40), "the blocked thread was seen: {seen:?}");
    }

    #[test]
    fn the_recent_delay_keeps_the_largest_and_forgets_slowly() {
        let recent = RecentDelay::default();
        recent.note(Duration::from_millis(100));
        recent.note(Duration::from_millis(1));
        assert_eq!(recent.get(), Duration::from_millis(95));
        for _ in 0..200 {
            recent.note(Duration::ZERO);
        }
        assert!(recent.get() < Duration::from_millis(1));
    }
}
