//! `opendls decode` and `opendls catalog`: offline tools for captured messages and item names.

use std::process::ExitCode;

use anyhow::{Result, bail};
use opendls_wpi::catalog::did_you_mean;
use opendls_wpi::catalog::{Access, Provenance};
use opendls_wpi::parse::{parse_dls_message_noted, parse_workpoint_message_noted};
use opendls_wpi::secrets::displayable_value;
use opendls_wpi::{Action, Catalog, Item, ParseError, ParseLimits, Severity, WorkpointMessage, models};

/// Decodes one message; exit code 0 when it parses and no value is refused, 1 otherwise.
pub fn decode(body: &[u8], show_secrets: bool) -> Result<ExitCode> {
    let limits = ParseLimits::default();
    let (summary, items, notes, names_only) = match parse_workpoint_message_noted(body, limits) {
        Ok((message, notes)) => (phone_summary(&message), message.items, notes, false),
        Err(phone_error) => match parse_dls_message_noted(body, limits) {
            Ok((message, notes)) => {
                let summary = format!("service message, nonce {}, action {}", message.nonce, message.action);
                // A ReadItems request names the items it wants; their values are empty (p. 45).
                let names_only = message.action == Action::ReadItems;
                (summary, message.items, notes, names_only)
            }
            Err(service_error) => bail!("{}", not_wpi(&phone_error, &service_error)),
        },
    };
    println!("{summary}");
    if let Some(signature) = &notes.signature {
        println!("signature: {}", signature.describe());
    }
    for deviation in &notes.deviations {
        println!("lenient: {deviation}");
    }
    let count = opendls_engine::plural(items.len(), "item");
    println!("{count}{}", if names_only { " requested (names only)" } else { "" });
    let catalog = Catalog::builtin();
    let mut refused = false;
    for item in &items {
        if names_only {
            let index = item.index.map(|i| format!("[{i}]")).unwrap_or_default();
            println!("  {}{index}", item.name);
            if catalog.get(&item.name).is_none() {
                let suggestion = did_you_mean(&catalog.suggestions(&item.name));
                println!(
                    "      note: not in the catalog{}",
                    suggestion.map(|s| format!("; {s}")).unwrap_or_default()
                );
            }
            continue;
        }
        print_item(item, show_secrets);
        let check = catalog.check(&item.name, item.index, &item.value);
        if !check.is_known() {
            println!("      note: not in the catalog");
        }
        for finding in &check.findings {
            let label = match finding.severity {
                Severity::Refusal => {
                    refused = true;
                    "refused"
                }
                Severity::Warning => "warning",
            };
            println!("      {label}: {}", finding.message);
        }
    }
    Ok(if refused { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

fn phone_summary(message: &WorkpointMessage) -> String {
    let reason = &message.reason;
    let said =
        if reason.reason.as_wire().is_empty() { "(empty)".to_owned() } else { reason.reason.to_string() };
    let mut summary = format!("phone message, nonce {}, reason {said}", message.nonce);
    if let Some(action) = &reason.action {
        summary.push_str(&format!(", answering {action} ({})", reason.effective_status()));
    }
    if let Some(fragment) = &message.fragment {
        summary.push_str(&format!(", fragment {fragment}"));
    }
    if let Some(max) = message.max_items {
        summary.push_str(&format!(", maxItems {max}"));
    }
    if let Some(model) = message.value("device-type").and_then(models::by_device_type) {
        summary.push_str(&format!(", model {} ({})", model.short_name, model.family.label()));
    }
    summary
}

/// Why a body is neither a phone nor a service message, naming both roots when the root is
/// neither, and otherwise the error of the side whose root it has.
fn not_wpi(phone_error: &ParseError, service_error: &ParseError) -> String {
    match (phone_error, service_error) {
        (ParseError::WrongRoot { found, .. }, ParseError::WrongRoot { .. }) => {
            let found = if found.is_empty() { "no element".to_owned() } else { found.clone() };
            format!("not a WPI message: expected root element WorkpointMessage or DLSMessage, found {found}")
        }
        (ParseError::WrongRoot { .. }, error) => format!("not a WPI service message: {error}"),
        (error, ParseError::WrongRoot { .. }) => format!("not a WPI phone message: {error}"),
        (error, _) => format!("not a WPI message: {error}"),
    }
}

fn print_item(item: &Item, show_secrets: bool) {
    let index = item.index.map(|i| format!("[{i}]")).unwrap_or_default();
    let status = item.status.as_ref().map(|s| format!(" ({s})")).unwrap_or_default();
    let value = if show_secrets { &item.value } else { displayable_value(&item.name, &item.value) };
    let value = value.replace('\n', "\\n");
    println!("  {}{index}{status} = {value}", item.name);
}

/// Prints one catalog row in full, or a line for every row whose name contains `text`.
pub fn catalog(text: Option<&str>) -> Result<ExitCode> {
    let catalog = Catalog::builtin();
    if let Some(entry) = text.and_then(|t| catalog.get(t)) {
        println!("{}", entry.name);
        println!("  type:        {}", entry.type_text);
        println!("  values:      {}", entry.values_text);
        println!("  indexed:     {}", entry.index_note);
        println!("  access:      {}", access(entry.access));
        println!("  where:       {}", entry.group);
        println!("  source:      {}", source(&entry.provenance));
        println!("  description: {}", entry.description);
        if entry.name == "device-type" {
            print_models();
        }
        return Ok(ExitCode::SUCCESS);
    }
    // Names are case-sensitive on the phone; looking them up need not be.
    let wanted = text.map(str::to_ascii_lowercase);
    let matching: Vec<_> = catalog
        .entries()
        .iter()
        .filter(|e| wanted.as_deref().is_none_or(|t| e.name.to_ascii_lowercase().contains(t)))
        .collect();
    for entry in &matching {
        println!("{:<40} {:<16} {}", entry.name, entry.type_text, source(&entry.provenance));
    }
    if matching.is_empty() {
        eprintln!("no catalog item contains {:?} (opendls catalog lists them all)", text.unwrap_or_default());
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

/// The known models, with the key modules that fit them (product names; what phones report in
/// `key-modules` is unverified, docs/interop.md).
fn print_models() {
    println!("  models:");
    for model in models::MODELS {
        let modules = if model.key_modules.is_empty() {
            String::new()
        } else {
            format!(" (key modules: {})", model.key_modules.join(", "))
        };
        println!("    {}{modules}", model.device_type());
    }
}

fn access(access: Access) -> &'static str {
    match access {
        Access::ReadOnly => "read-only (reported by the phone)",
        Access::ReadWrite => "read-write",
        Access::WriteOnly => "write-only (sent by the service)",
        Access::Unknown => "not stated",
    }
}

fn source(provenance: &Provenance) -> String {
    match provenance {
        Provenance::Guide(pages) => format!("guide p. {pages}"),
        Provenance::UnifyWiki => "Unify wiki".to_owned(),
        Provenance::Unverified { sources, .. } if sources.len() == 1 => {
            format!("unverified, one source only ({})", sources[0])
        }
        Provenance::Unverified { sources, .. } => format!("unverified ({})", sources.join(", ")),
    }
}
