//! The adaptive bound on interactions under way: it follows how long ready work waits for the
//! server's threads (the scheduling delay), not a number fixed in advance.
//!
//! Under a boot storm the server's cost is CPU (TLS handshakes, parsing, the database in place):
//! work that is ready but waits for a thread is the queue that makes phones wait. A fixed bound
//! is either too low (the core idles while phones are told `overload` and pay a new handshake
//! to retry) or too high (every phone waits behind every other). So, as CoDel does for packet
//! queues, the bound looks at the *smallest* delay seen over each interval: a burst that drains
//! within the interval leaves a small minimum; a standing queue does not.
//! - The minimum stayed above the target: the queue is standing. The bound shrinks by a tenth,
//!   so phones starting new interactions are told `overload` and come back later, while those
//!   already admitted finish sooner.
//! - The minimum stayed below the target and the bound was reached (admission was what held
//!   work back): the bound grows by a twentieth (at least one).
//! - Neither: the bound stays (an idle server does not inflate it).
//!
//! Multiplicative steps both ways keep the adjustment proportionate from a handful of
//! interactions to thousands. Time is given by the caller (no clock is read here).

use std::time::{Duration, Instant};

/// The settings of an adaptive bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitSettings {
    /// The bound never falls below this.
    pub floor: usize,
    /// The bound never rises above this.
    pub ceiling: usize,
    /// A standing scheduling delay above this shrinks the bound; `None` keeps it at `ceiling`.
    pub target_delay: Option<Duration>,
    /// How long each minimum is taken over.
    pub interval: Duration,
}

/// An adaptive bound: fed delays and the count of open interactions, it answers the bound.
#[derive(Debug, Clone)]
pub struct AdaptiveLimit {
    settings: LimitSettings,
    bound: f64,
    interval_start: Instant,
    smallest_delay: Option<Duration>,
    reached: bool,
}

/// The bound an adaptive limit starts from: enough for the interactions of a quiet site and
/// the first moments of a storm, before the first measurement says more.
const INITIAL_BOUND: usize = 64;

/// Shrink factor per interval of standing delay.
const DECREASE: f64 = 0.9;

/// Growth factor per interval in which the bound was reached without a standing delay.
const INCREASE: f64 = 1.05;

impl AdaptiveLimit {
    /// A bound within `settings`, measured from `now`.
    pub fn new(settings: LimitSettings, now: Instant) -> AdaptiveLimit {
        let ceiling = settings.ceiling.max(1);
        let floor = settings.floor.clamp(1, ceiling);
        let settings = LimitSettings { floor, ceiling, ..settings };
        let bound = match settings.target_delay {
            Some(_) => INITIAL_BOUND.clamp(floor, ceiling),
            None => ceiling,
        };
        AdaptiveLimit {
            settings,
            bound: bound as f64,
            interval_start: now,
            smallest_delay: None,
            reached: false,
        }
    }

    /// The current bound.
    pub fn bound(&self) -> usize {
        self.bound as usize
    }

    /// Admission found `open` interactions under way (those reserved included).
    pub fn saw_open(&mut self, open: usize) {
        if open >= self.bound() {
            self.reached = true;
        }
    }

    /// Ready work waited `delay` for a thread at `now`; at the end of an interval the bound moves.
    pub fn saw_delay(&mut self, now: Instant, delay: Duration) {
        self.smallest_delay = Some(self.smallest_delay.map_or(delay, |smallest| smallest.min(delay)));
        self.tick(now);
    }

    /// Ends the interval if it is over. An interval without any measurement (the measuring task
    /// itself could not run) counts as one whose delay was its whole length.
    pub fn tick(&mut self, now: Instant) {
        let Some(target) = self.settings.target_delay else { return };
        let elapsed = now.saturating_duration_since(self.interval_start);
        if elapsed < self.settings.interval {
            return;
        }
        let smallest = self.smallest_delay.unwrap_or(elapsed);
        let (floor, ceiling) = (self.settings.floor as f64, self.settings.ceiling as f64);
        if smallest > target {
            self.bound = (self.bound * DECREASE).max(floor);
        } else if self.reached {
            self.bound = (self.bound * INCREASE).max(self.bound + 1.0).min(ceiling);
        }
        self.interval_start = now;
        self.smallest_delay = None;
        self.reached = false;
    }
}

/// Interactions ended per second, smoothed: how many phones waiting for a slot can be served
/// within a given wait.
#[derive(Debug, Clone)]
pub struct CompletionRate {
    window_start: Instant,
    ended_in_window: u32,
    per_sec: f64,
}

/// How long each count of ended interactions is taken over.
const RATE_WINDOW: Duration = Duration::from_millis(500);

impl CompletionRate {
    /// No completions yet, counted from `now`.
    pub fn new(now: Instant) -> CompletionRate {
        CompletionRate { window_start: now, ended_in_window: 0, per_sec: 0.0 }
    }

    /// An interaction ended.
    pub fn ended(&mut self) {
        self.ended_in_window += 1;
    }

    /// Closes the window if it is over: the rate moves halfway to the window's.
    pub fn tick(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.window_start);
        if elapsed >= RATE_WINDOW {
            let window = f64::from(self.ended_in_window) / elapsed.as_secs_f64();
            self.per_sec = (self.per_sec + window) / 2.0;
            self.window_start = now;
            self.ended_in_window = 0;
        }
    }

    /// Interactions ended per second.
    pub fn per_sec(&self) -> f64 {
        self.per_sec
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const INTERVAL: Duration = Duration::from_millis(100);

    fn settings(target_ms: Option<u64>) -> LimitSettings {
        LimitSettings {
            floor: 8,
            ceiling: 1000,
            target_delay: target_ms.map(Duration::from_millis),
            interval: INTERVAL,
        }
    }

    /// Runs `intervals` intervals, each with these delays and open interactions.
    fn run(limit: &mut AdaptiveLimit, start: &mut Instant, intervals: u32, delays_ms: &[u64], open: usize) {
        for _ in 0..intervals {
            limit.saw_open(open);
            for (n, delay) in delays_ms.iter().enumerate() {
                let at = *start + INTERVAL.mul_f64(n as f64 / delays_ms.len() as f64);
                limit.saw_delay(at, Duration::from_millis(*delay));
            }
            *start += INTERVAL;
            limit.tick(*start);
        }
    }

    #[test]
    fn a_standing_delay_shrinks_the_bound_down_to_the_floor() {
        let mut start = Instant::now();
        let mut limit = AdaptiveLimit::new(settings(Some(10)), start);
        assert_eq!(limit.bound(), 64);
        run(&mut limit, &mut start, 1, &[40, 30, 50], 64);
        assert_eq!(limit.bound(), 57, "a tenth less");
        run(&mut limit, &mut start, 100, &[40, 30, 50], 64);
        assert_eq!(limit.bound(), 8);
    }

    #[test]
    fn a_burst_that_drains_within_the_interval_does_not_shrink_it() {
        let mut start = Instant::now();
        let mut limit = AdaptiveLimit::new(settings(Some(10)), start);
        run(&mut limit, &mut start, 5, &[200, 80, 2], 10);
        assert_eq!(limit.bound(), 64, "not reached, not standing: unchanged");
    }

    #[test]
    fn the_bound_grows_only_while_it_is_what_holds_work_back() {
        let mut start = Instant::now();
        let mut limit = AdaptiveLimit::new(settings(Some(10)), start);
        run(&mut limit, &mut start, 1, &[1, 2], 64);
        assert_eq!(limit.bound(), 67);
        run(&mut limit, &mut start, 200, &[1, 2], 2000);
        assert_eq!(limit.bound(), 1000, "up to the ceiling");
        run(&mut limit, &mut start, 3, &[1, 2], 5);
        assert_eq!(limit.bound(), 1000, "an idle server keeps it");
    }

    #[test]
    fn an_interval_without_measurements_counts_as_a_stall() {
        let mut start = Instant::now();
        let mut limit = AdaptiveLimit::new(settings(Some(10)), start);
        start += Duration::from_millis(500);
        limit.tick(start);
        assert_eq!(limit.bound(), 57);
    }

    #[test]
    fn the_completion_rate_follows_what_ends() {
        let mut now = Instant::now();
        let mut rate = CompletionRate::new(now);
        for _ in 0..8 {
            for _ in 0..100 {
                rate.ended();
            }
            now += RATE_WINDOW;
            rate.tick(now);
        }
        assert!((rate.per_sec() - 200.0).abs() < 1.0, "{}", rate.per_sec());
        for _ in 0..8 {
            now += RATE_WINDOW;
            rate.tick(now);
        }
        assert!(rate.per_sec() < 1.0, "{}", rate.per_sec());
    }

    #[test]
    fn without_a_target_the_bound_is_the_ceiling() {
        let mut start = Instant::now();
        let mut limit = AdaptiveLimit::new(settings(None), start);
        run(&mut limit, &mut start, 10, &[500], 1000);
        assert_eq!(limit.bound(), 1000);
        let tiny = AdaptiveLimit::new(LimitSettings { floor: 50, ceiling: 10, ..settings(Some(5)) }, start);
        assert_eq!(tiny.bound(), 10, "a floor above the ceiling is the ceiling");
    }
}
