//! `bench storm --scenario`: the storms issue 21 sets targets for, run and checked as one.

use serde::Serialize;

use super::StormReport;

/// A storm with targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Scenario {
    /// 10,000 phones within 60 s: none failed, none told `overload`, p99 under 100 ms.
    TenThousandInAMinute,
    /// 100,000 phones within 5 minutes: none failed, the server's peak RSS under 200 MiB.
    HundredThousandInFiveMinutes,
}

/// One target and whether the run met it.
#[derive(Debug, Clone, Serialize)]
pub struct TargetCheck {
    /// What is measured.
    pub what: &'static str,
    /// The target, as text.
    pub wanted: String,
    /// The run's figure.
    pub measured: f64,
    /// Whether the figure meets the target.
    pub met: bool,
}

impl Scenario {
    /// Phones in the storm.
    pub fn phones(self) -> u32 {
        match self {
            Scenario::TenThousandInAMinute => 10_000,
            Scenario::HundredThousandInFiveMinutes => 100_000,
        }
    }

    /// Seconds within which they boot.
    pub fn boot_within_secs(self) -> f64 {
        match self {
            Scenario::TenThousandInAMinute => 60.0,
            Scenario::HundredThousandInFiveMinutes => 300.0,
        }
    }

    /// The run measured against this scenario's targets.
    pub fn check(self, report: &StormReport) -> Vec<TargetCheck> {
        let failed = TargetCheck::at_most("failed phones", f64::from(report.storm.failed), 0.0, "");
        match self {
            Scenario::TenThousandInAMinute => vec![
                failed,
                TargetCheck::at_most("overload answers", f64::from(report.storm.overload_answers), 0.0, ""),
                TargetCheck::below("interaction p99", report.storm.interaction_latency.p99_ms, 100.0, " ms"),
            ],
            Scenario::HundredThousandInFiveMinutes => {
                vec![failed, TargetCheck::below("server peak RSS", report.server_peak_rss_mib, 200.0, " MiB")]
            }
        }
    }
}

impl TargetCheck {
    fn at_most(what: &'static str, measured: f64, most: f64, unit: &str) -> TargetCheck {
        TargetCheck { what, wanted: format!("<= {most}{unit}"), measured, met: measured <= most }
    }

    fn below(what: &'static str, measured: f64, bound: f64, unit: &str) -> TargetCheck {
        TargetCheck { what, wanted: format!("< {bound}{unit}"), measured, met: measured < bound }
    }
}
