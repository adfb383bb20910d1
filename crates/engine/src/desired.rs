//! Resolving the desired configuration of one device: device beats group beats model beats
//! global, and templates are rendered with the device's facts and variables ([`crate::template`]).
//!
//! The phone endpoint and every administrator preview (`config effective`, `config check`,
//! `config diff`, a dry run) resolve through [`Configuration`]: what an administrator is shown
//! is what the phone is sent.

use std::collections::{BTreeMap, HashMap};

use opendls_wpi::Catalog;
use opendls_wpi::models::wildcard_match;

use crate::model::{DesiredEntry, DeviceRecord, ItemKey, Scope};
use crate::template::{DeviceFacts, Template, Variable, VariableUse, Variables, is_template};

/// The value each item should have, and the scope that decided it.
pub type EffectiveDesired = BTreeMap<ItemKey, (String, Scope)>;

/// One item's resolved value for a device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The value the device is sent.
    pub value: String,
    /// The scope whose entry decided it.
    pub scope: Scope,
    /// The template it was rendered from, if it was one.
    pub template: Option<String>,
    /// The variables the template used, and where each was set.
    pub variables: Vec<VariableUse>,
    /// Whether a secret variable went into the value (it is then masked wherever it is shown).
    pub secret_variable: bool,
}

/// An item whose winning entry is a template that cannot be rendered for the device: nothing
/// is written for it (a lower scope's value is not used instead, so a mistake never sends an
/// unintended value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unrenderable {
    /// The scope whose entry is the template.
    pub scope: Scope,
    /// The template.
    pub template: String,
    /// Why it cannot be rendered: a missing variable or fact, or the rendered value refused by
    /// the item catalog.
    pub reason: String,
}

/// A device's resolved configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resolution {
    /// Items with a value to send.
    pub values: BTreeMap<ItemKey, Resolved>,
    /// Items whose template cannot be rendered for this device.
    pub unrenderable: BTreeMap<ItemKey, Unrenderable>,
}

impl Resolution {
    /// The values only, as the engine uses them.
    pub fn effective(self) -> EffectiveDesired {
        self.values.into_iter().map(|(key, resolved)| (key, (resolved.value, resolved.scope))).collect()
    }
}

/// Desired entries and variables, indexed by scope to resolve any number of devices.
#[derive(Debug, Clone, Default)]
pub struct Configuration {
    global: BTreeMap<ItemKey, String>,
    /// Model patterns, least specific first (see [`model_specificity`]).
    models: Vec<(String, BTreeMap<ItemKey, String>)>,
    groups: HashMap<String, BTreeMap<ItemKey, String>>,
    devices: HashMap<String, BTreeMap<ItemKey, String>>,
    variables: Variables,
}

/// How specific a model pattern is: its characters that are not wildcards. Where several model
/// scopes match a device, the most specific wins (`OpenStage 60` over `OpenStage*`), then the
/// later name.
pub fn model_specificity(pattern: &str) -> usize {
    pattern.chars().filter(|c| !matches!(c, '*' | '?')).count()
}

impl Configuration {
    /// Indexes `entries` and `variables`.
    pub fn new(
        entries: impl IntoIterator<Item = DesiredEntry>,
        variables: impl IntoIterator<Item = Variable>,
    ) -> Self {
        let mut configuration = Configuration { variables: Variables::new(variables), ..Default::default() };
        let mut models: BTreeMap<String, BTreeMap<ItemKey, String>> = BTreeMap::new();
        for entry in entries {
            let DesiredEntry { scope, key, value } = entry;
            let values = match scope {
                Scope::Global => &mut configuration.global,
                Scope::Model(pattern) => models.entry(pattern).or_default(),
                Scope::Group(name) => configuration.groups.entry(name).or_default(),
                Scope::Device(mac) => configuration.devices.entry(mac).or_default(),
            };
            values.insert(key, value);
        }
        configuration.models = models.into_iter().collect();
        configuration.models.sort_by_key(|(pattern, _)| model_specificity(pattern));
        configuration
    }

    /// The winning entry of every item for `device`, lowest scope first so narrower ones replace.
    fn winners(&self, device: &DeviceFacts<'_>) -> BTreeMap<&ItemKey, (&str, Scope)> {
        let mut winners = BTreeMap::new();
        layer(&mut winners, &self.global, Scope::Global);
        for (pattern, values) in &self.models {
            if device.model.is_some_and(|model| wildcard_match(pattern, model)) {
                layer(&mut winners, values, Scope::Model(pattern.clone()));
            }
        }
        // The first group wins, so the groups are laid last to first.
        for (name, values) in device.groups().rev().filter_map(|g| self.groups.get_key_value(g)) {
            layer(&mut winners, values, Scope::Group(name.clone()));
        }
        if let Some((mac, values)) = self.devices.get_key_value(device.mac) {
            layer(&mut winners, values, Scope::Device(mac.clone()));
        }
        winners
    }

    /// Every item `device` should have.
    pub fn resolve(&self, device: &DeviceFacts<'_>) -> Resolution {
        self.resolve_only(device, |_| true)
    }

    /// The items `wanted` accepts, for `device`.
    pub fn resolve_only(&self, device: &DeviceFacts<'_>, wanted: impl Fn(&ItemKey) -> bool) -> Resolution {
        let mut resolution = Resolution::default();
        let winners = self.winners(device);
        // A number configured for the device (a provisioned device's) is its number from now on,
        // also for the values written together with it.
        let e164_key = ItemKey::new("e164", None);
        let configured = winners.get(&e164_key).map(|(value, _)| *value).filter(|value| !is_template(value));
        let facts = DeviceFacts { e164: configured.or(device.e164), ..*device };
        let device = &facts;
        for (key, (value, scope)) in winners.into_iter().filter(|(key, _)| wanted(key)) {
            if !is_template(value) {
                let resolved = Resolved {
                    value: value.to_owned(),
                    scope,
                    template: None,
                    variables: Vec::new(),
                    secret_variable: false,
                };
                resolution.values.insert(key.clone(), resolved);
                continue;
            }
            match render_checked(key, value, device, &self.variables) {
                Ok(rendered) => {
                    let resolved = Resolved {
                        value: rendered.value,
                        scope,
                        template: Some(value.to_owned()),
                        variables: rendered.variables,
                        secret_variable: rendered.secret,
                    };
                    resolution.values.insert(key.clone(), resolved);
                }
                Err(reason) => {
                    let unrenderable = Unrenderable { scope, template: value.to_owned(), reason };
                    resolution.unrenderable.insert(key.clone(), unrenderable);
                }
            }
        }
        resolution
    }
}

/// Lays one scope's values over the winners so far (wider scopes are laid first).
fn layer<'c>(
    winners: &mut BTreeMap<&'c ItemKey, (&'c str, Scope)>,
    values: &'c BTreeMap<ItemKey, String>,
    scope: Scope,
) {
    for (key, value) in values {
        winners.insert(key, (value.as_str(), scope.clone()));
    }
}

/// Renders a template for an item and checks the result against the catalog as a value set by
/// hand is checked.
fn render_checked(
    key: &ItemKey,
    template: &str,
    device: &DeviceFacts<'_>,
    variables: &Variables,
) -> Result<crate::template::Rendered, String> {
    let rendered = Template::parse(template)?.render(device, variables)?;
    let check = Catalog::builtin().check_write(&key.name, key.index, &rendered.value);
    match check.refusal_reason() {
        // The reason never quotes the value: it may be secret.
        Some(reason) => Err(format!("the rendered value is refused: {reason}")),
        None => Ok(rendered),
    }
}

/// The values `device` should have (templates rendered; unrenderable items left out).
pub fn effective_desired(
    entries: &[DesiredEntry],
    variables: &[Variable],
    device: &DeviceRecord,
) -> EffectiveDesired {
    Configuration::new(entries.iter().cloned(), variables.iter().cloned())
        .resolve(&DeviceFacts::of(device))
        .effective()
}

/// How many of `devices` resolve differently under `after` than under `before`, looking only
/// at the items `keys` names (`None`: every item). A device is touched when a value it would be
/// sent changes, appears or disappears, or a template starts or stops rendering.
pub fn devices_affected<'a>(
    before: &Configuration,
    after: &Configuration,
    keys: Option<&[ItemKey]>,
    devices: impl IntoIterator<Item = DeviceFacts<'a>>,
) -> usize {
    devices
        .into_iter()
        .filter(|device| !crate::preview::changes(before, after, keys, device).is_empty())
        .count()
}

#[cfg(test)]
#[path = "desired_tests.rs"]
mod tests;
