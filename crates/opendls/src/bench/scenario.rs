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
    /// The figure's unit, with its leading space (empty for counts).
    pub unit: &'static str,
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
    fn at_most(what: &'static str, measured: f64, most: f64, unit: &'static str) -> TargetCheck {
        TargetCheck { what, wanted: format!("<= {most}{unit}"), measured, unit, met: measured <= most }
    }

    fn below(what: &'static str, measured: f64, bound: f64, unit: &'static str) -> TargetCheck {
        TargetCheck { what, wanted: format!("< {bound}{unit}"), measured, unit, met: measured < bound }
    }

    /// The run's figure as a line shows it: whole numbers as such, others to one decimal.
    pub fn measured_text(&self) -> String {
        match self.measured.fract() == 0.0 {
            true => format!("{}{}", self.measured, self.unit),
            false => format!("{:.1}{}", self.measured, self.unit),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::TargetCheck;

    #[test]
    fn figures_are_shown_to_one_decimal_with_their_unit() {
        assert_eq!(TargetCheck::below("p99", 63.983112999999996, 100.0, " ms").measured_text(), "64.0 ms");
        assert_eq!(TargetCheck::at_most("overload answers", 0.0, 0.0, "").measured_text(), "0");
        assert_eq!(TargetCheck::below("server peak RSS", 83.25, 200.0, " MiB").measured_text(), "83.2 MiB");
    }
}
