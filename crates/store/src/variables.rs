//! Template variables ([`opendls_engine::template`]): set per device, group or globally.

use std::future::Future;

use opendls_engine::{Scope, Timestamp, Variable};

use crate::StoreResult;

/// Storage of template variables.
pub trait VariableStore: Send + Sync + 'static {
    /// Sets variables, all of them or (on failure) none; an existing one of the same scope and
    /// name is replaced.
    fn set_variables(
        &self,
        variables: &[Variable],
        now: Timestamp,
    ) -> impl Future<Output = StoreResult<()>> + Send;
    /// Removes a variable; false when there was none.
    fn unset_variable(&self, scope: &Scope, name: &str) -> impl Future<Output = StoreResult<bool>> + Send;
    /// The variables at one scope, or at every scope, by scope and name.
    fn variables(&self, scope: Option<&Scope>) -> impl Future<Output = StoreResult<Vec<Variable>>> + Send;
}
