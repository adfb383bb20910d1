//! Function-key and key-module layouts: a named set of programmable keys (function, label,
//! parameters) rendered into the items a phone takes, for the models it fits.
//!
//! Key numbering (guide p. 120): the normal level is 1..n, the shifted level 1001..100n.
//! Key-module keys use 301-312 / 1301-1312 for the first module and 401-412 / 1401-1412 for the
//! second; those numbers, and 12 keys a module, come from working third-party servers, not
//! from the guide (docs/wpi-items-notes.md), and are marked so in every rendering.

use std::collections::{BTreeMap, BTreeSet};

use opendls_wpi::models::PhoneModel;
use serde::{Deserialize, Serialize};

use crate::model::ItemKey;

/// Keys per key module, as third-party servers number them (unverified).
pub const MODULE_KEYS: u16 = 12;

/// Key modules a phone takes at the most, as third-party servers number them (unverified).
pub const MAX_MODULES: u8 = 2;

/// A named layout, as written in a TOML file (`[[key]]` tables) or sent as JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Layout {
    /// Its name.
    pub name: String,
    /// What it is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Its keys.
    #[serde(rename = "key", default)]
    pub keys: Vec<KeyDefinition>,
}

/// One programmable key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyDefinition {
    /// The key's number on its level, from 1.
    pub key: u16,
    /// On the shifted level.
    #[serde(default)]
    pub shifted: bool,
    /// On key module 1 or 2 instead of the phone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub module: Option<u8>,
    /// The function: a name from [`FUNCTIONS`] or a feature id.
    pub function: FunctionRef,
    /// The label shown next to the key (`key-label-unicode`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// BLF: the monitored phone (`stimulus-led-control-uri`, p. 138).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// BLF: signal a call at the monitored phone acoustically (`blf-audible`, p. 138).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audible: Option<bool>,
    /// BLF: open a popup for a call at the monitored phone (`blf-popup`, p. 138).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub popup: Option<bool>,
    /// Selected dialling: the number dialled (`select-dial`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number: Option<String>,
    /// Any other item of this key, by name, written with the key's index.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub items: BTreeMap<String, String>,
}

/// A key's function, by name or by feature id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum FunctionRef {
    /// A feature id (`function-key-def`).
    Id(u32),
    /// A name from [`FUNCTIONS`].
    Name(String),
}

/// A known key function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyFunction {
    /// Its name in layouts.
    pub name: &'static str,
    /// Its feature id, the value of `function-key-def`.
    pub id: u32,
    /// Whether the guide gives the id (p. 120-122, 138); the others come from working
    /// third-party servers and are warned about, never refused.
    pub in_guide: bool,
}

const fn function(name: &'static str, id: u32, in_guide: bool) -> KeyFunction {
    KeyFunction { name, id, in_guide }
}

/// The key functions a layout may name (docs/wpi-items-notes.md, "function-key-def feature ids").
pub const FUNCTIONS: &[KeyFunction] = &[
    function("clear", 0, false),
    function("selected-dialling", 1, false),
    function("repeat-dialling", 3, true),
    function("forwarding", 6, true),
    function("ringer-off", 9, false),
    function("hold", 10, false),
    function("alternate", 11, false),
    function("blind-transfer", 12, false),
    function("transfer", 13, false),
    function("deflect", 14, false),
    function("shift", 18, false),
    function("conference", 22, false),
    function("headset", 24, false),
    function("do-not-disturb", 25, false),
    function("group-pickup", 29, false),
    function("repertory-dial", 30, false),
    function("line", 31, false),
    function("consultation", 50, false),
    function("server-feature", 54, true),
    function("aics-zip-tone", 57, true),
    function("feature-toggle", 58, false),
    function("blf", 59, true),
    function("xml-application", 60, false),
    function("send-url", 63, false),
];

const BLF: u32 = 59;
const SELECTED_DIALLING: u32 = 1;

/// A layout rendered for a model: item values, and what is worth knowing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RenderedLayout {
    /// The values to set, by item.
    pub values: BTreeMap<ItemKey, String>,
    /// Facts used that the guide does not give (third-party numbering, feature ids).
    pub warnings: Vec<String>,
}

impl KeyDefinition {
    /// Where the key is, for messages: `key 3`, `shifted key 3`, `key module 1 key 3`.
    pub fn place(&self) -> String {
        let level = if self.shifted { "shifted " } else { "" };
        match self.module {
            Some(module) => format!("key module {module} {level}key {}", self.key),
            None => format!("{level}key {}", self.key),
        }
    }

    /// The index of this key's items.
    pub fn index(&self) -> u32 {
        let base = match self.module {
            Some(module) => 200 + 100 * u32::from(module),
            None => 0,
        };
        base + u32::from(self.key) + if self.shifted { 1000 } else { 0 }
    }
}

impl Layout {
    /// The item values of the layout on `model`, or every reason it does not fit.
    pub fn render_for(&self, model: &PhoneModel) -> Result<RenderedLayout, Vec<String>> {
        let mut problems = self.shape_problems();
        let mut rendered = RenderedLayout::default();
        let device_type = model.device_type();
        let mut unverified = BTreeSet::new();
        for key in &self.keys {
            let place = key.place();
            if let Err(why) = fits(key, model, &device_type) {
                problems.push(format!("{place}: {why}"));
                continue;
            }
            if key.module.is_some() {
                unverified.insert(
                    "key-module key numbers (301-312, 401-412) come from third-party servers".to_owned(),
                );
            }
            let id = match resolve_function(&key.function) {
                Ok((id, Some(f))) if !f.in_guide => {
                    unverified.insert(format!("feature id {id} ({}) comes from third-party servers", f.name));
                    id
                }
                Ok((id, None)) => {
                    unverified.insert(format!("feature id {id} is not in opendls' list of key functions"));
                    id
                }
                Ok((id, Some(_))) => id,
                Err(why) => {
                    problems.push(format!("{place}: {why}"));
                    continue;
                }
            };
            match key_items(key, id) {
                Ok(items) => {
                    let index = key.index();
                    rendered.values.extend(
                        items.into_iter().map(|(name, value)| (ItemKey::new(name, Some(index)), value)),
                    );
                }
                Err(why) => problems.push(format!("{place}: {why}")),
            }
        }
        rendered.warnings =
            unverified.into_iter().map(|w| format!("not verified in the guide: {w}")).collect();
        match problems.is_empty() {
            true => Ok(rendered),
            false => Err(problems),
        }
    }

    /// Problems that do not depend on the model: a name, keys numbered from 1, none twice.
    fn shape_problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.name.trim().is_empty() {
            problems.push("the layout has no name".to_owned());
        }
        if self.keys.is_empty() {
            problems.push("the layout has no keys ([[key]] tables)".to_owned());
        }
        let mut seen = BTreeSet::new();
        for key in &self.keys {
            if key.key == 0 {
                problems.push(format!("{}: keys are numbered from 1", key.place()));
            } else if !seen.insert(key.index()) {
                problems.push(format!("{} is defined twice", key.place()));
            }
        }
        problems
    }
}

/// Whether the key exists on the model.
fn fits(key: &KeyDefinition, model: &PhoneModel, device_type: &str) -> Result<(), String> {
    match key.module {
        Some(module) if model.key_modules.is_empty() => {
            Err(format!("{device_type} takes no key module (module {module} asked for)"))
        }
        Some(module) if module == 0 || module > MAX_MODULES => {
            Err(format!("key modules are numbered 1-{MAX_MODULES}"))
        }
        Some(_) if key.key > MODULE_KEYS => Err(format!("a key module has keys 1-{MODULE_KEYS}")),
        Some(_) => Ok(()),
        None => match model.programmable_keys {
            None => Err(format!(
                "the guide does not give the programmable keys of {device_type}, so opendls cannot check a layout for it"
            )),
            Some(keys) if key.key > keys => {
                Err(format!("{device_type} has programmable keys 1-{keys} (guide p. 120)"))
            }
            Some(_) => Ok(()),
        },
    }
}

/// The feature id of a function, and the known function it is.
fn resolve_function(function: &FunctionRef) -> Result<(u32, Option<&'static KeyFunction>), String> {
    match function {
        FunctionRef::Id(id) => Ok((*id, FUNCTIONS.iter().find(|f| f.id == *id))),
        FunctionRef::Name(name) => {
            let wanted = name.trim().to_ascii_lowercase();
            match FUNCTIONS.iter().find(|f| f.name == wanted) {
                Some(f) => Ok((f.id, Some(f))),
                None => {
                    let known: Vec<&str> = FUNCTIONS.iter().map(|f| f.name).collect();
                    Err(format!("unknown function {name:?}; known: {} (or a feature id)", known.join(", ")))
                }
            }
        }
    }
}

/// The items of one key (name and value; the index is the key's).
fn key_items(key: &KeyDefinition, id: u32) -> Result<Vec<(String, String)>, String> {
    let mut items = vec![("function-key-def".to_owned(), id.to_string())];
    if let Some(label) = &key.label {
        items.push(("key-label-unicode".to_owned(), label.clone()));
    }
    let blf = [
        ("target", key.target.clone()),
        ("audible", key.audible.map(|b| b.to_string())),
        ("popup", key.popup.map(|b| b.to_string())),
    ];
    for (parameter, value) in blf {
        let Some(value) = value else { continue };
        if id != BLF {
            return Err(format!("{parameter} is for BLF keys (function blf) only"));
        }
        let item = match parameter {
            "target" => "stimulus-led-control-uri",
            "audible" => "blf-audible",
            _ => "blf-popup",
        };
        items.push((item.to_owned(), value));
    }
    if let Some(number) = &key.number {
        if id != SELECTED_DIALLING {
            return Err("number is for selected-dialling keys only".into());
        }
        items.push(("select-dial".to_owned(), number.clone()));
    }
    for (name, value) in &key.items {
        if items.iter().any(|(taken, _)| taken == name) {
            return Err(format!("{name} is set twice (by the key's fields and its items)"));
        }
        items.push((name.clone(), value.clone()));
    }
    Ok(items)
}

#[cfg(test)]
#[path = "layout_tests.rs"]
mod tests;
