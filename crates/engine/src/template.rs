//! Values with placeholders: `sip-user-id={{device.e164}}`, `display-id-unicode={{device.var.name}}`.
//!
//! A desired value that contains `{{` is a template. It is rendered for each device when the
//! device's configuration is resolved ([`crate::desired`]), by the same code for the phone
//! endpoint and for every administrator preview, so what `opendls config effective` shows is what
//! the phone is sent. A template that cannot be rendered for a device is never written to it.

use std::borrow::Cow;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::model::Scope;

/// Longest variable name.
pub const MAX_VARIABLE_NAME: usize = 64;

/// Longest variable value (the longest item values, certificates aside, are URLs and texts of a
/// few hundred characters).
pub const MAX_VARIABLE_VALUE: usize = 4096;

/// A variable set at global, group or device scope, used by templates.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Variable {
    /// Where it is set (never a model scope).
    pub scope: Scope,
    /// Its name: letters, digits, `_` and `-`.
    pub name: String,
    /// Its value.
    pub value: String,
    /// Whether its value is secret (a SIP password per device): masked in every listing and in
    /// every rendered value that uses it.
    #[serde(default)]
    pub secret: bool,
}

impl fmt::Debug for Variable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let value = if self.secret { opendls_wpi::secrets::MASK } else { self.value.as_str() };
        f.debug_struct("Variable")
            .field("scope", &self.scope)
            .field("name", &self.name)
            .field("value", &value)
            .finish()
    }
}

/// Checks a variable's name; the error says what a name may hold.
pub fn check_variable_name(name: &str) -> Result<(), String> {
    let valid = !name.is_empty()
        && name.len() <= MAX_VARIABLE_NAME
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if valid {
        Ok(())
    } else {
        Err(format!("{name:?} is not a variable name (1 to {MAX_VARIABLE_NAME} letters, digits, '_' or '-')"))
    }
}

/// What a placeholder names.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind", content = "name")]
pub enum Placeholder {
    /// `{{device.e164}}`: the number configured for the device (a desired `e164`, as a
    /// provisioned device sets it), else the one it reports.
    DeviceE164,
    /// `{{device.mac}}`: `00:1A:E8:00:00:01`.
    DeviceMac,
    /// `{{device.mac-plain}}`: `001ae8000001`, as file names on provisioning servers use it.
    DeviceMacPlain,
    /// `{{device.model}}`: the reported `device-type`.
    DeviceModel,
    /// `{{device.var.NAME}}`: the device's own variable.
    DeviceVar(String),
    /// `{{group.var.NAME}}`: the variable of the device's group.
    GroupVar(String),
    /// `{{global.var.NAME}}`: the global variable.
    GlobalVar(String),
    /// `{{var.NAME}}`: the nearest of the device's, its group's and the global variable.
    NearestVar(String),
}

impl Placeholder {
    fn parse(text: &str) -> Result<Placeholder, String> {
        let var = |name: &str, make: fn(String) -> Placeholder| {
            check_variable_name(name).map(|()| make(name.to_owned()))
        };
        match text.trim() {
            "device.e164" => Ok(Placeholder::DeviceE164),
            "device.mac" => Ok(Placeholder::DeviceMac),
            "device.mac-plain" => Ok(Placeholder::DeviceMacPlain),
            "device.model" => Ok(Placeholder::DeviceModel),
            other => {
                if let Some(name) = other.strip_prefix("device.var.") {
                    var(name, Placeholder::DeviceVar)
                } else if let Some(name) = other.strip_prefix("group.var.") {
                    var(name, Placeholder::GroupVar)
                } else if let Some(name) = other.strip_prefix("global.var.") {
                    var(name, Placeholder::GlobalVar)
                } else if let Some(name) = other.strip_prefix("var.") {
                    var(name, Placeholder::NearestVar)
                } else {
                    Err(format!(
                        "unknown placeholder {{{{{other}}}}} (device.e164, device.mac, device.mac-plain, \
                         device.model, device.var.NAME, group.var.NAME, global.var.NAME, var.NAME)"
                    ))
                }
            }
        }
    }
}

impl fmt::Display for Placeholder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Placeholder::DeviceE164 => f.write_str("device.e164"),
            Placeholder::DeviceMac => f.write_str("device.mac"),
            Placeholder::DeviceMacPlain => f.write_str("device.mac-plain"),
            Placeholder::DeviceModel => f.write_str("device.model"),
            Placeholder::DeviceVar(name) => write!(f, "device.var.{name}"),
            Placeholder::GroupVar(name) => write!(f, "group.var.{name}"),
            Placeholder::GlobalVar(name) => write!(f, "global.var.{name}"),
            Placeholder::NearestVar(name) => write!(f, "var.{name}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    Slot(Placeholder),
}

/// A parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    parts: Vec<Part>,
}

/// Whether a value is a template (it contains `{{`).
pub fn is_template(value: &str) -> bool {
    value.contains("{{")
}

impl Template {
    /// Parses a value; `Err` says what is wrong (an unclosed `{{`, an unknown placeholder).
    pub fn parse(value: &str) -> Result<Template, String> {
        let mut parts = Vec::new();
        let mut rest = value;
        while let Some(start) = rest.find("{{") {
            if start > 0 {
                parts.push(Part::Text(rest[..start].to_owned()));
            }
            let after = &rest[start + 2..];
            let Some(end) = after.find("}}") else {
                return Err("a '{{' is not closed by '}}'".into());
            };
            parts.push(Part::Slot(Placeholder::parse(&after[..end])?));
            rest = &after[end + 2..];
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_owned()));
        }
        Ok(Template { parts })
    }

    /// Renders the template for one device.
    pub fn render(&self, device: &DeviceFacts<'_>, variables: &Variables) -> Result<Rendered, String> {
        let mut rendered = Rendered::default();
        for part in &self.parts {
            match part {
                Part::Text(text) => rendered.value.push_str(text),
                Part::Slot(placeholder) => {
                    let (value, used) = lookup(placeholder, device, variables)?;
                    rendered.value.push_str(&value);
                    if let Some(variable) = used {
                        rendered.secret |= variable.secret;
                        rendered.variables.push(VariableUse {
                            placeholder: placeholder.clone(),
                            scope: variable.scope.clone(),
                        });
                    }
                }
            }
        }
        Ok(rendered)
    }
}

/// A rendered template.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rendered {
    /// The value the device gets.
    pub value: String,
    /// Which variables it used, and where each was set.
    pub variables: Vec<VariableUse>,
    /// Whether a secret variable went into it.
    pub secret: bool,
}

/// One variable a rendered value used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VariableUse {
    /// The placeholder, as written.
    pub placeholder: Placeholder,
    /// The scope whose variable filled it.
    pub scope: Scope,
}

/// What templates know of a device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceFacts<'a> {
    /// MAC, upper-case with colons.
    pub mac: &'a str,
    /// E.164 number, if known.
    pub e164: Option<&'a str>,
    /// Reported `device-type`, if known.
    pub model: Option<&'a str>,
    /// Its first group, if any: it beats the others.
    pub group: Option<&'a str>,
    /// Its further groups, in precedence order.
    pub other_groups: &'a [String],
}

impl<'a> DeviceFacts<'a> {
    /// The facts of a stored device record.
    pub fn of(device: &'a crate::model::DeviceRecord) -> Self {
        DeviceFacts {
            mac: &device.mac,
            e164: device.e164.as_deref(),
            model: device.device_type.as_deref(),
            group: device.group.as_deref(),
            other_groups: &device.other_groups,
        }
    }

    /// A device known by its MAC only.
    pub fn mac_only(mac: &'a str) -> Self {
        DeviceFacts { mac, e164: None, model: None, group: None, other_groups: &[] }
    }

    /// Every group the device is in, the winning one first.
    pub fn groups(&self) -> impl DoubleEndedIterator<Item = &'a str> + use<'a> {
        self.group.into_iter().chain(self.other_groups.iter().map(String::as_str))
    }
}

/// Variables by scope, for lookups while rendering.
#[derive(Debug, Clone, Default)]
pub struct Variables {
    by_scope: std::collections::HashMap<Scope, std::collections::BTreeMap<String, Variable>>,
}

impl Variables {
    /// Indexes `variables` (a later one of the same scope and name replaces an earlier one).
    pub fn new(variables: impl IntoIterator<Item = Variable>) -> Self {
        let mut indexed = Variables::default();
        for variable in variables {
            indexed
                .by_scope
                .entry(variable.scope.clone())
                .or_default()
                .insert(variable.name.clone(), variable);
        }
        indexed
    }

    /// The variable `name` at `scope`.
    pub fn get(&self, scope: &Scope, name: &str) -> Option<&Variable> {
        self.by_scope.get(scope).and_then(|names| names.get(name))
    }
}

fn lookup<'v>(
    placeholder: &Placeholder,
    device: &DeviceFacts<'v>,
    variables: &'v Variables,
) -> Result<(Cow<'v, str>, Option<&'v Variable>), String> {
    let fact = |value: Option<&'v str>, missing: &str| match value.map(str::trim) {
        Some(value) if !value.is_empty() => Ok((Cow::Borrowed(value), None)),
        _ => Err(missing.to_owned()),
    };
    let found = |variable: &'v Variable| (Cow::Borrowed(variable.value.as_str()), Some(variable));
    let device_scope = || Scope::Device(device.mac.to_owned());
    match placeholder {
        Placeholder::DeviceE164 => fact(device.e164, "the device has no E.164 number yet"),
        Placeholder::DeviceModel => fact(device.model, "the device has not reported its model yet"),
        Placeholder::DeviceMac => Ok((Cow::Borrowed(device.mac), None)),
        Placeholder::DeviceMacPlain => {
            let plain = device.mac.chars().filter(char::is_ascii_hexdigit).map(|c| c.to_ascii_lowercase());
            Ok((Cow::Owned(plain.collect()), None))
        }
        Placeholder::DeviceVar(name) => variables
            .get(&device_scope(), name)
            .map(found)
            .ok_or_else(|| format!("the device has no variable {name}")),
        Placeholder::GroupVar(name) => {
            if device.group.is_none() {
                return Err(format!("the device is in no group, so {{{{group.var.{name}}}}} has no value"));
            }
            // The first of its groups that sets the variable, as for item values.
            device
                .groups()
                .find_map(|group| variables.get(&Scope::Group(group.to_owned()), name))
                .map(found)
                .ok_or_else(|| {
                    format!("none of the device's groups ({}) has a variable {name}", group_list(device))
                })
        }
        Placeholder::GlobalVar(name) => {
            variables.get(&Scope::Global, name).map(found).ok_or_else(|| format!("no global variable {name}"))
        }
        Placeholder::NearestVar(name) => {
            let groups = device.groups().map(|g| Scope::Group(g.to_owned()));
            std::iter::once(device_scope())
                .chain(groups)
                .chain([Scope::Global])
                .find_map(|scope| variables.get(&scope, name))
                .map(found)
                .ok_or_else(|| format!("no variable {name} for the device, its groups or global"))
        }
    }
}

fn group_list(device: &DeviceFacts<'_>) -> String {
    device.groups().collect::<Vec<_>>().join(", ")
}
