//! Desired firmware per model (and group): a pin names the image phones of a model should run;
//! phones that start up with another version get it through the pin's standing job, with the
//! guards of any firmware deployment (no downgrade unless allowed, a hold-off after a failure)
//! and a limit on how many are in flight at once.

use opendls_engine::{Deployable, JobId, Timestamp};
use serde::{Deserialize, Serialize};

/// A pin to set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewPin {
    /// The model pattern, in full (`OpenStage 60`, `OpenScape Desk Phone CP4*`).
    pub model: String,
    /// Only phones of this group; a group's pin wins over the model's pin for its phones.
    pub group: Option<String>,
    /// The image.
    pub image: Deployable,
    /// Install it on phones that run a newer version too.
    pub allow_downgrade: bool,
}

/// A pin in force.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FirmwarePin {
    /// The model pattern.
    pub model: String,
    /// The group, if the pin is for one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// The stored image.
    pub file_id: i64,
    /// Its version.
    pub version: String,
    /// Whether newer phones are downgraded.
    pub allow_downgrade: bool,
    /// The standing job that deploys it (`opendls job show ID`).
    pub job_id: JobId,
    /// When it was set.
    pub set_at: Timestamp,
}

/// How pins are applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PinLimits {
    /// Pinned deployments in flight at once, over all pins (a boot storm must not become a
    /// download storm).
    pub max_concurrent: u32,
    /// A phone whose pinned deployment failed is not tried again for this long (no loop).
    pub hold_off_secs: i64,
}

#[cfg(any(feature = "sqlite", feature = "postgres"))]
/// A pin's job never gives up: it stands until the pin changes (31 Dec 9999).
pub(crate) const STANDING: opendls_engine::Timestamp = 253_402_300_799;

#[cfg(any(feature = "sqlite", feature = "postgres"))]
/// Whether a phone that runs `running` gets its pin's image: it runs an older version, or a
/// newer one and the pin allows a downgrade. A version that does not read is left alone, and so
/// is every phone of a pin whose version does not read.
pub(crate) fn wants_pinned_version(pin: &FirmwarePin, running: &str) -> bool {
    use opendls_wpi::firmware::FirmwareVersion;
    let Some(target) = FirmwareVersion::parse(&pin.version) else { return false };
    match FirmwareVersion::parse(running) {
        Some(current) => current < target || (current > target && pin.allow_downgrade),
        None => false,
    }
}
