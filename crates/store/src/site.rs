//! A whole site's configuration changed at once (`opendls config import`): desired values and
//! variables set and removed in one transaction, so a site file is applied all or not at all.

use std::future::Future;

use opendls_engine::{DesiredEntry, ItemKey, Scope, Timestamp, Variable};

use crate::StoreResult;

/// What applying a site file changes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SiteChange {
    /// Desired values to set (added or changed).
    pub set_values: Vec<DesiredEntry>,
    /// Desired values to remove.
    pub unset_values: Vec<(Scope, ItemKey)>,
    /// Variables to set (added or changed).
    pub set_variables: Vec<Variable>,
    /// Variables to remove, by scope and name.
    pub unset_variables: Vec<(Scope, String)>,
}

impl SiteChange {
    /// Whether it changes nothing.
    pub fn is_empty(&self) -> bool {
        self.set_values.is_empty()
            && self.unset_values.is_empty()
            && self.set_variables.is_empty()
            && self.unset_variables.is_empty()
    }
}

/// Storage of whole-site changes.
pub trait SiteStore: Send + Sync + 'static {
    /// Applies every part of `change` in one transaction, or (on failure) none.
    fn apply_site(&self, change: &SiteChange, now: Timestamp)
    -> impl Future<Output = StoreResult<()>> + Send;
}
