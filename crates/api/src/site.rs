//! A whole site's configuration as a file (`opendls config export` / `import`): every desired
//! value and every variable, kept in version control and applied with a diff.

use serde::{Deserialize, Serialize};

use super::{ConfigEntry, DeviceChangeView, RenderProblem, VariableView};

/// A site file: `[[value]]` and `[[variable]]` tables in TOML, `value` and `variable` arrays in
/// JSON. Secret values are written masked; importing a masked value keeps the stored one.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiteConfiguration {
    /// Desired values at every scope.
    #[serde(default, rename = "value")]
    pub values: Vec<ConfigEntry>,
    /// Template variables at every scope.
    #[serde(default, rename = "variable")]
    pub variables: Vec<VariableView>,
}

/// Body of `POST /api/config/import`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SiteImport {
    /// The site as it should be.
    pub site: SiteConfiguration,
    /// Remove the stored values and variables the file does not name (otherwise kept).
    #[serde(default)]
    pub prune: bool,
    /// Store item names the catalog does not know.
    #[serde(default)]
    pub allow_unknown: bool,
    /// Work out the diff, store nothing.
    #[serde(default)]
    pub dry_run: bool,
}

/// One line of a site diff.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SiteDiffLine {
    /// What: `global sntp-addr`, `group berlin variable site`.
    pub what: String,
    /// The stored value (masked where secret), if any.
    #[serde(default)]
    pub before: Option<String>,
    /// The file's value (masked where secret), if any.
    #[serde(default)]
    pub after: Option<String>,
}

/// Answer of `POST /api/config/import`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SiteImportResult {
    /// Whether it was stored (false for a dry run).
    pub applied: bool,
    /// Values and variables the file adds.
    pub added: Vec<SiteDiffLine>,
    /// Values and variables the file changes.
    pub changed: Vec<SiteDiffLine>,
    /// Stored ones the file does not name, removed (`prune`).
    pub removed: Vec<SiteDiffLine>,
    /// Stored ones the file does not name, kept (no `prune`).
    pub kept: Vec<SiteDiffLine>,
    /// How many the file names as they are stored.
    pub unchanged: usize,
    /// Known devices whose effective configuration changes.
    pub devices_affected: usize,
    /// What changes for each touched device (the first 100).
    pub changes: Vec<DeviceChangeView>,
    /// Templates that cannot be rendered for a device after the change (the first 100).
    pub cannot_render: Vec<RenderProblem>,
    /// How many (device, item) pairs cannot be rendered after the change.
    pub cannot_render_total: usize,
}
