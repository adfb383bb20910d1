//! Function-key layouts in the admin API: `POST /api/layouts/apply`.

use opendls_engine::layout::Layout;
use serde::{Deserialize, Serialize};

use super::ConfigChangeResult;

/// Body of `POST /api/layouts/apply`: a layout to set at a model scope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayoutApply {
    /// The layout (as in its TOML file).
    pub layout: Layout,
    /// The model pattern (`OpenStage 60`, `OpenStage *`, `IP 55G`); every model it names must
    /// fit the layout.
    pub model: String,
    /// Check, render and count, store nothing.
    #[serde(default)]
    pub dry_run: bool,
}

/// One item value a layout renders.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayoutValue {
    /// `name[index]`.
    pub item: String,
    /// The value (a template is rendered per device).
    pub value: String,
}

/// Answer of `POST /api/layouts/apply`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayoutApplied {
    /// The layout's name.
    pub layout: String,
    /// The model scope it is set at (full form).
    pub model: String,
    /// The models that scope names.
    pub models: Vec<String>,
    /// The item values it renders to.
    pub values: Vec<LayoutValue>,
    /// Facts used that the guide does not give.
    pub warnings: Vec<String>,
    /// What storing them does (or would do, in a dry run).
    pub change: ConfigChangeResult,
}
