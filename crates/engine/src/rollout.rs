//! Staged rollouts: a job's targets released in waves (a canary first, then batches), paused by
//! itself when failures pass a threshold, resumed by an administrator. The store keeps them; the
//! admin API shows them as they are here.

use serde::{Deserialize, Serialize};

/// Part of a job's targets: a number of them, or a percentage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Share {
    /// This many targets.
    Targets(u32),
    /// This percentage (1-100).
    Percent(u32),
}

impl Share {
    /// Reads `5` or `10%`.
    pub fn parse(text: &str) -> Result<Share, String> {
        let text = text.trim();
        let bad = || format!("{text:?} is not a number of phones (5) or a percentage (10%)");
        match text.strip_suffix('%') {
            Some(percent) => match percent.trim().parse::<u32>() {
                Ok(p) if (1..=100).contains(&p) => Ok(Share::Percent(p)),
                _ => Err(bad()),
            },
            None => text.parse::<u32>().map(Share::Targets).map_err(|_| bad()),
        }
    }

    /// How many of `total` targets it is (a percentage rounded up, so 10% of 5 is 1).
    pub fn of(self, total: u32) -> u32 {
        match self {
            Share::Targets(n) => n.min(total),
            Share::Percent(p) => (u64::from(total) * u64::from(p)).div_ceil(100) as u32,
        }
    }
}

impl std::fmt::Display for Share {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Share::Targets(n) => write!(f, "{n}"),
            Share::Percent(p) => write!(f, "{p}%"),
        }
    }
}

/// How a job's targets are released.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rollout {
    /// The first wave; the rest waits until it is finished and within the failure threshold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary: Option<Share>,
    /// Targets per wave after the canary; absent: all the rest at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_size: Option<u32>,
    /// The job pauses itself when more targets than this have failed (a number, checked
    /// whenever a target ends) or a larger share of the finished ones (a percentage, checked
    /// when a wave is finished).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_failures: Option<Share>,
}

impl Rollout {
    /// Whether it releases anything in stages (else the job is an ordinary one).
    pub fn is_staged(&self) -> bool {
        self.canary.is_some() || self.batch_size.is_some()
    }

    /// The wave of each of `total` targets, in target order.
    pub fn waves(&self, total: u32) -> Vec<u32> {
        let canary = self.canary.map(|share| share.of(total).max(1)).unwrap_or(0);
        (0..total)
            .map(|n| match (n < canary, self.batch_size) {
                (true, _) => 0,
                (false, Some(size)) => 1 + (n - canary) / size.max(1),
                (false, None) => 1,
            })
            .map(|wave| if canary == 0 { wave.saturating_sub(1) } else { wave })
            .collect()
    }

    /// Why the job should pause, given its failures since the last resume and the targets
    /// finished so far; `wave_done` says whether the released targets are all finished.
    pub fn pause_reason(&self, failed: u32, finished: u32, wave_done: bool) -> Option<String> {
        let exceeded = match self.max_failures? {
            Share::Targets(limit) => failed > limit,
            Share::Percent(limit) => {
                wave_done && finished > 0 && u64::from(failed) * 100 > u64::from(limit) * u64::from(finished)
            }
        };
        exceeded.then(|| {
            format!(
                "{failed} of {finished} finished targets failed, more than max-failures {}: paused; \
                 `opendls job resume ID` goes on, `opendls job cancel ID` stops",
                self.max_failures.expect("checked")
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_read_and_count() {
        assert_eq!(Share::parse("5"), Ok(Share::Targets(5)));
        assert_eq!(Share::parse(" 10% "), Ok(Share::Percent(10)));
        assert!(Share::parse("0%").is_err() && Share::parse("ten").is_err() && Share::parse("150%").is_err());
        assert_eq!(Share::Percent(10).of(50), 5);
        assert_eq!(Share::Percent(10).of(5), 1, "rounded up");
        assert_eq!(Share::Targets(80).of(50), 50);
    }

    #[test]
    fn waves_are_a_canary_then_batches() {
        let rollout = Rollout { canary: Some(Share::Targets(2)), batch_size: Some(3), max_failures: None };
        assert_eq!(rollout.waves(9), [0, 0, 1, 1, 1, 2, 2, 2, 3]);
        let canary_only = Rollout { canary: Some(Share::Percent(10)), ..Rollout::default() };
        assert_eq!(canary_only.waves(20), [0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]);
        let batches = Rollout { batch_size: Some(2), ..Rollout::default() };
        assert_eq!(batches.waves(5), [0, 0, 1, 1, 2]);
    }

    #[test]
    fn failures_pause_past_the_threshold() {
        let counted = Rollout { max_failures: Some(Share::Targets(2)), ..Rollout::default() };
        assert!(counted.pause_reason(2, 5, false).is_none());
        assert!(counted.pause_reason(3, 3, false).unwrap().contains("3 of 3 finished targets failed"));
        let share = Rollout { max_failures: Some(Share::Percent(20)), ..Rollout::default() };
        assert!(share.pause_reason(2, 5, false).is_none(), "a share is judged when the wave is done");
        assert!(share.pause_reason(2, 5, true).is_some());
        assert!(share.pause_reason(1, 5, true).is_none());
    }
}
